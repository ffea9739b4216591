// A data step runs as a sequence of slices: each slice is one activity that runs batches for a
// bounded time (heartbeating), consulting the load controller after every batch, and returns the
// checkpoint and controller state to the workflow. Short slices keep pause, resume and live
// load-control changes responsive and let the workflow continue-as-new between them.
import { performance } from 'node:perf_hooks';
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { canaryIntervalFor } from '../../core/canary-pace';
import { type DataStep, isStepFinished } from '../../core/data-plan';
import { canaryEnabled, type LoadControlConfig, resolveLoadControl } from '../../core/load-control-config';
import { completeTailWindows, type TailChunk, tailBaseline } from '../../core/foreground-tail';
import { type ControllerState, type Decision, decide, foregroundBaseline, foregroundTailWindowSize, foregroundWindowSize, type LoadSample, withCanaryBaseline, withForegroundBaseline, withForegroundTailBaseline } from '../../core/load-controller';
import { type RunOptions } from '../../core/run-options';
import { type BatchStats, emptyBatchStats, emptyPeakLoad, mergeBatchStats, type PeakLoad, raisePeak } from '../../core/run-report';
import { type MigrationMetrics } from '../../metrics/migration-metrics';
import { type Db } from '../../db/connect';
import { assertRunToken, FencedError } from '../../db/journal';
import { type MigrationRegistry } from '../migration-registry';
import { cancellableSleep, throwIfCancelled, whileHeartbeating, withCancellableConnection } from '../runtime/cancellable-statement';
import { withLockRetry } from '../runtime/lock-retry';
import { type Canary, withDedicatedCanary } from '../load/canary';
import { startCanarySampler } from '../load/canary-sampler';
import { collectTailChunks, type ForegroundObserver, TAIL_CHUNK_MS, type TailChunkCollector, withForegroundObserver } from '../load/foreground-observer';
import { createOwnXids } from '../load/own-xids';
import { readCheckpoint, type CheckpointState } from './checkpoint';
import { type DatabaseLoad, type LoadSource } from './load-source';
import { loadCreateRecordsRows, loadRowHandler } from './migration-code';
import { backupTableFor } from './prepare-data-step';
import { type BatchOutcome, needsTransaction, runBatch } from './run-batch';
import { readTableShape } from './table-shape';

export interface SliceInput {
  migrationId: string;
  runToken: string;
  file: string;
  step: DataStep;
  options: RunOptions;
  loadControl: LoadControlConfig;
  controller: ControllerState;
  sliceMs: number;
}

export interface SliceResult {
  checkpoint: CheckpointState;
  controller: ControllerState;
  /** The controller paused the step because of critical load. */
  throttled: boolean;
  reasons: string[];
  lastSample: LoadSample | null;
  batchesRun: number;
  /** Batch times of this slice, for the run report and the slow-batch alert. */
  batchStats: BatchStats;
  /** Peak load seen during this slice. */
  peakLoad: PeakLoad;
}

export interface SliceDeps {
  db: Db;
  registry: MigrationRegistry;
  loadSource: LoadSource;
  log: (message: string, fields?: Record<string, unknown>) => void;
  /** Every load-control decision, with its reasons (a debug-level log line: STOCKRX_LOG_LEVEL=debug). */
  logDecision?: (fields: Record<string, unknown>) => void;
  metrics?: MigrationMetrics;
}

/**
 * A lookup is quiet (measures the foreground without this migration, canary-sampler.ts) when it
 * begins this long after the last batch ended. Seconds, not milliseconds: a write-heavy batch's
 * wake (WAL to flush, dirty buffers, a checkpoint it brought forward) outlasts it, and in B2 a
 * baseline raised from lookups two seconds into a pause read 1.7 → 5.8 ms and let the step race.
 * Pauses this long only come from a controller that has backed off hard, which is where it needs
 * to know whether it is the cause.
 */
