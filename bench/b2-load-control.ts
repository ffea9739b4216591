// B2 load-control efficacy (issue 3, item 8). A write-heavy foreground workload, pgbench with a
// tpcb-like script extended to read and update a random row of the migrated table (4 clients,
// scale 10), is measured:
//   baseline   alone;
//   fixed      beside the migration at each fixed setting of a sweep, batch × pause
//              (300/1000/3000/10000 rows × 0/10/50/200 ms), pinned (min = max) with the critical
//              pauses disabled, so the setting really is fixed;
//   adaptive   beside the migration with the controller's defaults (no tuning at all).
// Each point reports the foreground's p50/p99 transaction latency and the migration's rows/s over
// the same window. The ORACLE is the fixed setting with the highest rows/s whose p99 stays within
// 1.5× the baseline's; targets: adaptive p99 ≤ 1.5× baseline and rows/s ≥ 0.8× the oracle's.
// Points are repeated (order shuffled per repetition) and medians reported.
//
// The migration is the framework's own data step: a migration file planned as `up` plans it, and
// the worker's activities (journalStart, prepareDataStep, runDataSlice with the real load source,
// canary and controller) driven in this process, so a point can start and stop on time; Temporal's
// part, one activity round trip per slice, does not take part in load control.
//
//   node --import tsx bench/b2-load-control.ts [--reps 3] [--window 10] [--warmup 5] [--adaptive-warmup 20] [--first-warmup 60] [--rows 2000000]
//        [--batches 300,1000,3000,10000] [--pauses 0,10,50,200] [--fixed-canary on|off]
//        [--canary-intervals 15[,45…]] [--canary-windows 100[,300…]] [--observe on|off] [--observe-intervals 20[,5…]] [--early-baseline on|off] [--shapes BxP,…]
//        [--adaptive-targets 0.8[,0.93…]] [--adaptive-min-gains 2[,1…]] [--adaptive-rise-fractions 0[,0.5…]] [--fixed-start late|same] [--settle reinit|vacuum] [--judge rep|pooled] [--json FILE]
// --settle reinit (default): settle() also re-creates pgbench's tables (pgbench -i) before every
// point; vacuum: VACUUM and CHECKPOINT only, as until session 21.
// --judge rep (default): a point's p99 ratio is the median over repetitions of its p99 ÷ that
// repetition's baseline p99, and the oracle and targets use it; pooled: median p99 ÷ median
// baseline p99, as until session 21. The table shows both.
// A point whose step updates every row inside its window is marked "ran out" (rows/s a lower bound).
// Every point's window starts equally long after its settle() (the previous point's backup tables
// dropped, VACUUM, CHECKPOINT): the adaptive point's lead, its warm-ups and the longest its
// pre-step baselines take. The foreground alone drifts after settle(): over the same windows
// pgbench's p99 read 1.06–1.51× (median 1.12×) later than 5 s in (BENCHMARKS.md, session 15), so a
// baseline measured early (as until session 15: its window right after --warmup, the fixed points'
// after their own shorter lead) reads the ratios of later windows high. A fixed point's step starts
// later, so that its baselines and --warmup end where its window starts (and it does not run out
// of --rows); the adaptive point's starts --warmup seconds in.
// --fixed-start same: a fixed point's step starts when the adaptive point's does (--warmup seconds
// in), so at a long --adaptive-warmup both have written for as long before their windows (a
// step's WAL, checkpoints and dead rows weigh on the foreground after its batches: at a 235 s lead
// the adaptive step's quiet stretches read up to 1.5× its pre-step baseline). Refused up front when
// a fixed setting could run out of --rows before its window ends.
// --shapes 300x57,1000x193,…: the fixed points are these batch × pause (ms) settings instead of the
// --batches × --pauses grid (e.g. shapes of equal rows/s: which one costs the foreground least).
// --adaptive-targets 0.8,…: one more adaptive point per value, run with that latencyTarget (the
// default point runs the product's default), each judged against the same oracle.
// --adaptive-rise-fractions 0,…: one more adaptive point per value, run with that
// baselineRiseSleepFraction (0: any quiet window may raise a baseline, the rule until session 20).
// --adaptive-min-gains 2,…: one more adaptive point per value, run with that minRateGain (2: the
// rate law's full gain throughout, as before rate-gain.ts), each judged against the same oracle.
// --early-baseline on: one more point, "baseline, early", the foreground alone with its window
// right after --warmup (the protocol until session 15), and the targets also read against it.
// --observe on: every point (the baseline too) also reads the foreground's transactions from
// pg_stat_activity over its window, as the controller does (foreground-observer.ts), and the
// table shows that reading's p99 against the baseline point's beside pgbench's own ratio, and the
// controller's own view of it: the median over the point of each window's (foregroundWindowSize
// transactions) p99 and p95 against the baseline point's, and the share of those windows that
// read over the budget. --observe-intervals compares snapshot intervals within each point (one poll
// at the finest, the coarser streams subsampled from it: multi-interval-observer.ts), and the last
// columns count the foreground's tail at the finest interval against pgbench's own transaction
// count (tailCountQuantile): a server-side p99 free of the samples' length bias.
// With several canary intervals (canaryIntervalMs) or windows (canaryWindow), the adaptive point
// and the fixed sweep run with each combination, and each gets its own oracle: the canary's cost
// is part of every point.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createActivities } from '../src/activities/create-activities';
import { preStepBaselineMaxMs } from '../src/activities/data/run-data-slice';
import { createMigrationRegistry } from '../src/activities/migration-registry';
import { loadMigrations } from '../src/client/load-migrations';
import { type DataStep, isDataStep, isStepFinished } from '../src/core/data-plan';
import { DEFAULT_LOAD_CONTROL, LATENCY_TARGET_RANGE, resolveLoadControl } from '../src/core/load-control-config';
import { MIN_RATE_GAIN_RANGE } from '../src/core/rate-gain';
import { canaryP99, type ControllerState, FOREGROUND_QUANTILE, foregroundReading, foregroundWindowSize, initialControllerState, quantile, windowsOf } from '../src/core/load-controller';
import { DEFAULT_RUN_OPTIONS } from '../src/core/run-options';
import { openTargetDatabase } from '../src/db/connect';
import { createLogger } from '../src/logging/logger';
import { BenchUsageError, oneOfOption, wholeNumberListOption, wholeNumberOption } from './lib/args';
import { benchMigrationsDir, migrationId } from './lib/framework';
import { intervalsProblem, startMultiIntervalObserver, tailCountQuantile } from './lib/multi-interval-observer';
import { inventoryForegroundScript, NO_CRITICAL_PAUSE, resetInventories, TABLE, withClient } from './lib/inventories';
import { describeMachine, loadAverage, onCleanup, recreateDatabase, runBench, say, startPostgres } from './lib/stack';
import { latencies, type LoggedTransaction, loggedTransactions, pgEnv, runProcess } from './lib/pgbench';
import { fmt, fmtInt, markdownTable, median, percentile } from './lib/stats';

