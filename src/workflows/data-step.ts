// Runs one data step as a loop of slice activities: prepare (backup table, key range, checkpoint,
// compensation intent) → slices until the range is done → finish. Between slices it honours
// pause/resume, applies live load-control changes, and reports progress.
import { condition } from '@temporalio/workflow';
import { type DataStep, isStepFinished } from '../core/data-plan';
import { type LoadControlConfig } from '../core/load-control-config';
import { applyConfigChange, type ControllerState } from '../core/load-controller';
import { type RunOptions } from '../core/run-options';
import { stepActivities } from './activity-proxies';
import { type DataProgress, type MigrationProgress } from './definitions';

/** A slice runs batches for at most this long before reporting back. */
export const SLICE_MS = 5000;

export interface DataStepContext {
  migrationId: string;
  runToken: string;
  file: string;
  options: RunOptions;
  progress: MigrationProgress;
  control: { paused: boolean; loadControl: LoadControlConfig; controller: ControllerState; rowsPerSecond: number };
  touch(): void;
  /** True when the workflow should continue-as-new now (checked between slices). */
  shouldContinueAsNew(): boolean;
}

export type DataStepOutcome = 'done' | 'continue-as-new';

const RATE_ALPHA = 0.3;

export async function runDataStep(ctx: DataStepContext, step: DataStep): Promise<DataStepOutcome> {
  const activities = stepActivities(ctx.options);
  const input = { migrationId: ctx.migrationId, runToken: ctx.runToken, step, options: ctx.options };
  let checkpoint = await activities.prepareDataStep(input);
  const data: DataProgress = {
    stepIndex: step.index,
    rowsDone: checkpoint.rowsDone,
    rowsTotal: checkpoint.rowsTotal,
    batches: checkpoint.batches,
    rowErrors: checkpoint.rowErrors,
    batchSize: ctx.control.controller.batchSize,
    sleepMs: ctx.control.controller.sleepMs,
    rowsPerSecond: ctx.control.rowsPerSecond,
    etaSeconds: null,
    paused: ctx.control.paused,
    // After continue-as-new during a critical pause the carried controller is still paused: say so
    // from the first query on, not only after the next slice.
    throttled: ctx.control.controller.paused,
    reasons: [...ctx.control.controller.pauseReasons],
    lastSample: null,
    loadControl: ctx.control.loadControl,
  };
  ctx.progress.data = data;
  if (data.throttled && ctx.progress.status === 'running') ctx.progress.status = 'throttled';

  while (!checkpoint.done) {
    if (ctx.control.paused) {
      ctx.progress.status = 'paused';
      data.paused = true;
      ctx.touch();
      await condition(() => !ctx.control.paused);
      data.paused = false;
      ctx.progress.status = 'running';
      ctx.touch();
    }
    if (ctx.shouldContinueAsNew()) return 'continue-as-new';
    const started = Date.now();
    const sliceConfig = ctx.control.loadControl;
    const slice = await activities.runDataSlice({
      ...input,
      file: ctx.file,
      loadControl: sliceConfig,
      controller: ctx.control.controller,
      sliceMs: SLICE_MS,
    });
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    const sliceRate = (slice.checkpoint.rowsDone - checkpoint.rowsDone) / seconds;
    ctx.control.rowsPerSecond = ctx.control.rowsPerSecond === 0 ? sliceRate : RATE_ALPHA * sliceRate + (1 - RATE_ALPHA) * ctx.control.rowsPerSecond;
    // A setLoadControl update that arrived while the slice ran changed a controller state the
    // slice never saw: apply it again on top of the slice's state, or it would be lost.
    ctx.control.controller = applyConfigChange(slice.controller, sliceConfig, ctx.control.loadControl);
    checkpoint = slice.checkpoint;
    const finished = isStepFinished(step, checkpoint);
    Object.assign(data, {
      rowsDone: checkpoint.rowsDone,
      rowsTotal: checkpoint.rowsTotal,
      batches: checkpoint.batches,
      rowErrors: checkpoint.rowErrors,
      batchSize: slice.controller.batchSize,
      sleepMs: slice.controller.sleepMs,
      rowsPerSecond: ctx.control.rowsPerSecond,
      etaSeconds: ctx.control.rowsPerSecond > 0 ? Math.max(0, checkpoint.rowsTotal - checkpoint.rowsDone) / ctx.control.rowsPerSecond : null,
      throttled: slice.throttled,
      reasons: slice.reasons,
      lastSample: slice.lastSample,
      loadControl: ctx.control.loadControl,
    });
    ctx.progress.status = slice.throttled ? 'throttled' : 'running';
    ctx.touch();
    if (finished) break;
  }
  await activities.finishDataStep(input);
  return 'done';
}