export const CANARY_QUIET_AFTER_MS = 3000;
/**
 * Canary baseline, once per step: three windows of lookups (canaryWindow, 100) at the sampler's
 * own rhythm (canaryIntervalMs; about 4.5 s at the defaults), reduced as the median of the three
 * windows' p99 — the controller's own statistic, measured the way the running canary is, so one
 * disturbed stretch (a checkpoint, an autovacuum pass) cannot set the budget for the whole step.
 * From a single window B2's baseline read 2.7 ms in one repetition and 9.3 ms in the next, and
 * the step crawled or raced accordingly; a faster burst (5 ms apart) read lower than the same
 * lookups 15 ms apart and made every step crawl.
 */
export const BASELINE_WINDOWS = 3;
export const baselineSamples = (config: Pick<LoadControlConfig, 'canaryWindow'>): number => BASELINE_WINDOWS * config.canaryWindow;

/**
 * The foreground's baseline (foreground-observer.ts) reads this many of its windows when the
 * traffic allows: after the canary's 4.5 s, the observer keeps watching until it has them or until
 * FOREGROUND_BASELINE_MAX_MS after the canary's baseline ended. The two windows that fit in 4.5 s at
 * B2's ~170 observed transactions a second drew 3.35 ms in one repetition and 2.53–2.79 ms in
 * the others, and that repetition's step held pgbench at 1.84× its p99 while reading itself within
 * budget: a baseline that reads high is never corrected (a re-measure needs long pauses, which a
 * step within its budget does not take). A database whose traffic cannot fill one window during
 * the canary's baseline is not waited for.
 */
export const FOREGROUND_BASELINE_WINDOWS = 5;
/**
 * 25 s: three of the tail baseline's windows (8,000 writers each at the defaults) fill in that
 * time for a foreground writing about 1,000 transactions a second. At 15 s (session 15) that took
 * 1,600 a second, and on a slower two-core machine (session 16) B2's own foreground, 1,400–1,900
 * a second beside the canary's baseline, never filled three: the p95 governed every repetition
 * and let pgbench's p99 reach 1.15–2.03× its baseline (BENCHMARKS.md, session 16).
 */
export const FOREGROUND_BASELINE_MAX_MS = 25_000;
/** The longest the baselines before a step's first batch take: the canary's, then the foreground's. */
export const preStepBaselineMaxMs = (config: Pick<LoadControlConfig, 'canaryWindow' | 'canaryIntervalMs'>): number =>
  baselineSamples(config) * config.canaryIntervalMs + FOREGROUND_BASELINE_MAX_MS;
/**
 * The tail count (foreground-tail.ts) governs only when its baseline read at least this many of its
 * windows (foregroundTailWindowSize) by FOREGROUND_BASELINE_MAX_MS:
 * from fewer, one disturbed stretch would set the budget for the step. A foreground writing less
 * than that (about 1,000 transactions a second at the defaults) is read by the p95 of its observed
 * transactions instead; B2's 2,500–3,000 fill four or five windows in the time.
 * Its windows are counted from the end of the canary's baseline: a lookup every 15 ms raised a fast
 * foreground's p99 1.15–1.24× (BENCHMARKS.md, session 11), and while the tail count governs the
 * canary looks four times less often (canary-pace.ts). A baseline that holds that cost grants the
 * step the same again on top of the budget.
 */
export const TAIL_BASELINE_MIN_WINDOWS = 3;

/** Database-side load is read at most this often (see `sample` below). */
export const DATABASE_SAMPLE_MS = 1000;

/** Rows examined before an eachBatch error rate is judged, so one early failure does not fail the step. */
const MIN_ROWS_FOR_ERROR_RATE = 100;

/**
 * The observer's evidence for the foreground's baselines: what it saw during the canary's baseline,
 * and more until FOREGROUND_BASELINE_WINDOWS windows of each reading or the deadline, if that
 * already filled one of either. `tail` is null when some drain could not count the tail.
 */
