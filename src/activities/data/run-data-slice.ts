// A data step runs as a sequence of slices: each slice is one activity that runs batches for a
// bounded time (heartbeating), consulting the load controller after every batch, and returns the
// checkpoint and controller state to the workflow. Short slices keep pause, resume and live
// load-control changes responsive and let the workflow continue-as-new between them.
import { performance } from 'node:perf_hooks';
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { type DataStep, isStepFinished } from '../../core/data-plan';
import { type LoadControlConfig } from '../../core/load-control-config';
import { type ControllerState, decide, type LoadSample, withCanaryBaseline } from '../../core/load-controller';
import { type RunOptions } from '../../core/run-options';
import { type BatchStats, emptyBatchStats, emptyPeakLoad, mergeBatchStats, type PeakLoad, raisePeak } from '../../core/run-report';
import { type MigrationMetrics } from '../../metrics/migration-metrics';
import { type Db } from '../../db/connect';
import { assertRunToken, FencedError } from '../../db/journal';
import { type MigrationRegistry } from '../migration-registry';
import { cancellableSleep, throwIfCancelled, withCancellableConnection } from '../runtime/cancellable-statement';
import { withLockRetry } from '../runtime/lock-retry';
import { createCanary } from '../load/canary';
import { readCheckpoint, type CheckpointState } from './checkpoint';
import { type DatabaseLoad, type LoadSource } from './load-source';
import { loadCreateRecordsRows, loadRowHandler } from './migration-code';
import { backupTableFor } from './prepare-data-step';
import { type BatchOutcome, runBatch } from './run-batch';
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
  metrics?: MigrationMetrics;
}

/** Canary baseline: 2 windows of 20 lookups, 40 ms apart: about 1.6 s, once per step. */
export const BASELINE_SAMPLES = 40;
export const BASELINE_WINDOW = 20;
export const BASELINE_INTERVAL_MS = 40;

/** Database-side load is read at most this often (see `sample` below). */
export const DATABASE_SAMPLE_MS = 1000;

/** Rows examined before an eachBatch error rate is judged, so one early failure does not fail the step. */
const MIN_ROWS_FOR_ERROR_RATE = 100;

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
  const canary = await createCanary(db, step.table, shape.key[0]!.name);
  const returningOld = (await sql<{ v: number }>`SELECT current_setting('server_version_num')::int AS v`.execute(db)).rows[0]!.v >= 180000;
  if (state.canaryBaselineMs === null) {
    // Once per step, before its first batch: BASELINE_SAMPLES lookups spaced like the running
    // canary's, reduced as the median of several windows' p99 — the statistic the controller
    // compares with the budget, measured the same way. A burst of lookups 10 ms apart (as before)
    // reads lower than the same lookup a few hundred ms apart on an idle machine (hot caches and
    // CPU): against such a baseline ordinary jitter looks like a blown budget, and the controller
    // backs off to its floor and stays there (the demo's 25k-row update sat at batch 100 with
    // 10 s pauses on a quiet machine). One spike in a burst is also outvoted by the median.
    state = withCanaryBaseline(state, await canary.baseline(BASELINE_SAMPLES, { intervalMs: BASELINE_INTERVAL_MS, window: BASELINE_WINDOW }));
  }

  // Database-side load moves slowly (sessions, lock queues, replica lag) and reading it costs a
  // round trip and a scan of every backend's status, so it is read at most once per
  // DATABASE_SAMPLE_MS; host load is cached for a second too (host-load.ts). The canary, the
  // controller's measure of foreground latency, is timed for every batch, while the batch runs.
  let database: { at: number; value: DatabaseLoad } | null = null;
  const databaseLoad = async (): Promise<DatabaseLoad> => {
    if (database && performance.now() - database.at < DATABASE_SAMPLE_MS) return database.value;
    const value = await deps.loadSource.database(db);
    database = { at: performance.now(), value };
    return value;
  };
  const sample = async (batchMs: number, rowCount: number, canaryDuringBatch?: Promise<number>): Promise<LoadSample> => {
    const [host, load, canaryMs] = await Promise.all([deps.loadSource.host(), databaseLoad(), canaryDuringBatch ?? canary.measure()]);
    return { batchMs, rows: rowCount, ...host, ...load, canaryMs };
  };

  const sliceStarted = Date.now();
  const deadline = sliceStarted + input.sliceMs;
  // One connection for all the slice's batches: no pool checkout and backend lookup per batch, and
  // a cancelled activity cancels whatever statement it is running (withCancellableConnection).
  await withCancellableConnection(db, async ({ conn }) => {
    while (Date.now() < deadline && !isStepFinished(step, checkpoint)) {
      throwIfCancelled();
      if (state.paused) {
        lastSample = await sample(0, 0);
        observeLoad(lastSample);
        const decision = decide(state, lastSample, input.loadControl);
        state = decision.state;
        reasons = decision.reasons;
        if (decision.action === 'pause') {
          deps.metrics?.throttled(input.migrationId, step.index, decision.sleepMs / 1000);
          await cancellableSleep(decision.sleepMs);
          continue;
        }
      }
      const started = performance.now();
      // The canary lookup runs on another connection while the batch runs: that is when the
      // foreground competes with the batch (CPU, WAL, buffer locks), and it adds no wait of its own
      // between batches. Handled here so a failing batch leaves no unhandled rejection behind.
      const canaryDuringBatch = canary.measure();
      canaryDuringBatch.catch(() => undefined);
      const outcome: BatchOutcome = await withLockRetry(
        `step ${step.index + 1} (${step.label})`,
        async () => {
          // One round trip (simple protocol, two statements) opens the batch's transaction.
          await sql.raw(`BEGIN; SET LOCAL lock_timeout = ${Math.floor(input.options.statementLockTimeoutMs)}`).execute(conn);
          try {
            const result = await runBatch({
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
            // The batch's own fence check read the run token in its statement's snapshot, taken
            // when the statement started; a new run may have taken over while it ran (or while
            // this worker stalled before COMMIT). Check again under a row lock, last: a newer
            // run's token is either committed (we see it and roll back) or its journalStart waits
            // for our COMMIT.
            await assertRunToken(conn, input.migrationId, input.runToken, 'share');
            await sql`COMMIT`.execute(conn);
            return result;
          } catch (error) {
            await sql`ROLLBACK`.execute(conn).catch(() => undefined);
            if (error instanceof FencedError) deps.log('batch rolled back: ' + error.message, { stepIndex: step.index });
            throw error;
          }
        },
        { budgetMs: input.options.lockWaitBudgetMs },
      );
      const batchMs = performance.now() - started;
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
      lastSample = await sample(batchMs, outcome.changed + outcome.rowErrors, canaryDuringBatch);
      observeLoad(lastSample);
      const decision = decide(state, lastSample, input.loadControl);
      state = decision.state;
      reasons = decision.reasons;
      deps.metrics?.batch({ migrationId: input.migrationId, step: step.index, rows: outcome.changed, seconds: batchMs / 1000, batchSize: decision.batchSize, sleepMs: decision.sleepMs });
      if (!isStepFinished(step, checkpoint) && decision.sleepMs > 0) {
        deps.metrics?.throttled(input.migrationId, step.index, decision.sleepMs / 1000);
        await cancellableSleep(decision.sleepMs);
      }
    }
  });
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