const CLIENTS = 4;
const SCALE = 10;
const BUDGET = 1.5;
/** Slices of 2 s instead of 5 s so a point can stop soon after its window (state carries over as in a real run). */
const SLICE_MS = 2000;


/** How a point's canary runs: canaryIntervalMs and canaryWindow. */
interface CanaryVariant {
  intervalMs: number;
  window: number;
}
type PointKind = { kind: 'baseline'; early?: boolean } | { kind: 'fixed'; batch: number; pauseMs: number; canary: CanaryVariant } | { kind: 'adaptive'; canary: CanaryVariant; target?: number; minGain?: number; riseFraction?: number };
const variantName = (v: CanaryVariant) => `${v.intervalMs}ms/${v.window}`;
/** Set when the run compares canary variants: labels then say which one a point used. */
let showInterval = false;
const intervalTag = (p: PointKind) => (showInterval && p.kind !== 'baseline' ? ` @${variantName(p.canary)}` : '');
function label(p: PointKind): string {
  const name = p.kind === 'fixed' ? `fixed ${p.batch}×${p.pauseMs}ms` : p.kind === 'adaptive' ? adaptiveName(p) : p.early ? 'baseline, early' : 'baseline';
  return name + intervalTag(p);
}
function adaptiveName(p: Extract<PointKind, { kind: 'adaptive' }>): string {
  if (p.target !== undefined) return `adaptive, target ${p.target}`;
  if (p.minGain !== undefined) return `adaptive, min gain ${p.minGain}`;
  if (p.riseFraction !== undefined) return `adaptive, rise at ${p.riseFraction}`;
  return 'adaptive';
}

/** One judgement of the controller against the truth it stands for. */
interface JudgedWindow {
  /** Its reading (the tail count's p99) ÷ its baseline, from "… p99 X ms … budget Y ms" (Y = budget × baseline). */
  read: number;
  /** pgbench's p99 over the transactions that ended since the previous judgement ÷ its pre-step p99. */
  truth: number;
  /** The same two in milliseconds: the reading, and pgbench's p99 over the stretch it judged. */
  readMs: number;
  truthMs: number;
}

/** A judgement's reading as the decision log states it: its time and reading ÷ baseline. */
interface Judgement {
  at: number;
  read: number;
  readMs: number;
}

/** "foreground p99 6.10 ms against budget 7.02 ms …" (also "under"/"over"): a judgement of the tail count. */
const JUDGEMENT = /foreground p99 ([\d.]+) ms (?:against|under|over) budget ([\d.]+) ms/;

/** pgbench's p99 over the transactions that ended in (fromMs, toMs]. */
const p99Between = (txns: readonly LoggedTransaction[], fromMs: number, toMs: number): number => percentile(txns.filter((t) => t.endMs > fromMs && t.endMs <= toMs).map((t) => t.latencyMs), 99);

/**
 * Pairs each judgement inside [from, to] with pgbench's p99 over the stretch it judged (since the
 * previous judgement), both as ratios: the reading to its baseline, pgbench's to its own p99 over
 * `before` (the foreground alone just before the step). Where the two part, the controller steers
 * by a reading that does not move as the foreground's p99 does.
 */
function readingsAgainstTruth(judgements: readonly Judgement[], txns: readonly LoggedTransaction[], before: { from: number; to: number }, from: number, to: number): JudgedWindow[] {
  const base = p99Between(txns, before.from, before.to);
  const out: JudgedWindow[] = [];
  for (let i = 1; i < judgements.length; i++) {
    const j = judgements[i]!;
    if (j.at < from || j.at > to) continue;
    const truthMs = p99Between(txns, judgements[i - 1]!.at, j.at);
    out.push({ read: j.read, truth: truthMs / base, readMs: j.readMs, truthMs });
  }
  return out;
}

