// What watching the foreground costs the foreground (issue 3, B2's reading): B2's pgbench workload
// (tpcb-like, 4 clients, scale 10) alone and beside the controller's foreground observer
// (foreground-observer.ts, one pg_stat_activity snapshot every N ms on its own connection),
// interleaved in rotated order per repetition, medians reported as ratios to "alone". A finer
// interval resolves the foreground's tail better (BENCHMARKS.md, session 9) but polls the server
// more often; on B2's two shared cores that is not free. With --canary on, three more points: the
// canary alone (a committing lookup every canaryIntervalMs, canary-sampler.ts), the canary with
// the observer at the default interval (every instrument a step runs while it measures its
// baseline), and the canary at its backstop interval with the observer (what a step whose tail
// count governs runs beside its batches: canary-pace.ts).
//
// --foreground b2: B2's own script instead (tpcb-like plus a read and an update of a random row of an
// inventories table of --inventory-rows rows), whose transactions are longer.
//
// --lead-ins count,prepare,canary (with --foreground b2): one more point each, whose window (the
// observer alone at the controller's interval, as while a step measures its tail baseline) starts
// right after what comes before that baseline in a data step: `count`, a count(*) of the
// inventories table; `prepare`, a transaction shaped like prepare-data-step.ts's (a backup table
// created, the last key read, the rows counted); `canary`, the canary's baseline (300 committing
// lookups 15 ms apart) with the observer running. Beside "observer every N ms" they tell whether
// any of them leaves a wake in the stretch the tail baseline reads. --intervals '' leaves out the
// observer-alone points.
//
//   node --import tsx bench/b2-observer-cost.ts [--intervals 5,20] [--reps 3] [--window 10] [--canary on|off] [--foreground tpcb|b2] [--inventory-rows 1000000] [--lead-ins count,prepare,canary]
import fsp from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { withDedicatedCanary } from '../src/activities/load/canary';
import { startCanarySampler } from '../src/activities/load/canary-sampler';
import { baselineSamples } from '../src/activities/data/run-data-slice';
import { collectTailChunks, startForegroundObserver } from '../src/activities/load/foreground-observer';
import { createOwnXids } from '../src/activities/load/own-xids';
import { canaryIntervalFor } from '../src/core/canary-pace';
import { addToTail, emptyTail, plainTailQuantile, tailKeep, tailQuantile, tailReadable, tailWindowsOf } from '../src/core/foreground-tail';
import { foregroundTailWindowSize } from '../src/core/load-controller';
import { DEFAULT_LOAD_CONTROL } from '../src/core/load-control-config';
import { type Db } from '../src/db/connect';
import { openTargetDatabase } from '../src/db/connect';
import { inventoryForegroundScript, resetInventories, TABLE } from './lib/inventories';
import { latencies, pgbenchDatabase, pgEnv, runProcess } from './lib/pgbench';
import { onCleanup, runBench, say } from './lib/stack';
import { fmt, markdownTable, median, percentile, rotated } from './lib/stats';
import { BenchUsageError, oneOfOption, wholeNumberListOption, wholeNumberOption } from './lib/args';

