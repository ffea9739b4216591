// What watching the foreground costs the foreground (issue 3, B2's reading): B2's pgbench workload
// (tpcb-like, 4 clients, scale 10) alone and beside the controller's foreground observer
// (foreground-observer.ts, one pg_stat_activity snapshot every N ms on its own connection),
// interleaved in rotated order per repetition, medians reported as ratios to "alone". A finer
// interval resolves the foreground's tail better (BENCHMARKS.md, session 9) but polls the server
// more often; on B2's two shared cores that is not free.
//
//   node --import tsx bench/b2-observer-cost.ts [--intervals 5,20] [--reps 3] [--window 10]
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startForegroundObserver } from '../src/activities/load/foreground-observer';
import { openTargetDatabase } from '../src/db/connect';
import { latencies, pgEnv, runProcess } from './lib/pgbench';
import { describeMachine, onCleanup, recreateDatabase, runBench, say, startPostgres } from './lib/stack';
import { fmt, markdownTable, median, percentile, rotated } from './lib/stats';

const CLIENTS = 4;
const SCALE = 10;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      intervals: { type: 'string', default: '5,20' },
      reps: { type: 'string', default: '3' },
      window: { type: 'string', default: '10' },
    },
  });
  const intervals = values.intervals.split(',').filter(Boolean).map(Number);
  if (intervals.length === 0 || intervals.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--intervals: whole milliseconds, e.g. 5,20; got "${values.intervals}"`);
  const reps = Number(values.reps);
  const windowS = Number(values.window);
  if (!(Number.isInteger(reps) && reps >= 1 && windowS >= 1)) throw new Error('--reps must be a whole number ≥ 1 and --window at least 1 (seconds)');

  const server = await startPostgres();
  const machine = await describeMachine(server.adminUrl);
  say(machine);
  const url = await recreateDatabase(server.adminUrl, 'bench_observer_cost');
  await runProcess('pgbench', ['-i', '-q', '-s', String(SCALE)], pgEnv(url));
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'stockrx-observer-cost-'));
  onCleanup(() => fsp.rm(work, { recursive: true, force: true }));
  const target = openTargetDatabase(url, { applicationName: 'stockrx-migrate worker' });
  onCleanup(() => target.close());

  type Mode = 'alone' | number;
  const modes: Mode[] = ['alone', ...intervals];
  const name = (m: Mode) => (m === 'alone' ? 'pgbench alone' : `observer every ${m} ms`);
  const results: { mode: Mode; mean: number; p99: number; tps: number; observed: number }[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const mode of rotated(modes, rep)) {
      const prefix = `cost-${rep}-${mode}-${Date.now()}`;
      const from = Date.now() + 1000; // pgbench's first second (connections) left out
      const to = from + windowS * 1000;
      const run = runProcess('pgbench', ['-n', '-c', String(CLIENTS), '-j', '2', '-T', String(windowS + 1), '-l', '--log-prefix', prefix], pgEnv(url), work);
      let observed = 0;
      if (mode !== 'alone') {
        await target.db.connection().execute(async (conn) => {
          const observer = startForegroundObserver(conn, { intervalMs: mode, quietAfterMs: 0 });
          await new Promise((r) => setTimeout(r, to - Date.now()));
          await observer.stop();
          observed = observer.drain().samples.length;
        });
      }
      await run;
      const lat = await latencies(work, prefix, from, to);
      for (const f of await fsp.readdir(work)) if (f.startsWith(prefix)) await fsp.rm(path.join(work, f));
      const mean = lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length);
      results.push({ mode, mean, p99: percentile(lat, 99), tps: lat.length / windowS, observed });
      say(`rep ${rep + 1}/${reps} ${name(mode).padEnd(22)} mean ${fmt(mean, 3)} ms p99 ${fmt(percentile(lat, 99), 2)} ms ${fmt(lat.length / windowS, 0)} tps${mode === 'alone' ? '' : `, ${observed} transactions observed`}`);
    }
  }
  const med = (m: Mode, f: (r: (typeof results)[number]) => number) => median(results.filter((r) => r.mode === m).map(f));
  const rows = modes.map((m) => [
    name(m),
    fmt(med(m, (r) => r.tps), 0),
    fmt(med(m, (r) => r.mean), 3),
    fmt(med(m, (r) => r.mean) / med('alone', (r) => r.mean), 2),
    fmt(med(m, (r) => r.p99), 2),
    fmt(med(m, (r) => r.p99) / med('alone', (r) => r.p99), 2),
    results.filter((r) => r.mode === m).map((r) => `${fmt(r.mean, 2)}/${fmt(r.p99, 1)}`).join(' '),
  ]);
  console.log(`\nObserver cost: pgbench tpcb-like, ${CLIENTS} clients, scale ${SCALE}; window ${windowS} s; ${reps} reps (medians)\n${machine}\n`);
  console.log(markdownTable(['point', 'fg tps', 'mean ms', 'mean × alone', 'p99 ms', 'p99 × alone', 'each rep mean/p99'], rows));
  return 0;
}

runBench(main);
