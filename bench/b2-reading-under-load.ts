// Does the tail count read a migration's harm at its true ratio (issue 3, B2's p99 target)? The
// controller keeps its reading during a step within latencyBudget × the same reading before it,
// so what matters is not the reading's level but whether reading ÷ baseline reading follows
// pgbench's own p99 ÷ its baseline. In B2 (BENCHMARKS.md, session 11) the reading sat at about
// 1.2× while pgbench ran 1.48×. This bench measures the two ratios side by side: pgbench (B2's
// tpcb-like load, 4 clients, scale 10) with the controller's observer at its default interval,
// alone and beside a keyset backfill at fixed settings (batch:pause, each batch an UPDATE that
// copies the old values to a backup table in the same statement, as a data step's batch does),
// in rotated order per repetition. Each point reports:
//   - pgbench's p99 as its clients see it, and as the server sees it (mtime − transaction start
//     of each pgbench_history row, the script writing clock_timestamp(): everything from BEGIN to
//     the last statement before COMMIT), to tell latency the server cannot see from the reading's
//     own error;
//   - the count of transactions seen ending, corrected and plain, over the whole window;
//   - the p99 from the sightings (sightingTailQuantile: every writer in flight at every snapshot)
//     at bands of 1, 2 and 4 ms (the controller reads SIGHTING_BAND_MS, foreground-tail.ts);
//   - the observer's gaps between snapshots (p50/p90): the width of each estimate's error.
// The ratios to the observer-only point of the same repetition are then compared: "read ÷ true"
// is the corrected count's ratio over pgbench's.
//
//   node --import tsx bench/b2-reading-under-load.ts [--backfills 1000:50,10000:200] [--reps 4] [--window 10]
import { sql } from 'kysely';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { collectTailChunks, startForegroundObserver } from '../src/activities/load/foreground-observer';
import { createOwnXids, type OwnXids } from '../src/activities/load/own-xids';
import { addToTail, countedTailQuantile, emptyTail, plainTailQuantile, sightingTailQuantile } from '../src/core/foreground-tail';
import { DEFAULT_LOAD_CONTROL } from '../src/core/load-control-config';
import { type Db, openTargetDatabase } from '../src/db/connect';
import { latencies, pgbenchDatabase, pgEnv, runProcess } from './lib/pgbench';
import { onCleanup, runBench, say } from './lib/stack';
import { fmt, fmtInt, markdownTable, median, percentile, rotated } from './lib/stats';
import { BenchUsageError, wholeNumberOption } from './lib/args';

const CLIENTS = 4;
const SCALE = 10;
const BACKFILL_ROWS = 1_000_000;

/** pgbench's tpcb-like, but the history row's mtime is the moment of its INSERT, and `started` (a column this bench adds) the transaction's start. */
const SCRIPT = `\\set aid random(1, 100000 * :scale)
\\set bid random(1, 1 * :scale)
\\set tid random(1, 10 * :scale)
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, clock_timestamp());
END;
`;

interface Backfill {
  batch: number;
  pauseMs: number;
}

type Mode = 'observer' | Backfill;
const name = (m: Mode) => (m === 'observer' ? `observer ${DEFAULT_LOAD_CONTROL.foregroundIntervalMs} ms alone` : `+ backfill ${m.batch}×${m.pauseMs}ms`);

interface PointResult {
  mode: Mode;
  rep: number;
  clientP99: number;
  serverP99: number;
  tailP99: number;
  plainP99: number;
  gapP50: number;
  gapP90: number;
  rowsPerSecond: number;
  /** sightingTailQuantile over the window, for each of SIGHTING_BANDS_MS. */
  sightingP99s: number[];
}

/** The band widths (ms) sightingTailQuantile is tried with. */
const SIGHTING_BANDS_MS = [1, 2, 4];

/** Batches of the backfill, until `to`: each one xid (spent before it runs, as a slice does), keyset on id, wrapping around. */
async function runBackfill(db: Db, backfill: Backfill, to: number, ownXids: OwnXids): Promise<number> {
  let cursor = 0;
  let rows = 0;
  while (Date.now() < to) {
    ownXids.spend(1);
    const { rows: changed } = await sql<{ n: number }>`
      WITH changed AS (UPDATE backfill b SET v = b.v + 1 WHERE b.id > ${cursor} AND b.id <= ${cursor + backfill.batch} RETURNING b.id, b.v - 1 AS old_v),
           kept AS (INSERT INTO backfill_backup SELECT id, old_v FROM changed ON CONFLICT (id) DO NOTHING RETURNING 1)
      SELECT (SELECT count(*) FROM changed)::int AS n`.execute(db);
    rows += changed[0]!.n;
    cursor = cursor + backfill.batch >= BACKFILL_ROWS ? 0 : cursor + backfill.batch;
    if (backfill.pauseMs > 0) await new Promise((r) => setTimeout(r, backfill.pauseMs));
  }
  return rows;
}