async function foregroundBaselineSamples(observer: ForegroundObserver, tailChunks: TailChunkCollector, window: number, tailWindow: number, deadline: number): Promise<{ seen: number[]; tail: TailChunk[] | null }> {
  const seen = observer.drain().samples;
  // The tail's evidence from here on only (TAIL_BASELINE_MIN_WINDOWS): the canary has stopped.
  const duringCanary = tailChunks.chunks();
  const from = duringCanary?.length ?? 0;
  const tailChunksSince = () => tailChunks.chunks()?.slice(from) ?? null;
  // Windows of the tail count as the baseline will split them (counted, not built: this runs
  // every TAIL_CHUNK_MS over every chunk so far).
  const tailWindows = () => completeTailWindows(tailChunksSince() ?? [], tailWindow);
  const tailDone = () => tailChunks.chunks() === null || tailWindows() >= FOREGROUND_BASELINE_WINDOWS;
  // Evidence enough to wait for: a window's worth of either.
  if (seen.length >= window || completeTailWindows(duringCanary ?? [], tailWindow) > 0) {
    while (!(seen.length >= FOREGROUND_BASELINE_WINDOWS * window && tailDone()) && Date.now() < deadline) {
      await cancellableSleep(Math.min(TAIL_CHUNK_MS, Math.max(1, deadline - Date.now())));
      seen.push(...observer.drain().samples);
    }
  }
  tailChunks.stop();
  return { seen, tail: tailChunksSince() };
}

