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
import { type Db } from '../../db/connect';
import { type MigrationRegistry } from '../migration-registry';
import { cancellableSleep, throwIfCancelled, withCancellableConnection } from '../runtime/cancellable-statement';
import { withLockRetry } from '../runtime/lock-retry';
import { createCanary } from '../load/canary';
import { readCheckpoint, type CheckpointState } from './checkpoint';
import { type LoadSource } from './load-source';
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
}

export interface SliceDeps {
  db: Db;
  registry: MigrationRegistry;
  loadSource: LoadSource;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

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
  if (isStepFinished(step, checkpoint)) return { checkpoint, controller: state, throttled: false, reasons, lastSample, batchesRun };

  const shape = await readTableShape(db, step.table);
  const backup = backupTableFor(input.migrationId, step);
  const rows = step.kind === 'createRecords' ? await loadCreateRecordsRows(deps.registry, input.file, step) : undefined;
  const handler = step.kind === 'eachBatch' ? await loadRowHandler(deps.registry, input.file, step) : undefined;
  const canary = await createCanary(db, step.table, shape.key[0]!.name);
  if (state.canaryBaselineMs === null) state = withCanaryBaseline(state, await canary.baseline(15));

  const sample = async (batchMs: number, rowCount: number): Promise<LoadSample> => {
    const [host, database, canaryMs] = await Promise.all([deps.loadSource.host(), deps.loadSource.database(db), canary.measure()]);
    return { batchMs, rows: rowCount, ...host, ...database, canaryMs };
  };

  const deadline = Date.now() + input.sliceMs;
  while (Date.now() < deadline && !isStepFinished(step, checkpoint)) {
    throwIfCancelled();
    if (state.paused) {
      lastSample = await sample(0, 0);
      const decision = decide(state, lastSample, input.loadControl);
      state = decision.state;
      reasons = decision.reasons;
      if (decision.action === 'pause') {
        await cancellableSleep(decision.sleepMs);
        continue;
      }
    }
    const started = performance.now();
    const outcome: BatchOutcome = await withLockRetry(
      `step ${step.index + 1} (${step.label})`,
      () =>
        withCancellableConnection(db, async ({ conn }) => {
          await sql`BEGIN`.execute(conn);
          try {
            await sql.raw(`SET LOCAL lock_timeout = ${Math.floor(input.options.statementLockTimeoutMs)}`).execute(conn);
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
              log: deps.log,
            });
            await sql`COMMIT`.execute(conn);
            return result;
          } catch (error) {
            await sql`ROLLBACK`.execute(conn).catch(() => undefined);
            throw error;
          }
        }),
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
    lastSample = await sample(batchMs, outcome.changed + outcome.rowErrors);
    const decision = decide(state, lastSample, input.loadControl);
    state = decision.state;
    reasons = decision.reasons;
    if (!isStepFinished(step, checkpoint) && decision.sleepMs > 0) await cancellableSleep(decision.sleepMs);
  }
  checkpoint = (await readCheckpoint(db, input.migrationId, step.index)) ?? checkpoint;
  return { checkpoint, controller: state, throttled: state.paused, reasons, lastSample, batchesRun };
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