function parseBackfills(text: string): Backfill[] {
  const list = text.split(',').filter(Boolean).map((s) => {
    const [batch, pauseMs] = s.split(':').map(Number);
    return { batch: batch!, pauseMs: pauseMs! };
  });
  if (list.length === 0 || list.some((b) => !Number.isInteger(b.batch) || b.batch < 1 || !Number.isInteger(b.pauseMs) || b.pauseMs < 0)) {
    throw new BenchUsageError(`--backfills: batch:pauseMs pairs, e.g. 1000:50,10000:200; got "${text}"`);
  }
  return list;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { backfills: { type: 'string', default: '1000:50,10000:200' }, reps: { type: 'string', default: '4' }, window: { type: 'string', default: '10' } } });
  const backfills = parseBackfills(values.backfills);
  const reps = wholeNumberOption('reps', values.reps);
  const windowS = wholeNumberOption('window', values.window);

  const { url, work, machine } = await pgbenchDatabase('bench_reading_load', SCALE);
  const scriptFile = path.join(work, 'foreground.sql');
  await fsp.writeFile(scriptFile, SCRIPT);
  // The worker's application name: the observer leaves the backfill's sessions out, as it does a slice's.
  const target = openTargetDatabase(url, { applicationName: 'stockrx-migrate worker' });
  onCleanup(() => target.close());
  const db = target.db;
  await sql`ALTER TABLE pgbench_history ADD COLUMN started timestamptz DEFAULT now()`.execute(db);
  await sql`CREATE TABLE backfill (id int PRIMARY KEY, v int NOT NULL)`.execute(db);
  await sql`INSERT INTO backfill SELECT g, 0 FROM generate_series(1, ${BACKFILL_ROWS}) g`.execute(db);
  await sql`CREATE TABLE backfill_backup (id int PRIMARY KEY, v int NOT NULL)`.execute(db);
  await sql`VACUUM ANALYZE backfill`.execute(db);

  const modes: Mode[] = ['observer', ...backfills];
  const results: PointResult[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const mode of rotated(modes, rep)) {
      await sql`TRUNCATE pgbench_history, backfill_backup`.execute(db);
      await sql`CHECKPOINT`.execute(db);
      const prefix = `load-${rep}-${Date.now()}`;
      const from = Date.now() + 2000; // pgbench's connections and the backfill's first batches left out
      const to = from + windowS * 1000;
      const run = runProcess('pgbench', ['-n', '-c', String(CLIENTS), '-j', '2', '-T', String(windowS + 2), '-f', scriptFile, '-D', `scale=${SCALE}`, '-l', '--log-prefix', prefix], pgEnv(url), work);
      const ownXids = createOwnXids();
      const backfilling = mode === 'observer' ? Promise.resolve(0) : db.connection().execute((conn) => runBackfill(conn, mode, to, ownXids));
      const reading = await db.connection().execute(async (conn) => {
        const observer = startForegroundObserver(conn, { intervalMs: DEFAULT_LOAD_CONTROL.foregroundIntervalMs, quietAfterMs: 0, ownXids });
        await new Promise((r) => setTimeout(r, from - Date.now()));
        observer.drainTail(); // what came before the window
        const collector = collectTailChunks(observer);
        await new Promise((r) => setTimeout(r, to - Date.now()));
        collector.stop();
        await observer.stop();
        const chunks = collector.chunks() ?? [];
        const all = chunks.reduce((w, c) => addToTail(w, c.count, c.durations, 1e9, c.spread, c.sightings), emptyTail());
        const seen = all.sightings!;
        const sightingP99s = SIGHTING_BANDS_MS.map((band) => sightingTailQuantile(seen.agesMs, all.count, seen.spanMs / seen.snapshots, band));
        return { tailP99: countedTailQuantile(all), plainP99: plainTailQuantile(all), gaps: collector.gapsMs(), sightingP99s };
      });
      const rows = await backfilling;
      await run;
      const lat = await latencies(work, prefix, from, to);
      for (const f of await fsp.readdir(work)) if (f.startsWith(prefix)) await fsp.rm(path.join(work, f));
      const { rows: server } = await sql<{ p99: number | null }>`
        SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM mtime - started) * 1000)::float8 AS p99
          FROM pgbench_history WHERE mtime BETWEEN to_timestamp(${from / 1000}) AND to_timestamp(${to / 1000})`.execute(db);
      const r: PointResult = {
        mode, rep,
        clientP99: percentile(lat, 99), serverP99: server[0]!.p99 ?? Number.NaN,
        tailP99: reading.tailP99, plainP99: reading.plainP99,
        gapP50: percentile(reading.gaps, 50), gapP90: percentile(reading.gaps, 90),
        // The backfill ran from before `from` to `to`: its rate over all of that.
        rowsPerSecond: rows / (windowS + 2),
        sightingP99s: reading.sightingP99s,
      };
      results.push(r);
      say(`rep ${rep + 1}/${reps} ${name(mode).padEnd(24)} pgbench p99 ${fmt(r.clientP99, 2)} ms (server ${fmt(r.serverP99, 2)}), tail count ${fmt(r.tailP99, 2)} (plain ${fmt(r.plainP99, 2)}), gaps p50/p90 ${fmt(r.gapP50, 1)}/${fmt(r.gapP90, 1)} ms, sightings ${r.sightingP99s.map((v) => fmt(v, 2)).join('/')}, ${fmtInt(r.rowsPerSecond)} rows/s, ${fmtInt(lat.length / windowS)} tps`);
    }
  }

  const of = (m: Mode) => results.filter((r) => r.mode === m);
  const med = (m: Mode, f: (r: PointResult) => number) => median(of(m).map(f));
  // Each point's ratio to the observer-only point of its own repetition, then the median.
  const baseOf = (r: PointResult) => results.find((b) => b.mode === 'observer' && b.rep === r.rep)!;
  const ratio = (m: Mode, f: (r: PointResult) => number) => median(of(m).map((r) => f(r) / f(baseOf(r))));
  const levels = modes.map((m) => [name(m), fmtInt(med(m, (r) => r.rowsPerSecond)), fmt(med(m, (r) => r.clientP99), 2), fmt(med(m, (r) => r.serverP99), 2), fmt(med(m, (r) => r.tailP99), 2), fmt(med(m, (r) => r.plainP99), 2), `${fmt(med(m, (r) => r.gapP50), 1)}/${fmt(med(m, (r) => r.gapP90), 1)}`, ...SIGHTING_BANDS_MS.map((_, i) => fmt(med(m, (r) => r.sightingP99s[i]!), 2))]);
  const ratios = backfills.map((m) => [
    name(m),
    fmt(ratio(m, (r) => r.clientP99), 2),
    fmt(ratio(m, (r) => r.serverP99), 2),
    fmt(ratio(m, (r) => r.tailP99), 2),
    fmt(ratio(m, (r) => r.plainP99), 2),
    fmt(ratio(m, (r) => r.gapP50), 2),
    fmt(median(of(m).map((r) => r.tailP99 / baseOf(r).tailP99 / (r.clientP99 / baseOf(r).clientP99))), 2),
    ...SIGHTING_BANDS_MS.flatMap((_, i) => [
      fmt(ratio(m, (r) => r.sightingP99s[i]!), 2),
      fmt(median(of(m).map((r) => r.sightingP99s[i]! / baseOf(r).sightingP99s[i]! / (r.clientP99 / baseOf(r).clientP99))), 2),
    ]),
  ]);
  console.log(`\nThe reading under load: pgbench tpcb-like (mtime = clock_timestamp()), ${CLIENTS} clients, scale ${SCALE}; observer every ${DEFAULT_LOAD_CONTROL.foregroundIntervalMs} ms; window ${windowS} s; ${reps} reps (medians)\n${machine}\n`);
  console.log(markdownTable(['point', 'backfill rows/s', 'pgbench p99 ms', 'server-side p99 ms', 'tail count p99 ms', 'plain', 'gap p50/p90 ms', ...SIGHTING_BANDS_MS.map((b) => `sightings ${b} ms band p99 ms`)], levels));
  console.log('\nRatios to the observer-only point of the same repetition (medians):\n');
  console.log(markdownTable(['point', 'pgbench p99 ×', 'server-side p99 ×', 'tail count ×', 'plain ×', 'gap p50 ×', 'read ÷ true', ...SIGHTING_BANDS_MS.flatMap((b) => [`sightings ${b} ms ×`, 'its read ÷ true'])], ratios));
  return 0;
}

runBench(main);