export async function runDataSlice(deps: SliceDeps, input: SliceInput): Promise<SliceResult> {
  const { db } = deps;
  const { step } = input;
  const initial = await readCheckpoint(db, input.migrationId, step.index);
  if (!initial) throw ApplicationFailure.create({ message: `no checkpoint for step ${step.index + 1}: the step was not prepared`, nonRetryable: true });
  let checkpoint = initial;
  let state = input.controller;
  let lastSample: LoadSample | null = null;
  let reasons: string[] = [];
  let batchesRun = 0;
  let batchStats = emptyBatchStats();
  let peakLoad = emptyPeakLoad();
  const observeLoad = (s: LoadSample) => {
    peakLoad = raisePeak(peakLoad, s);
    deps.metrics?.load({ migrationId: input.migrationId, ...s });
  };
  if (isStepFinished(step, checkpoint)) return { checkpoint, controller: state, throttled: false, reasons, lastSample, batchesRun, batchStats, peakLoad };

  const shape = await readTableShape(db, step.table);
  const backup = backupTableFor(input.migrationId, step);
  const rows = step.kind === 'createRecords' ? await loadCreateRecordsRows(deps.registry, input.file, step) : undefined;
  const handler = step.kind === 'eachBatch' ? await loadRowHandler(deps.registry, input.file, step) : undefined;
  // The canary gets a connection of its own for the slice, so each lookup is one round trip.
  // latencyBudget 0 switches it off: nothing is measured that nothing would read.
  // Resolved: a run started before canaryIntervalMs existed carries no value for it.
  const { canaryIntervalMs, canaryWindow, foregroundIntervalMs } = resolveLoadControl(input.loadControl);
  let sliceStarted = Date.now();
  const withCanary = <T>(work: (canary: Canary | null) => Promise<T>): Promise<T> =>
    canaryEnabled(input.loadControl) ? withDedicatedCanary(db, step.table, shape.key[0]!.name, work, { commits: true, ownXids }) : work(null);
  // The foreground's own transactions (foreground-observer.ts), watched on a connection of their
  // own while the canary is; the budget needs neither when latencyBudget is 0.
  // The xids this slice spends (canary lookups, batches) are not the foreground's: own-xids.ts.
  const ownXids = createOwnXids();
  const withObserver = <T>(work: (observer: ForegroundObserver | null) => Promise<T>): Promise<T> =>
    withForegroundObserver(db, { intervalMs: canaryEnabled(input.loadControl) ? foregroundIntervalMs : 0, quietAfterMs: CANARY_QUIET_AFTER_MS, ownXids }, work);
  await withObserver((observer) => withCanary(async (canary) => {
    const returningOld = (await sql<{ v: number }>`SELECT current_setting('server_version_num')::int AS v`.execute(db)).rows[0]!.v >= 180000;
    if (canary && state.canaryBaselineMs === null) {
      const tailChunks = observer ? collectTailChunks(observer) : null;
      // Once per step, before its first batch (see BASELINE_WINDOWS). With 100 samples a window's
      // nearest-rank p99 is its second largest lookup, so one spike does not set it either. On an
      // idle machine a fast burst can read lower than the running canary; the budget's floor
      // (latencyBudgetMinMs) keeps that jitter from reading as harm.
      // Heartbeating: 300 lookups take 4.5 s and more, longer than a short heartbeat timeout.
      try {
        state = withCanaryBaseline(state, await whileHeartbeating(() => canary.baseline(baselineSamples({ canaryWindow }), { intervalMs: canaryIntervalMs, window: canaryWindow })));
        // The foreground's transactions that ended meanwhile and, when they filled a window, until
        // FOREGROUND_BASELINE_WINDOWS of them: reduced the same way over its (larger) windows, at its
        // own quantile (FOREGROUND_QUANTILE). Too few to fill one (an idle database, a trickle of
        // traffic): the canary alone. The tail count's baseline from what ends after the canary's
        // (TAIL_BASELINE_MIN_WINDOWS), over its own windows of writers, drained every TAIL_CHUNK_MS.
        const window = foregroundWindowSize({ canaryWindow });
        // At the step's own poll: what the poll costs the foreground is then in the baseline and in
        // every reading alike (load-control-config.ts: foregroundIntervalMs).
        const tailWindow = foregroundTailWindowSize({ canaryWindow, foregroundIntervalMs });
        const { seen, tail } = observer && tailChunks ? await foregroundBaselineSamples(observer, tailChunks, window, tailWindow, Date.now() + FOREGROUND_BASELINE_MAX_MS) : { seen: [], tail: null };
        state = withForegroundBaseline(state, seen.length >= window ? foregroundBaseline(seen, window) : null);
        state = withForegroundTailBaseline(state, tail === null ? null : tailBaseline(tail, tailWindow, TAIL_BASELINE_MIN_WINDOWS));
      } finally {
        tailChunks?.stop();
      }
    }
    // What ended before the first batch is not evidence about it.
    observer?.drain();
    observer?.drainTail();

    // Database-side load moves slowly (sessions, lock queues, replica lag) and reading it costs a
    // round trip and a scan of every backend's status, so it is read at most once per
    // DATABASE_SAMPLE_MS; host load is cached for a second too (host-load.ts). The canary, the
    // controller's measure of foreground latency, is timed continuously (canary-sampler.ts); each
    // decision gets every lookup timed since the previous one.
    let database: { at: number; value: DatabaseLoad } | null = null;
    const databaseLoad = async (): Promise<DatabaseLoad> => {
      if (database && performance.now() - database.at < DATABASE_SAMPLE_MS) return database.value;
      const value = await deps.loadSource.database(db);
      database = { at: performance.now(), value };
      return value;
    };
    // Every canaryIntervalMs, or less often while the tail count governs (canary-pace.ts).
    const sampler = canary ? startCanarySampler(canary, { intervalMs: canaryIntervalFor(state, { canaryIntervalMs }), quietAfterMs: CANARY_QUIET_AFTER_MS }) : null;
    const sample = async (batchMs: number, rowCount: number): Promise<LoadSample> => {
      const [host, load] = await Promise.all([deps.loadSource.host(), databaseLoad()]);
      const drained = sampler?.drain() ?? null;
      const seen = observer?.drain() ?? null;
      const tail = observer?.drainTail() ?? null;
      return {
        batchMs,
        rows: rowCount,
        ...host,
        ...load,
        canaryMs: drained?.samples.at(-1) ?? null,
        canarySamples: drained?.samples ?? null,
        canaryQuietSamples: drained?.quiet ?? null,
        foregroundSamples: seen?.samples ?? null,
        foregroundQuietSamples: seen?.quiet ?? null,
        foregroundTail: tail?.tail ?? null,
        foregroundQuietTail: tail?.quiet ?? null,
      };
    };

    // One decision: sample the load, record it, let the controller decide, export its reading.
    const judge = async (batchMs: number, rowCount: number): Promise<Decision> => {
      const taken = await sample(batchMs, rowCount);
      lastSample = taken;
      observeLoad(taken);
      const decision = decide(state, taken, input.loadControl);
      state = decision.state;
      reasons = decision.reasons;
      deps.logDecision?.({ action: decision.action, batchSize: state.batchSize, sleepMs: state.sleepMs, batchMs, rows: rowCount, reasons });
      if (state.lastReading) deps.metrics?.latency(input.migrationId, state.lastReading);
      return decision;
    };

    sliceStarted = Date.now();
    const deadline = sliceStarted + input.sliceMs;
    // A pause is taken before the next batch, not after the last one, and only while the slice
    // has time left: the slice returns right after a decision, and the next slice starts with the
    // pause its controller state owes. Its lookups are then drained by that slice's next sample.
    // Sleeping at the end of a slice threw them away (the sampler stops with the slice): once the
    // pause outgrew the slice, the controller never saw a lookup taken in a pause, quiet or not,
    // and a CI run's demo sat at 100 rows every 10 s for ten minutes.
    let owedSleepMs = state.paused ? 0 : state.sleepMs;
    const runBatches = async (conn: Db): Promise<void> => {
      while (Date.now() < deadline && !isStepFinished(step, checkpoint)) {
        if (owedSleepMs > 0) {
          deps.metrics?.throttled(input.migrationId, step.index, owedSleepMs / 1000);
          await cancellableSleep(owedSleepMs);
          owedSleepMs = 0;
        }
        throwIfCancelled();
        if (state.paused) {
          const decision = await judge(0, 0);
          if (decision.action === 'pause') {
            owedSleepMs = decision.sleepMs;
            continue;
          }
        }
        const started = performance.now();
        // Each attempt spends an xid, and eachBatch one per row's savepoint as well: counted up to the
        // batch size now, corrected to the rows it ran afterwards (own-xids.ts).
        const eachRowXids = step.kind === 'eachBatch' ? state.batchSize : 0;
        const batch = () => {
          ownXids.spend(1 + eachRowXids);
          return runBatch({
            conn,
            migrationId: input.migrationId,
            runToken: input.runToken,
            step,
            shape,
            backup,
            cursor: checkpoint.cursor,
            upper: checkpoint.upper,
            limit: state.batchSize,
            ...(rows ? { rows } : {}),
            ...(handler ? { handler } : {}),
            returningOld,
            log: deps.log,
          });
        };
        sampler?.batchStarted();
        observer?.batchStarted();
        const outcome: BatchOutcome = await withLockRetry(
          `step ${step.index + 1} (${step.label})`,
          async () => {
            try {
              // Single-statement kinds commit by themselves, fenced inside the statement
              // (batch-sql.ts): one round trip per batch.
              return needsTransaction(step) ? await inTransaction(conn, batch, input.migrationId, input.runToken) : await batch();
            } catch (error) {
              if (error instanceof FencedError) deps.log('batch rolled back: ' + error.message, { stepIndex: step.index });
              throw error;
            }
          },
          { budgetMs: input.options.lockWaitBudgetMs },
        ).finally(() => {
          sampler?.batchEnded();
          observer?.batchEnded();
        });
        const batchMs = performance.now() - started;
        if (step.kind === 'eachBatch') ownXids.spend(outcome.changed + outcome.rowErrors - eachRowXids);
        batchesRun += 1;
        checkpoint = {
          ...checkpoint,
          cursor: outcome.cursor,
          rowsDone: checkpoint.rowsDone + outcome.changed,
          rowsScanned: checkpoint.rowsScanned + outcome.scanned,
          rowErrors: checkpoint.rowErrors + outcome.rowErrors,
          batches: checkpoint.batches + 1,
        };
        if (step.kind === 'eachBatch') assertErrorRate(step, checkpoint);
        batchStats = mergeBatchStats(batchStats, { count: 1, totalMs: batchMs, minMs: batchMs, maxMs: batchMs });
        const decision = await judge(batchMs, outcome.changed + outcome.rowErrors);
        deps.metrics?.batch({ migrationId: input.migrationId, step: step.index, rows: outcome.changed, seconds: batchMs / 1000, batchSize: decision.batchSize, sleepMs: decision.sleepMs });
        owedSleepMs = decision.sleepMs;
      }
    };

    // One connection for all the slice's batches: no pool checkout and backend lookup per batch, and
    // a cancelled activity cancels whatever statement it is running (withCancellableConnection).
    try {
      await withCancellableConnection(db, async ({ conn }) => {
        // The slice's connection is ours alone, so its settings are made once for the session (and
        // reset before the connection returns to the pool) rather than with SET LOCAL in every batch.
        //
        // synchronous_commit = off: a batch's COMMIT does not wait for its WAL to reach disk. That
        // is safe here because a batch's change, its backup and its checkpoint are one transaction:
        // a database crash can lose only the last few batches *whole*, and the step resumes from
        // the durable checkpoint and redoes them — still no row applied twice. Anything the
        // workflow records as done afterwards (finishDataStep, the journal) commits synchronously,
        // and WAL is flushed in order, so it makes every earlier batch durable too. The foreground
        // loses nothing: its own commits still wait for their flush.
        await sql.raw(`SET lock_timeout = ${Math.floor(input.options.statementLockTimeoutMs)}; SET synchronous_commit = off`).execute(conn);
        try {
          await runBatches(conn);
        } finally {
          await sql.raw('RESET lock_timeout; RESET synchronous_commit').execute(conn).catch(() => undefined);
        }
      });
    } finally {
      await sampler?.stop();
    }
  }));
  checkpoint = (await readCheckpoint(db, input.migrationId, step.index)) ?? checkpoint;
  // This slice's own rate: the workflow smooths across slices for the progress query.
  const sliceSeconds = Math.max(0.001, (Date.now() - sliceStarted) / 1000);
  const rate = (checkpoint.rowsDone - initial.rowsDone) / sliceSeconds;
  deps.metrics?.progress({
    migrationId: input.migrationId,
    step: step.index,
    rowsDone: checkpoint.rowsDone,
    rowsTotal: checkpoint.rowsTotal,
    rowsPerSecond: rate,
    etaSeconds: rate > 0 ? Math.max(0, checkpoint.rowsTotal - checkpoint.rowsDone) / rate : null,
  });
  return { checkpoint, controller: state, throttled: state.paused, reasons, lastSample, batchesRun, batchStats, peakLoad };
}