const CLIENTS = 4;
const SCALE = 10;
/** Seconds pgbench runs longer in a lead-in point (a 6M-row count takes ~1 s here, the canary's baseline ~5 s). */
const LEAD_IN_ALLOWANCE_S = 10;
const LEAD_INS = ['count', 'prepare', 'canary'] as const;
type LeadIn = (typeof LEAD_INS)[number];
/** The `prepare` lead-in's stand-in for a backup table (dropped after its point). */
const SCRATCH = 'stockrx_bench_scratch';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      intervals: { type: 'string', default: '5,20' },
      reps: { type: 'string', default: '3' },
      window: { type: 'string', default: '10' },
      canary: { type: 'string', default: 'on' },
      foreground: { type: 'string', default: 'tpcb' },
      'inventory-rows': { type: 'string', default: '1000000' },
      'lead-ins': { type: 'string', default: '' },
    },
  });
  oneOfOption('foreground', values.foreground, ['tpcb', 'b2']);
  const inventoryRows = wholeNumberOption('inventory-rows', values['inventory-rows']);
  const leadIns = values['lead-ins'].split(',').filter(Boolean);
  const unknownLeadIn = leadIns.find((l) => !LEAD_INS.includes(l as LeadIn));
  if (unknownLeadIn !== undefined) throw new BenchUsageError(`--lead-ins: some of ${LEAD_INS.join(', ')}; got "${unknownLeadIn}"`);
  if (leadIns.length > 0 && values.foreground !== 'b2') throw new BenchUsageError('--lead-ins needs --foreground b2 (they read the inventories table)');
  const intervals = wholeNumberListOption('intervals', values.intervals);
  const reps = wholeNumberOption('reps', values.reps);
  const windowS = wholeNumberOption('window', values.window);

  const { url, work, machine } = await pgbenchDatabase('bench_observer_cost', SCALE);
  // pgbench's arguments for the foreground: its built-in tpcb-like, or B2's script.
  const foregroundArgs: string[] = [];
  if (values.foreground === 'b2') {
    await resetInventories(url, inventoryRows);
    const scriptFile = path.join(work, 'foreground.sql');
    await fsp.writeFile(scriptFile, inventoryForegroundScript(inventoryRows));
    foregroundArgs.push('-f', scriptFile, '-D', `scale=${SCALE}`);
  }
  const target = openTargetDatabase(url, { applicationName: 'stockrx-migrate worker' });
  onCleanup(() => target.close());

  // A number: the observer alone at that interval.
  // 'backstop+observer': the canary at its interval while the tail count governs (canary-pace.ts)
  // beside the observer: what a step's instruments cost once its baseline is measured.
  // { leadIn }: the observer alone at foregroundIntervalMs over a window that starts when the lead-in has ended.
  type Mode = 'alone' | number | 'canary' | 'canary+observer' | 'backstop+observer' | { leadIn: LeadIn };
  const modes: Mode[] = [
    'alone',
    ...intervals,
    ...(values.canary === 'off' ? [] : (['canary', 'canary+observer', 'backstop+observer'] as const)),
    ...leadIns.map((l) => ({ leadIn: l as LeadIn })),
  ];
  const { canaryIntervalMs, foregroundIntervalMs } = DEFAULT_LOAD_CONTROL;
  const backstopIntervalMs = canaryIntervalFor({ foregroundTailBaselineMs: 1 }, DEFAULT_LOAD_CONTROL);
  const names: Record<Exclude<Mode, number | { leadIn: LeadIn }>, string> = {
    alone: 'pgbench alone',
    canary: `canary every ${canaryIntervalMs} ms`,
    'canary+observer': `canary + observer ${foregroundIntervalMs} ms`,
    'backstop+observer': `canary ${backstopIntervalMs} ms + observer ${foregroundIntervalMs} ms`,
  };
  const name = (m: Mode) => (typeof m === 'number' ? `observer every ${m} ms` : typeof m === 'object' ? `${m.leadIn}, then observer ${foregroundIntervalMs} ms` : names[m]);
  const { canaryWindow } = DEFAULT_LOAD_CONTROL;
  // What runs before a lead-in point's window, as a data step runs it before its tail baseline.
  const leadIn = async (l: LeadIn): Promise<void> => {
    if (l === 'count') {
      await sql.raw(`SELECT count(*) FROM ${TABLE}`).execute(target.db);
    } else if (l === 'prepare') {
      await target.db.transaction().execute(async (trx) => {
        await sql.raw(`CREATE TABLE ${SCRATCH} AS SELECT id, price FROM ${TABLE} WITH NO DATA`).execute(trx);
        await sql.raw(`SELECT id FROM ${TABLE} ORDER BY id DESC LIMIT 1`).execute(trx);
        await sql.raw(`SELECT count(*) FROM ${TABLE}`).execute(trx);
      });
    } else {
      await withDedicatedCanary(target.db, { schema: 'public', name: TABLE }, 'id', (canary) => canary.baseline(baselineSamples({ canaryWindow }), { intervalMs: canaryIntervalMs, window: canaryWindow }), { commits: true, ownXids: createOwnXids() });
    }
  };
  /**
   * Runs the mode's instruments until `to`; returns the transactions the observer saw, its
   * reading of the p99 over the whole window (the sightings', and the uncorrected count's), and the p99s of the controller's windows of writers
   * (foregroundTailWindowSize at the mode's poll gap, drained every 100 ms as the slice drains them): how much the reading
   * varies from window to window with nothing changing. NaN and [] when not observing.
   */
  const instruments = async (mode: Mode, window: { from: number; to: number }): Promise<{ observed: number; tailP99: number; plainP99: number; windowP99s: number[] }> => {
    const observe = mode === 'canary+observer' || mode === 'backstop+observer' || typeof mode === 'object' ? foregroundIntervalMs : typeof mode === 'number' ? mode : 0;
    const withCanary = mode === 'canary' || mode === 'canary+observer' || mode === 'backstop+observer';
    const ownXids = createOwnXids();
    const watch = (conn: Db) => (observe > 0 ? startForegroundObserver(conn, { intervalMs: observe, quietAfterMs: 0, ownXids }) : null);
    return target.db.connection().execute(async (conn) => {
      const observer = watch(conn);
      if (typeof mode === 'object') {
        // The observer runs through the lead-in, as it does in a step; only the window is read.
        await leadIn(mode.leadIn);
        window.from = Date.now();
        window.to = window.from + windowS * 1000;
        // Nor is what the observer saw during it (the lead-in's own long transaction among it).
        observer?.drain();
        observer?.drainTail();
      }
      const to = window.to;
      const collector = observer ? collectTailChunks(observer) : null;
      if (withCanary) {
        await withDedicatedCanary(target.db, { schema: 'public', name: 'pgbench_accounts' }, 'aid', async (canary) => {
          const sampler = startCanarySampler(canary, { intervalMs: mode === 'backstop+observer' ? backstopIntervalMs : canaryIntervalMs, quietAfterMs: 0 });
          await new Promise((r) => setTimeout(r, to - Date.now()));
          await sampler.stop();
        }, { commits: true, ownXids });
      } else {
        await new Promise((r) => setTimeout(r, to - Date.now()));
      }
      collector?.stop();
      await observer?.stop();
      const chunks = collector?.chunks() ?? [];
      const all = chunks.reduce((w, c) => addToTail(w, c.count, c.durations, 1e9, c.spread, c.sightings), emptyTail());
      const tailP99 = observer ? tailQuantile(all) : Number.NaN;
      const plainP99 = observer ? plainTailQuantile(all) : Number.NaN;
      // The window the controller would use at this mode's gap (it widens with the gap).
      const windowSize = foregroundTailWindowSize({ ...DEFAULT_LOAD_CONTROL, foregroundIntervalMs: observe > 0 ? observe : DEFAULT_LOAD_CONTROL.foregroundIntervalMs });
      const windowP99s = tailWindowsOf(chunks, windowSize).filter((w) => tailReadable(w, tailKeep(windowSize))).map((w) => tailQuantile(w));
      return { observed: observer?.drain().samples.length ?? 0, tailP99, plainP99, windowP99s };
    });
  };
  const results: { mode: Mode; mean: number; p99: number; tps: number; observed: number; tailP99: number; plainP99: number; windowP99s: number[] }[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const mode of rotated(modes, rep)) {
      const prefix = `cost-${rep}-${name(mode).replace(/[^a-z0-9]+/gi, '_')}-${Date.now()}`;
      const leads = typeof mode === 'object';
      const started = Date.now();
      // A lead-in gets pgbench's first second to itself and as long as it takes, up to LEAD_IN_ALLOWANCE_S.
      const run = runProcess('pgbench', ['-n', '-c', String(CLIENTS), '-j', '2', '-T', String(windowS + 1 + (leads ? LEAD_IN_ALLOWANCE_S : 0)), ...foregroundArgs, '-l', '--log-prefix', prefix], pgEnv(url), work);
      if (leads) await new Promise((r) => setTimeout(r, 1000));
      // pgbench's first second (connections) left out; a lead-in point moves the window past its lead-in.
      const window = { from: Date.now() + 1000, to: Date.now() + 1000 + windowS * 1000 };
      const { observed, tailP99, plainP99, windowP99s } = mode === 'alone' ? { observed: 0, tailP99: Number.NaN, plainP99: Number.NaN, windowP99s: [] } : await instruments(mode, window);
      const { from, to } = window;
      if (leads && to > started + (windowS + 1 + LEAD_IN_ALLOWANCE_S) * 1000) throw new Error(`${name(mode)}: the lead-in took longer than ${LEAD_IN_ALLOWANCE_S} s; the window outlasted pgbench`);
      await run;
      if (typeof mode === 'object' && mode.leadIn === 'prepare') await sql.raw(`DROP TABLE IF EXISTS ${SCRATCH}`).execute(target.db);
      const lat = await latencies(work, prefix, from, to);
      for (const f of await fsp.readdir(work)) if (f.startsWith(prefix)) await fsp.rm(path.join(work, f));
      const mean = lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length);
      results.push({ mode, mean, p99: percentile(lat, 99), tps: lat.length / windowS, observed, tailP99, plainP99, windowP99s });
      say(`rep ${rep + 1}/${reps} ${name(mode).padEnd(26)} mean ${fmt(mean, 3)} ms p99 ${fmt(percentile(lat, 99), 2)} ms ${fmt(lat.length / windowS, 0)} tps${observed > 0 ? `, ${observed} transactions observed, reading p99 ${fmt(tailP99, 2)} ms (count of those seen ending, uncorrected: ${fmt(plainP99, 2)})` : ''}`);
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
    fmt(med(m, (r) => r.tailP99), 2),
    fmt(med(m, (r) => r.plainP99), 2),
    fmt(median(results.filter((r) => r.mode === m).map((r) => r.tailP99 / r.p99)), 2),
    windowSpread(results.filter((r) => r.mode === m).flatMap((r) => r.windowP99s.map((v) => v / r.tailP99))),
    results.filter((r) => r.mode === m).map((r) => `${fmt(r.mean, 2)}/${fmt(r.p99, 1)}`).join(' '),
  ]);
  console.log(`\nObserver cost: ${values.foreground === 'b2' ? `B2's script (tpcb-like + a ${inventoryRows}-row inventories table)` : 'pgbench tpcb-like'}, ${CLIENTS} clients, scale ${SCALE}; window ${windowS} s; ${reps} reps (medians)\n${machine}\n`);
  console.log(markdownTable(['point', 'fg tps', 'mean ms', 'mean × alone', 'p99 ms', 'p99 × alone', 'reading p99 ms (sightings)', 'uncorrected count', 'reading ÷ pgbench p99', 'window p99 ÷ point p99: p10/p50/p90 (n)', 'each rep mean/p99'], rows));
  return 0;
}

/** p10/p50/p90 of the controller's window p99s, each relative to its point's whole-window p99. */
function windowSpread(ratios: number[]): string {
  if (ratios.length === 0) return 'n/a';
  return `${fmt(percentile(ratios, 10), 2)}/${fmt(percentile(ratios, 50), 2)}/${fmt(percentile(ratios, 90), 2)} (${ratios.length})`;
}

runBench(main);