interface PointResult {
  point: string;
  rep: number;
  tps: number;
  p50: number;
  p99: number;
  rowsPerSecond: number;
  /** The step updated every row before its window ended: rowsPerSecond is a lower bound. */
  ranOut?: boolean;
  /** The foreground as pg_stat_activity shows it over the window (--observe): p99 of finished transactions' last seen ages, and their count. */
  observedP99?: number;
  observedCount?: number;
  /** --observe: every observed sample, in the order seen (for the JSON report). */
  observedSamples?: number[];
  /** --observe: each controller-sized window's p99 and p95 of those samples, ms. */
  observedWindowP99s?: number[];
  observedWindowP95s?: number[];
  /** --observe: the foreground's p99 by counting its tail at the finest interval (tailCountQuantile, with pgbench's own transaction count), ms. */
  tailP99?: number;
  /** --observe: xids completed over the window (our own included) per pgbench transaction. */
  xidsPerTransaction?: number;
  /** --observe: the same as observedWindowP95s at each of --observe-intervals after the first (ms → p95s). */
  observedWindowP95sByInterval?: Record<number, number[]>;
  /** Adaptive: the controller's batch size and pause at the end of the window. */
  batchSize?: number;
  sleepMs?: number;
  /** Adaptive: one line per slice (time, batches, controller settings, canary, reasons). */
  trace?: string[];
  /** Adaptive: the controller's judgements inside the window, each its reading ÷ its baseline beside
   *  pgbench's own p99 over the same stretch ÷ pgbench's p99 just before the step (readingsAgainstTruth). */
  judged?: JudgedWindow[];
  /** Adaptive: pgbench's p99 over the whole window ÷ its p99 just before the step. */
  pooledTruth?: number;
  /** Adaptive: pgbench's p99 from the end of prepareDataStep to the step's first batch (the
   *  baselines, with the canary and the observer running) ÷ its p99 just before the step: how far
   *  the stretch the baselines measure already sits above the foreground alone (the timeline
   *  splits it by second; prepareDataStep's own second is left out). */
  stepStartCost?: number;
  /** Adaptive: the controller's tail baseline ÷ pgbench's p99 over that same stretch: whether the
   *  baseline reads the level it was measured at. */
  baselineReadsTruth?: number;
  /** Adaptive: pgbench's p99 in each second from its start to two seconds past the first batch,
   *  and when the step started and its first batch ended (seconds since the start). */
  timeline?: { p99s: number[]; stepAtS: number; firstBatchAtS: number };
  /** The foreground alone (baseline points, BENCH_TRACE): its p99 over each 5 s from its start. */
  aloneTimeline?: number[];
  load: string;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      reps: { type: 'string', default: '3' },
      window: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '5' },
      'adaptive-warmup': { type: 'string', default: '20' },
      // The foreground alone for this long before the first point (see where it runs).
      'first-warmup': { type: 'string', default: '60' },
      rows: { type: 'string', default: '2000000' },
      batches: { type: 'string', default: '300,1000,3000,10000' },
      pauses: { type: 'string', default: '0,10,50,200' },
      // off: the fixed points run without the canary (latencyBudget 0), to separate the canary's
      // own cost to the foreground from the batches'. The adaptive point always measures it.
      'fixed-canary': { type: 'string', default: 'on' },
      'canary-intervals': { type: 'string', default: String(DEFAULT_LOAD_CONTROL.canaryIntervalMs) },
      'canary-windows': { type: 'string', default: String(DEFAULT_LOAD_CONTROL.canaryWindow) },
      json: { type: 'string' },
      // on: every point also watches the foreground's transactions in pg_stat_activity over its
      // window (foreground-observer.ts), to compare that reading's ratio with pgbench's own.
      observe: { type: 'string', default: 'off' },
      // on: one more point, the foreground alone with its window right after --warmup (see the top).
      'early-baseline': { type: 'string', default: 'off' },
      // same: fixed points start their step when the adaptive point does (see the top); late: as close before their window as their baselines allow.
      'fixed-start': { type: 'string', default: 'late' },
      // reinit: settle() also re-creates pgbench's tables before every point (see settle); vacuum: VACUUM and CHECKPOINT only (until session 21).
      settle: { type: 'string', default: 'reinit' },
      // rep: each point's p99 against its own repetition's baseline, median of the ratios; pooled: median p99 over median baseline (until session 21).
      judge: { type: 'string', default: 'rep' },
      shapes: { type: 'string' },
      // 0.8,0.93: more adaptive points, each with this latencyTarget instead of the default (the
      // set point's trade between margin and rows/s, side by side with the default's).
      'adaptive-targets': { type: 'string', default: '' },
      // 2,1: more adaptive points, each with this minRateGain (2: the fixed gain of old).
      'adaptive-min-gains': { type: 'string', default: '' },
      // 0,0.5: more adaptive points, each with this baselineRiseSleepFraction (0: any quiet window raises a baseline).
      'adaptive-rise-fractions': { type: 'string', default: '' },
      // With --observe on: the snapshot intervals (ms) to compare, all read in the same point from
      // one poll at the finest (multi-interval-observer.ts); the first is the one the pooled and
      // window p99 columns use. Default: the controller's own interval.
      'observe-intervals': { type: 'string', default: String(DEFAULT_LOAD_CONTROL.foregroundIntervalMs) },
    },
  });
  const reps = wholeNumberOption('reps', values.reps);
  const windowS = wholeNumberOption('window', values.window);
  const warmupS = wholeNumberOption('warmup', values.warmup, 0);
  // The controller starts at its initial settings and needs a while to find its pace (a real
  // migration runs for minutes to hours); fixed settings need no warm-up beyond the foreground's.
  const adaptiveWarmupS = wholeNumberOption('adaptive-warmup', values['adaptive-warmup'], 0);
  const firstWarmupS = wholeNumberOption('first-warmup', values['first-warmup'], 0);
  const rows = wholeNumberOption('rows', values.rows);
  const judgePerRep = oneOfOption('judge', values.judge, ['rep', 'pooled']) === 'rep';
  const reinitForeground = oneOfOption('settle', values.settle, ['reinit', 'vacuum']) === 'reinit';
  const observeIntervals = values['observe-intervals'].split(',').filter(Boolean).map(Number);
  const intervalsWrong = intervalsProblem(observeIntervals);
  if (intervalsWrong) throw new BenchUsageError(`--observe-intervals: ${intervalsWrong}; got "${values['observe-intervals']}"`);
  const finestInterval = Math.min(...observeIntervals);
  const extraIntervals = observeIntervals.slice(1);
  const wholeList = (option: 'canary-intervals' | 'canary-windows', example: string): number[] => {
    const list = wholeNumberListOption(option, values[option]);
    if (list.length === 0) throw new BenchUsageError(`--${option}: at least one whole number, e.g. ${example}`);
    return list;
  };
  const variants: CanaryVariant[] = [];
  for (const intervalMs of wholeList('canary-intervals', '15,45')) for (const window of wholeList('canary-windows', '100,300')) variants.push({ intervalMs, window });
  showInterval = variants.length > 1;
  /** The longest a step's pre-step baselines take with this canary, whole seconds. */
  const baselinesS = (variant: CanaryVariant): number => Math.ceil(preStepBaselineMaxMs({ canaryWindow: variant.window, canaryIntervalMs: variant.intervalMs }) / 1000);
  /** Seconds from a point's start to its window: the adaptive point's warm-ups and pre-step baselines. */
  const leadS = (variant: CanaryVariant): number => warmupS + adaptiveWarmupS + baselinesS(variant);
  // --shapes 300x57,1000x193: these fixed settings (batch × pause ms) instead of the --batches × --pauses grid.
  const shapes = values.shapes === undefined ? null : values.shapes.split(',').filter(Boolean).map((shape) => shape.split('x').map(Number));
  if (shapes !== null && shapes.some((sh) => sh.length !== 2 || !Number.isInteger(sh[0]) || sh[0]! < 1 || !Number.isInteger(sh[1]) || sh[1]! < 0)) {
    throw new BenchUsageError(`--shapes: batch×pause pairs in rows and ms, e.g. 300x57,1000x193; got "${values.shapes}"`);
  }
  for (const option of ['early-baseline', 'fixed-canary', 'observe'] as const) oneOfOption(option, values[option], ['on', 'off']);
  const batches = wholeNumberListOption('batches', values.batches);
  const pauses = wholeNumberListOption('pauses', values.pauses, 0);
  const points: PointKind[] = [{ kind: 'baseline' }, ...(values['early-baseline'] === 'on' ? [{ kind: 'baseline' as const, early: true }] : [])];
  const adaptiveTargets = values['adaptive-targets'].split(',').filter(Boolean).map(Number);
  const { min: minTarget, max: maxTarget } = LATENCY_TARGET_RANGE;
  if (adaptiveTargets.some((t) => !(t >= minTarget && t <= maxTarget))) throw new BenchUsageError(`--adaptive-targets: fractions of the budget from ${minTarget} to ${maxTarget}, e.g. 0.8,0.93; got "${values['adaptive-targets']}"`);
  const adaptiveRiseFractions = values['adaptive-rise-fractions'].split(',').filter(Boolean).map(Number);
  if (adaptiveRiseFractions.some((f) => !(f >= 0 && f <= 1))) {
    throw new BenchUsageError(`--adaptive-rise-fractions: fractions of maxSleepMs from 0 to 1, e.g. 0 (any quiet window raises a baseline); got "${values['adaptive-rise-fractions']}"`);
  }
  const adaptiveMinGains = values['adaptive-min-gains'].split(',').filter(Boolean).map(Number);
  if (adaptiveMinGains.some((g) => !(g >= MIN_RATE_GAIN_RANGE.min && g <= MIN_RATE_GAIN_RANGE.max))) {
    throw new BenchUsageError(`--adaptive-min-gains: gains from ${MIN_RATE_GAIN_RANGE.min} to ${MIN_RATE_GAIN_RANGE.max}, e.g. 2 (the fixed gain); got "${values['adaptive-min-gains']}"`);
  }
  for (const canary of variants) {
    points.push({ kind: 'adaptive', canary });
    for (const target of adaptiveTargets) points.push({ kind: 'adaptive', canary, target });
    for (const minGain of adaptiveMinGains) points.push({ kind: 'adaptive', canary, minGain });
    for (const riseFraction of adaptiveRiseFractions) points.push({ kind: 'adaptive', canary, riseFraction });
    // `--batches ''` leaves the sweep out (to study the adaptive controller alone).
    if (shapes !== null) for (const [batch, pauseMs] of shapes) points.push({ kind: 'fixed', batch: batch!, pauseMs: pauseMs!, canary });
    else for (const batch of batches) for (const pauseMs of pauses) points.push({ kind: 'fixed', batch, pauseMs, canary });
  }

  if (oneOfOption('fixed-start', values['fixed-start'], ['late', 'same']) === 'same') {
    // The most a fixed setting can move from its start to its window's end: a batch every pause
    // (batches taking no time at all). A step that finishes before its window has no reading.
    for (const point of points) {
      if (point.kind !== 'fixed') continue;
      const seconds = leadS(point.canary) + windowS - warmupS;
      const most = point.pauseMs === 0 ? Number.POSITIVE_INFINITY : Math.ceil(((seconds * 1000) / point.pauseMs) * point.batch);
      if (most > rows) {
        throw new BenchUsageError(
          `--fixed-start same: ${point.batch}×${point.pauseMs}ms could move ${Number.isFinite(most) ? fmtInt(most) : 'unboundedly many'} rows before its window ends, more than --rows ${fmtInt(rows)}; ` +
            'use more --rows, shapes with a pause, or --fixed-start late',
        );
      }
    }
  }
  const pgServer = await startPostgres();
  const machine = await describeMachine(pgServer.adminUrl);
  say(machine);
  const url = await recreateDatabase(pgServer.adminUrl, 'bench_b2');
  say(`pgbench -i -s ${SCALE} and ${fmtInt(rows)} inventories rows …`);
  await runProcess('pgbench', ['-i', '-q', '-s', String(SCALE)], pgEnv(url));
  await resetInventories(url, rows);
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'stockrx-b2-'));
  onCleanup(() => fsp.rm(work, { recursive: true, force: true }));
  const scriptFile = path.join(work, 'foreground.sql');
  await fsp.writeFile(scriptFile, inventoryForegroundScript(rows));

  const migrations = await benchMigrationsDir('b2');
  onCleanup(() => fsp.rm(migrations.dir, { recursive: true, force: true }));
  const target = openTargetDatabase(url, { applicationName: 'stockrx-migrate worker' });
  onCleanup(() => target.close());
  // BENCH_TRACE=decisions: every judgement of the controller (its debug log, run-data-slice.ts), not
  // only each slice's last decision: a slice holds several, and its last one hides the others.
  const decisionSink: { lines: string[] | null; since: number; judgements: Judgement[]; firstDecisionAt: number } = { lines: null, since: 0, judgements: [], firstDecisionAt: Number.NaN };
  const traceDecisions = process.env.BENCH_TRACE === 'decisions';
  const logger = createLogger({
    level: traceDecisions ? 'debug' : 'error',
    destination: {
      write(line: string) {
        if (!decisionSink.lines) return;
        const entry = JSON.parse(line) as { msg?: string; reasons?: string[]; batchSize?: number; sleepMs?: number };
        const judged = (entry.reasons ?? []).filter((r) => !/advisory|gathering/.test(r));
        if (entry.msg === 'load control decision' && Number.isNaN(decisionSink.firstDecisionAt)) decisionSink.firstDecisionAt = Date.now();
        if (entry.msg !== 'load control decision' || judged.length === 0) return;
        const reading = judged.map((r) => JUDGEMENT.exec(r)).find((m) => m !== null);
        if (reading) decisionSink.judgements.push({ at: Date.now(), read: (Number(reading[1]) * BUDGET) / Number(reading[2]), readMs: Number(reading[1]) });
        decisionSink.lines.push(`${fmt((Date.now() - decisionSink.since) / 1000, 1)}s   judged → batch ${entry.batchSize} pause ${entry.sleepMs} ms: ${judged.join('; ').slice(0, 200)}`);
      },
    },
  });
  const activities = createActivities({ db: target.db, logger, registry: createMigrationRegistry(migrations.dir) });

  // Between points: the previous migration's backup goes, the table is vacuumed and the WAL
  // checkpointed, so each point starts from the same kind of state. --settle reinit (the default)
  // also re-creates pgbench's tables: with VACUUM alone the foreground alone read 4.6, 9.3 and
  // 11.4 ms in the three repetitions of session 20's 67-minute run (pgbench_history grows by
  // every transaction, its tables' pages age), wider than the budget the points are judged by.
  const settle = async () => {
    if (reinitForeground) await runProcess('pgbench', ['-i', '-q', '-s', String(SCALE)], pgEnv(url));
    await withClient(url, async (c) => {
      const { rows: backups } = await c.query<{ name: string }>(`SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = 'stockrx_migrate_backup'`);
      for (const b of backups) await c.query(`DROP TABLE ${b.name}`);
      await c.query(`VACUUM ${TABLE}`);
      await c.query('VACUUM pgbench_accounts, pgbench_tellers, pgbench_branches');
      await c.query('CHECKPOINT');
    });
  };

  const runPoint = async (point: PointKind, rep: number): Promise<PointResult> => {
    await settle();
    const prefix = `fg-${rep}-${label(point).replace(/[^a-z0-9]+/gi, '_')}-${Date.now()}`;
    // A point with a canary first measures its baselines (the canary's, BASELINE_SAMPLES lookups at
    // its interval, 4.5 s at 15 ms; then the foreground's, up to FOREGROUND_BASELINE_MAX_MS more)
    // before the first batch. The step starts --warmup seconds in: started after 1 s, the baselines
    // read pgbench's first seconds, just after settle()'s CHECKPOINT, when every first change of a
    // page also writes its full image to the WAL (the foreground's reading came out ~1.35× the
    // steady one, and the budget with it).
    // Every window starts the adaptive point's lead after settle() (see the top); the early
    // baseline's right after the warm-up.
    const lead = point.kind === 'baseline' ? (point.early ? warmupS : leadS(variants[0]!)) : leadS(point.canary);
    const totalS = lead + windowS;
    // A fixed point's step starts later, so it runs its baselines and --warmup before the window,
    // as long as it always has: at 170k rows/s the longer step would run out of --rows.
    const measuresCanary = point.kind === 'fixed' && values['fixed-canary'] !== 'off';
    const fixedStepS = (measuresCanary ? baselinesS(point.canary) : 0) + warmupS;
    const fixedPreStepS = values['fixed-start'] === 'same' ? warmupS : Math.max(warmupS, lead - fixedStepS);
    const preStepS = point.kind === 'baseline' ? 0 : point.kind === 'fixed' ? fixedPreStepS : warmupS;
    const fgStart = Date.now();
    const foreground = runProcess(
      'pgbench',
      ['-n', '-c', String(CLIENTS), '-j', '2', '-T', String(totalS), '-f', scriptFile, '-D', `scale=${SCALE}`, '-l', '--log-prefix', prefix],
      pgEnv(url),
      work,
    );
    const windowFrom = fgStart + (totalS - windowS) * 1000;
    const windowTo = fgStart + totalS * 1000;
    let rowsPerSecond = 0;
    let ranOut = false;
    let controller: ControllerState | null = null;
    const trace: string[] = [];
    if (traceDecisions && point.kind === 'adaptive') Object.assign(decisionSink, { lines: trace, since: fgStart, judgements: [], firstDecisionAt: Number.NaN });
    let stepStartedAt = Number.NaN;
    let prepareEndedAt = Number.NaN;
    const observed: number[] = [];
    const observedAt = new Map<number, number[]>();
    let xidsCompleted = Number.NaN;
    const observing =
      values.observe === 'on'
        ? target.db.connection().execute(async (conn) => {
            await new Promise((r) => setTimeout(r, Math.max(0, windowFrom - Date.now())));
            const observer = startMultiIntervalObserver(conn, observeIntervals);
            await new Promise((r) => setTimeout(r, Math.max(0, windowTo - Date.now())));
            for (const [ms, samples] of await observer.stop()) observedAt.set(ms, samples);
            xidsCompleted = observer.xidsCompleted();
            observed.push(...(observedAt.get(observeIntervals[0]!) ?? []));
          })
        : Promise.resolve();
    if (point.kind !== 'baseline') {
      // Every row matches and every point starts at the first key, so points are comparable.
      // Only what differs from the defaults, so the default variant is exactly the product's.
      const interval = {
        ...(point.canary.intervalMs === DEFAULT_LOAD_CONTROL.canaryIntervalMs ? {} : { canaryIntervalMs: point.canary.intervalMs }),
        ...(point.canary.window === DEFAULT_LOAD_CONTROL.canaryWindow ? {} : { canaryWindow: point.canary.window }),
      };
      const loadControl =
        point.kind === 'adaptive'
          ? { ...interval, ...(point.target === undefined ? {} : { latencyTarget: point.target }), ...(point.minGain === undefined ? {} : { minRateGain: point.minGain }), ...(point.riseFraction === undefined ? {} : { baselineRiseSleepFraction: point.riseFraction }) }
          : {
              ...interval,
              initialBatchSize: point.batch, minBatchSize: point.batch, maxBatchSize: point.batch,
              sleepMs: point.pauseMs, minSleepMs: point.pauseMs, maxSleepMs: point.pauseMs,
              // Fixed means fixed: no critical pause either.
              ...NO_CRITICAL_PAUSE,
              ...(values['fixed-canary'] === 'off' ? { latencyBudget: 0 } : {}),
            };
      await migrations.clear();
      const id = migrationId('bench_b2');
      await migrations.write(
        id,
        `import { defineMigration } from 'stockrx-migrate';\n\nexport default defineMigration({\n  description: 'B2 backfill',\n` +
          (Object.keys(loadControl).length > 0 ? `  loadControl: ${JSON.stringify(loadControl)},\n` : '') +
          `  steps: (m) => [m.updateRecords('${TABLE}', { set: { price: m.raw('coalesce(price, 0) + 1') } })],\n});\n`,
      );
      const [plan] = await loadMigrations(migrations.dir);
      const step = plan!.steps.find(isDataStep) as DataStep;
      const input = { migrationId: id, runToken: `b2-${id}`, step, options: DEFAULT_RUN_OPTIONS };
      await new Promise((r) => setTimeout(r, preStepS * 1000));
      stepStartedAt = Date.now();
      await activities.journalStart({ plan: plan!, run: { runToken: input.runToken, workflowId: 'b2', runId: 'b2' } });
      await activities.prepareDataStep(input);
      prepareEndedAt = Date.now();
      const lc = resolveLoadControl(plan!.loadControl);
      controller = initialControllerState(lc);
      const rowsDone = async () =>
        withClient(url, async (c) => Number((await c.query<{ n: string }>('SELECT rows_done AS n FROM stockrx_migrate.checkpoints WHERE migration_id = $1', [id])).rows[0]!.n));
      let atFrom: { t: number; n: number } | null = null;
      let atTo: { t: number; n: number } | null = null;
      const marks = (async () => {
        await new Promise((r) => setTimeout(r, Math.max(0, windowFrom - Date.now())));
        atFrom = { t: performance.now(), n: await rowsDone() };
        await new Promise((r) => setTimeout(r, Math.max(0, windowTo - Date.now())));
        atTo = { t: performance.now(), n: await rowsDone() };
      })();
      while (Date.now() < windowTo) {
        const slice = await activities.runDataSlice({ ...input, file: plan!.file, loadControl: lc, controller, sliceMs: Math.min(SLICE_MS, Math.max(200, windowTo - Date.now())) });
        controller = slice.controller;
        trace.push(
          `${fmt((Date.now() - fgStart) / 1000, 1)}s ${slice.batchesRun} batches → batch ${slice.controller.batchSize} pause ${slice.controller.sleepMs} ms` +
            `${slice.throttled ? ` PAUSED (${slice.controller.pauseReasons.join('; ')})` : ''} canary p99/baseline ${fmt(canaryP99(slice.controller) ?? Number.NaN, 2)}/${fmt(slice.controller.canaryBaselineMs, 2)} ms` +
            ` foreground p95/baseline ${fmt(foregroundReading(slice.controller) ?? Number.NaN, 2)}/${fmt(slice.controller.foregroundBaselineMs ?? Number.NaN, 2)} ms` +
            ` tail-count p99 baseline ${fmt(slice.controller.foregroundTailBaselineMs ?? Number.NaN, 2)} ms: ${slice.reasons.filter((r) => !/advisory/.test(r)).join('; ').slice(0, 160)}`,
        );
        // A step that runs out of rows inside its window is recorded as such (its rows/s is then a
        // lower bound, its p99 partly the foreground alone), not fatal: session 20 lost a 40-minute
        // run to one such point. The table marks it.
        if (isStepFinished(step, slice.checkpoint)) {
          ranOut = true;
          break;
        }
      }
      await marks;
      const from = atFrom as { t: number; n: number } | null;
      const to = atTo as { t: number; n: number } | null;
      if (from && to) rowsPerSecond = (to.n - from.n) / ((to.t - from.t) / 1000);
    }
    await foreground;
    await observing;
    const lat = await latencies(work, prefix, windowFrom, windowTo);
    // BENCH_TRACE=decisions: each judgement against pgbench's own p99 (the first second of the
    // foreground left out of its pre-step p99: pgbench's connections starting).
    let judged: JudgedWindow[] | undefined;
    let pooledTruth: number | undefined;
    let stepStartCost: number | undefined;
    let baselineReadsTruth: number | undefined;
    let timeline: PointResult['timeline'];
    // BENCH_TRACE (any value): the foreground alone, its p99 over each 5 s since settle(), to see it drift.
    let aloneTimeline: number[] | undefined;
    if (process.env.BENCH_TRACE && point.kind === 'baseline') {
      const txns = await loggedTransactions(work, prefix, fgStart, windowTo);
      aloneTimeline = Array.from({ length: Math.floor(totalS / 5) }, (_, i) => p99Between(txns, fgStart + i * 5000, fgStart + (i + 1) * 5000));
    }
    if (traceDecisions && point.kind === 'adaptive') {
      const txns = await loggedTransactions(work, prefix, fgStart, windowTo);
      const before = { from: fgStart + 1000, to: stepStartedAt };
      judged = readingsAgainstTruth(decisionSink.judgements, txns, before, windowFrom, windowTo);
      const beforeP99 = p99Between(txns, before.from, before.to);
      pooledTruth = percentile(lat, 99) / beforeP99;
      // From the step's preparation to its first batch, whose decision is the first logged (a batch
      // takes well under the 200 ms left out): the stretch its baselines measure.
      const baselinesP99 = p99Between(txns, prepareEndedAt, decisionSink.firstDecisionAt - 200);
      stepStartCost = baselinesP99 / beforeP99;
      const tailBaselineMs = (controller as ControllerState | null)?.foregroundTailBaselineMs ?? null;
      baselineReadsTruth = tailBaselineMs === null ? Number.NaN : tailBaselineMs / baselinesP99;
      const seconds = Math.ceil((decisionSink.firstDecisionAt - fgStart) / 1000) + 2;
      timeline = {
        p99s: Array.from({ length: seconds }, (_, i) => p99Between(txns, fgStart + i * 1000, fgStart + (i + 1) * 1000)),
        stepAtS: (stepStartedAt - fgStart) / 1000,
        firstBatchAtS: (decisionSink.firstDecisionAt - fgStart) / 1000,
      };
    }
    for (const f of await fsp.readdir(work)) if (f.startsWith(prefix)) await fsp.rm(path.join(work, f));
    const c = controller as ControllerState | null;
    // The windows the controller would judge (foregroundWindowSize transactions each).
    const observedWindows = windowsOf(observed, foregroundWindowSize(DEFAULT_LOAD_CONTROL));
    const windowP95s = (samples: number[]) => windowsOf(samples, foregroundWindowSize(DEFAULT_LOAD_CONTROL)).map((w) => quantile(w, FOREGROUND_QUANTILE));
    return {
      point: label(point),
      rep,
      tps: lat.length / windowS,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      rowsPerSecond,
      ...(ranOut ? { ranOut } : {}),
      ...(values.observe === 'on'
        ? {
            observedP99: percentile(observed, 99),
            xidsPerTransaction: xidsCompleted / lat.length,
            tailP99: tailCountQuantile(observedAt.get(finestInterval) ?? [], finestInterval, lat.length, 0.99),
            observedCount: observed.length,
            observedSamples: observed,
            observedWindowP99s: observedWindows.map((w) => quantile(w, 0.99)),
            observedWindowP95s: observedWindows.map((w) => quantile(w, FOREGROUND_QUANTILE)),
            // The other intervals' (the first's are observedWindowP95s).
            observedWindowP95sByInterval: Object.fromEntries(extraIntervals.map((ms) => [ms, windowP95s(observedAt.get(ms) ?? [])])),
          }
        : {}),
      ...(point.kind === 'adaptive' && c ? { batchSize: c.batchSize, sleepMs: c.sleepMs, trace } : {}),
      ...(aloneTimeline ? { aloneTimeline } : {}),
      ...(judged && pooledTruth !== undefined ? { judged, pooledTruth, ...(stepStartCost !== undefined ? { stepStartCost, baselineReadsTruth } : {}), ...(timeline ? { timeline } : {}) } : {}),
      load: loadAverage(),
    };
  };

  // Deterministic shuffle per repetition (LCG), so a rerun visits points in the same order.
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const results: PointResult[] = [];
  /** --json: the run's settings and every result so far, with `verdict`'s fields (partial while it runs). */
  const writeJson = async (verdict: Record<string, unknown>) => {
    if (values.json) await fsp.writeFile(values.json, JSON.stringify({ machine, reps, windowS, warmupS, rows, variants, results, ...verdict }, null, 2));
  };
  // The first point would otherwise run on a machine fresh from loading the table (cold caches
  // and the load's aftermath, most likely). With the default options the shuffle puts the
  // adaptive point first, and it measured its baselines there: canary 3.87 ms and tail count
  // 6.53 ms where later reps read 2.8–2.9 and 4.5–5.8, a budget loose enough for 1.86× and 2.27×
  // the steady foreground (BENCHMARKS.md, session 12).
  if (firstWarmupS > 0) {
    say(`the foreground alone for ${firstWarmupS} s before the first point …`);
    await runProcess('pgbench', ['-n', '-c', String(CLIENTS), '-j', '2', '-T', String(firstWarmupS), '-f', scriptFile, '-D', `scale=${SCALE}`], pgEnv(url), work);
  }
  const t0 = Date.now();
  for (let rep = 0; rep < reps; rep++) {
    const order = [...points];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const point of order) {
      const r = await runPoint(point, rep);
      results.push(r);
      // Every point's result on disk as soon as it is measured: a run stopped early (by hand, or a
      // crash an hour in) keeps what it measured. The finished run rewrites the file with its verdict.
      await writeJson({ partial: true });
      say(
        `rep ${rep + 1}/${reps} ${r.point.padEnd(20)} fg ${fmt(r.tps, 0)} tps p50 ${fmt(r.p50, 2)} p99 ${fmt(r.p99, 2)} ms  migration ${fmtInt(r.rowsPerSecond)} rows/s` +
          (r.observedP99 !== undefined ? `  observed p99 ${fmt(r.observedP99, 2)} ms (${r.observedCount} txns)` : '') +
          (r.ranOut ? '  RAN OUT OF ROWS inside its window' : '') +
          (r.batchSize !== undefined ? `  (controller: batch ${r.batchSize}, pause ${r.sleepMs} ms)` : '') +
          `  load ${r.load}  [${fmt((Date.now() - t0) / 60000, 1)} min]`,
      );
      decisionSink.lines = null;
      if (r.trace && process.env.BENCH_TRACE) for (const line of r.trace) say(`    ${line}`);
      if (r.judged) say(`    ${judgedSummary([r])}; each read/true: ${r.judged.map((j) => `${fmt(j.read)}/${fmt(j.truth)}`).join(' ')}`);
      if (r.aloneTimeline) say(`    pgbench alone, p99 each 5 s from its start: ${r.aloneTimeline.map((v) => fmt(v, 2)).join(' ')}`);
      if (r.timeline) say(`    pgbench p99 each second (step at ${fmt(r.timeline.stepAtS, 1)} s, first batch at ${fmt(r.timeline.firstBatchAtS, 1)} s): ${r.timeline.p99s.map((v) => fmt(v, 1)).join(' ')}`);
    }
  }

  // Medians per point; oracle and targets.
  const med = (p: string, f: (r: PointResult) => number) => median(results.filter((r) => r.point === p).map(f));
  const baseP99 = med('baseline', (r) => r.p99);
  const labels = points.map(label);
  const rowsOf = (p: string) => med(p, (r) => r.rowsPerSecond);
  const p99Of = (p: string) => med(p, (r) => r.p99);
  // A point's p99 against the baseline: --judge rep (the default) takes each repetition's p99 over
  // the baseline of the same repetition and the median of those ratios; pooled, the median p99
  // over the median baseline (until session 21), which puts a point that ran beside a slow
  // repetition's foreground against a faster one's.
  const repBaseline = (rep: number) => results.find((r) => r.point === 'baseline' && r.rep === rep)?.p99 ?? Number.NaN;
  const repRatioOf = (p: string) => med(p, (r) => r.p99 / repBaseline(r.rep));
  const pooledRatioOf = (p: string) => p99Of(p) / baseP99;
  const ratioOf = judgePerRep ? repRatioOf : pooledRatioOf;
  // One oracle per canary interval: the fixed points that paid the same canary's cost.
  const oracleOf = new Map<CanaryVariant, string | null>();
  for (const n of variants) {
    const fixed = points.filter((p) => p.kind === 'fixed' && p.canary === n).map(label);
    // A setting that ran out of rows in any repetition has no rate to stand for (its window was partly the foreground alone).
    const withinBudget = fixed.filter((l) => ratioOf(l) <= BUDGET && !results.some((r) => r.point === l && r.ranOut));
    oracleOf.set(n, withinBudget.sort((a, b) => rowsOf(b) - rowsOf(a))[0] ?? null);
  }
  const oracles = new Set(oracleOf.values());
  const oracleFor = (l: string): string | null => {
    const p = points.find((q) => label(q) === l);
    return p && p.kind !== 'baseline' ? (oracleOf.get(p.canary) ?? null) : null;
  };
  const observe = values.observe === 'on';
  const baseObserved = observe ? med('baseline', (r) => r.observedP99 ?? Number.NaN) : Number.NaN;
  // The controller's view: every window of the point's repetitions against the median window at the baseline point.
  const windowsAt = (l: string, pick: (r: PointResult) => number[] | undefined) => results.filter((r) => r.point === l).flatMap((r) => pick(r) ?? []);
  const windowColumns = (pick: (r: PointResult) => number[] | undefined, l: string): string[] => {
    const base = median(windowsAt('baseline', pick));
    const ratios = windowsAt(l, pick).map((v) => v / base);
    return [fmt(median(ratios), 2), fmt(ratios.filter((r) => r > BUDGET).length / Math.max(1, ratios.length), 2)];
  };
  const table = labels.map((l) => [
    l + (oracles.has(l) ? ' (oracle)' : ''),
    fmt(med(l, (r) => r.tps), 0),
    fmt(med(l, (r) => r.p50), 2),
    fmt(p99Of(l), 2),
    fmt(pooledRatioOf(l), 2),
    fmt(repRatioOf(l), 2),
    ...(observe
      ? [
          fmt(med(l, (r) => r.observedP99 ?? Number.NaN) / baseObserved, 2),
          ...windowColumns((r) => r.observedWindowP99s, l),
          ...windowColumns((r) => r.observedWindowP95s, l),
          ...extraIntervals.flatMap((ms) => windowColumns((r) => r.observedWindowP95sByInterval?.[ms], l)),
          fmt(med(l, (r) => r.tailP99 ?? Number.NaN), 2),
          fmt(med(l, (r) => r.tailP99 ?? Number.NaN) / med('baseline', (r) => r.tailP99 ?? Number.NaN), 2),
          fmt(med(l, (r) => r.xidsPerTransaction ?? Number.NaN), 3),
        ]
      : []),
    ratioOf(l) <= BUDGET ? 'yes' : 'no',
    l.startsWith('baseline') ? '' : fmtInt(rowsOf(l)),
    oracleFor(l) ? fmt(rowsOf(l) / rowsOf(oracleFor(l)!), 2) : '',
    results.filter((r) => r.point === l).map((r) => `${fmt(r.p99, 1)}/${fmtInt(r.rowsPerSecond)}${r.ranOut ? ' (ran out)' : ''}${r.tailP99 !== undefined ? `/${fmt(r.tailP99, 1)}` : ''}`).join(' '),
  ]);
  const observedHeaders = [
    'observed p99 × baseline', 'window p99 ×', `window p99 > ${BUDGET}×`, 'window p95 ×', `window p95 > ${BUDGET}×`,
    ...extraIntervals.flatMap((ms) => [`@${ms}ms window p95 ×`, `@${ms}ms > ${BUDGET}×`]),
    `tail-count p99 ms @${finestInterval}ms`, 'tail-count p99 ×', 'xids ÷ pgbench txns',
  ];
  const ranOut = results.filter((r) => r.ranOut);
  if (ranOut.length > 0) console.log(`\n${ranOut.length} point(s) ran out of rows inside their window (rows/s a lower bound, marked "ran out"): ${ranOut.map((r) => `${r.point} rep ${r.rep + 1}`).join(', ')}; use more --rows`);
  console.log(`\nB2 load-control efficacy: pgbench tpcb-like + inventories row, ${CLIENTS} clients, scale ${SCALE}; ${fmtInt(rows)}-row updateRecords (every row, with backup); every window ${windowS} s long, ${leadS(variants[0]!)} s after its point's settle() (the step starts ${warmupS} s in; the early baseline's window, if any, ${warmupS} s in); ${reps} reps (medians)\n${machine}\n`);
  console.log(markdownTable(['point', 'fg tps', 'fg p50 ms', 'fg p99 ms', 'p99 × median baseline', "median of p99 × own rep's baseline", ...(observe ? observedHeaders : []), `within ${BUDGET}×`, 'migration rows/s', '× oracle', observe ? 'each rep p99/rows/s/tail-count p99' : 'each rep p99/rows/s'], table));
  for (const adaptivePoint of points.filter((p): p is Extract<PointKind, { kind: 'adaptive' }> => p.kind === 'adaptive')) {
    const n = adaptivePoint.canary;
    const adaptive = label(adaptivePoint);
    const oracle = oracleOf.get(n) ?? null;
    const adaptiveP99 = ratioOf(adaptive);
    const adaptiveRows = oracle ? rowsOf(adaptive) / rowsOf(oracle) : Number.NaN;
    const controllerEnd = results.filter((r) => r.point === adaptive).map((r) => `${r.batchSize}/${r.sleepMs} ms`).join(', ');
    console.log(`\ncanary every ${n.intervalMs} ms, window ${n.window} — oracle: ${oracle ?? (points.some((p) => p.kind === 'fixed') ? 'none (no fixed setting kept p99 within budget)' : 'none (no fixed sweep in this run)')}${oracle ? ` at ${fmtInt(rowsOf(oracle))} rows/s, p99 ${fmt(p99Of(oracle), 2)} ms` : ''}`);
    console.log(`${adaptive} controller at the end of each window (batch/pause): ${controllerEnd}`);
    console.log(`target ${adaptive} p99 ≤ ${BUDGET}× baseline (${judgePerRep ? "median of each repetition's ratio to its own baseline" : 'median p99 over median baseline'}): ${fmt(adaptiveP99)}× ${adaptiveP99 <= BUDGET ? 'MET' : 'MISSED'}`);
    console.log(`target ${adaptive} rows/s ≥ 0.8× oracle: ${fmt(adaptiveRows)}× ${adaptiveRows >= 0.8 ? 'MET' : 'MISSED'}`);
    if (points.some((p) => p.kind === 'baseline' && p.early)) {
      // The same targets read as until session 15, against the foreground alone early after settle().
      const earlyP99 = p99Of(label({ kind: 'baseline', early: true }));
      const fixed = points.filter((p) => p.kind === 'fixed' && p.canary === n).map(label);
      const earlyOracle = fixed.filter((l) => p99Of(l) <= BUDGET * earlyP99).sort((a, b) => rowsOf(b) - rowsOf(a))[0] ?? null;
      console.log(
        `against the early baseline (${fmt(earlyP99, 2)} ms, ${fmt(earlyP99 / baseP99)}× the baseline): ${adaptive} p99 ${fmt(p99Of(adaptive) / earlyP99)}×; oracle ${earlyOracle ?? 'none'}` +
          (earlyOracle ? ` at ${fmtInt(rowsOf(earlyOracle))} rows/s (p99 ${fmt(p99Of(earlyOracle) / earlyP99)}×), ${adaptive} rows/s ${fmt(rowsOf(adaptive) / rowsOf(earlyOracle))}× it` : ''),
      );
    }
    const judgedReps = results.filter((r) => r.point === adaptive && r.judged);
    if (judgedReps.length > 0) console.log(`${adaptive} judgements against pgbench (BENCH_TRACE=decisions), all reps: ${judgedSummary(judgedReps)}`);
  }
  await writeJson({ oracles: [...oracleOf].map(([variant, oracle]) => ({ ...variant, oracle })), baseP99 });
  return 0;
}

/** The controller's readings against pgbench's over the same windows, and pgbench's pooled ratio, over `reps`. */
function judgedSummary(reps: readonly PointResult[]): string {
  const all = reps.flatMap((r) => r.judged ?? []);
  return (
    `${all.length} judgements: reading × baseline median ${fmt(median(all.map((j) => j.read)))}, pgbench's p99 over the same windows × its pre-step p99 median ${fmt(median(all.map((j) => j.truth)))}` +
    `, pooled over the window ${fmt(median(reps.map((r) => r.pooledTruth ?? Number.NaN)))}` +
    `; in ms, reading ÷ pgbench's p99 over the same windows median ${fmt(median(all.map((j) => j.readMs / j.truthMs)))}` +
    `; pgbench's p99 over the baselines' stretch (preparation to first batch) × its pre-step p99 ${fmt(median(reps.map((r) => r.stepStartCost ?? Number.NaN)))}` +
    `, the tail baseline ÷ pgbench's p99 over that stretch ${fmt(median(reps.map((r) => r.baselineReadsTruth ?? Number.NaN)))}`
  );
}

runBench(main);