/**
 * eachBatch's transaction. Its own fence check (the checkpoint UPDATE) read the run token in that
 * statement's snapshot, and the author's handler ran for a while before it; a new run may have
 * taken over meanwhile (or while this worker stalls before COMMIT). So the token is checked again
 * under a row lock, last: a newer run's token is either committed (we see it and roll back) or its
 * journalStart waits for our COMMIT.
 */
async function inTransaction(conn: Db, work: () => Promise<BatchOutcome>, migrationId: string, runToken: string): Promise<BatchOutcome> {
  await sql`BEGIN`.execute(conn);
  try {
    const result = await work();
    await assertRunToken(conn, migrationId, runToken, 'share');
    await sql`COMMIT`.execute(conn);
    return result;
  } catch (error) {
    await sql`ROLLBACK`.execute(conn).catch(() => undefined);
    throw error;
  }
}

function assertErrorRate(step: Extract<DataStep, { kind: 'eachBatch' }>, checkpoint: CheckpointState): void {
  const processed = checkpoint.rowsDone + checkpoint.rowErrors;
  if (processed < Math.min(MIN_ROWS_FOR_ERROR_RATE, checkpoint.rowsTotal) || processed === 0) return;
  const rate = (checkpoint.rowErrors / processed) * 100;
  if (rate > step.maxErrorRatePercent) {
    throw ApplicationFailure.create({
      message: `${checkpoint.rowErrors} of ${processed} rows failed (${rate.toFixed(1)} % > ${step.maxErrorRatePercent} %); see stockrx_migrate.row_errors`,
      type: 'ErrorRateExceeded',
      nonRetryable: true,
    });
  }
}
