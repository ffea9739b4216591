// Runs one data step as a loop of slice activities: prepare (backup table, key range, checkpoint,
// compensation intent) → slices until the range is done → finish. Between slices it honours
// pause/resume, applies live load-control changes, and reports progress.
import { condition } from '@temporalio/workflow';
import { type AnomalyConfig, type Observation } from '../core/anomaly-rules';
import { type DataStep, isStepFinished } from '../core/data-plan';
import { MONITOR_DEFAULTS } from '../core/defaults';
import { type LoadControlConfig } from '../core/load-control-config';
import { applyConfigChange, type ControllerState } from '../core/load-controller';
import { type RunOptions } from '../core/run-options';
import { stepActivities } from './activity-proxies';
import { type DataProgress, type MigrationProgress, type StepClock } from './definitions';
import { type Monitor } from './monitor';
import { type ReportState, sliceObserved } from './report-state';

/** A slice runs batches for at most this long before reporting back. */
export const SLICE_MS = 5000;

export interface DataStepContext {
  migrationId: string;
  runToken: string;
  file: string;
  options: RunOptions;
  progress: MigrationProgress;
  /** `clock`: the running step's monitoring clock, null between steps (carried across continue-as-new). */
  control: { paused: boolean; loadControl: LoadControlConfig; controller: ControllerState; rowsPerSecond: number; clock: StepClock | null };
  touch(): void;
  /** True when the workflow should continue-as-new now (checked between slices). */
  shouldContinueAsNew(): boolean;
  monitor: Monitor;
  report: ReportState;
  anomalies: AnomalyConfig;
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
  // A run started by continue-as-new continues the step's clock: restarting it would restart the
  // rate rules' warm-up and forget how long the step has gone without progress.
  const clock = (ctx.control.clock ??= { startedAt: Date.now(), lastProgressAt: Date.now() });
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
    const running = activities.runDataSlice({
      ...input,
      file: ctx.file,
      loadControl: sliceConfig,
      controller: ctx.control.controller,
      sliceMs: SLICE_MS,
    });
    // Watchdog: a workflow timer notices a slice that stopped making progress (a hung batch, a
    // lost worker), even though the activity itself cannot report anything while it hangs.
    let settled = false;
    running.then(
      () => (settled = true),
      () => (settled = true),
    );
    while (!settled) {
      if (await condition(() => settled, watchdogIntervalMs(ctx.anomalies))) break;
      ctx.monitor.observe(observation(ctx, data, { at: Date.now(), recent: null, lastBatchMs: null }), clock.startedAt);
      ctx.touch();
    }
    const slice = await running;
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    const sliceRate = (slice.checkpoint.rowsDone - checkpoint.rowsDone) / seconds;
    if (slice.batchesRun > 0) clock.lastProgressAt = Date.now();
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
      latency: slice.controller.lastReading ?? null,
      loadControl: ctx.control.loadControl,
    });
    ctx.progress.status = slice.throttled ? 'throttled' : 'running';
    sliceObserved(ctx.report, step.index, { rows: checkpoint.rowsDone, rowErrors: checkpoint.rowErrors, batches: slice.batchStats, peakLoad: slice.peakLoad });
    // The last slice ends when the rows run out, not at its deadline: a short tail's rate mostly
    // measures the slice's fixed start-up cost, so it is no evidence that the rate dropped.
    const recent = slice.batchesRun > 0 && !finished ? sliceRate : null;
    ctx.monitor.observe(observation(ctx, data, { at: Date.now(), recent, lastBatchMs: slice.batchStats.maxMs }), clock.startedAt);
    ctx.touch();
    if (finished) break;
  }
  await activities.finishDataStep(input);
  ctx.monitor.resolveAll();
  ctx.control.clock = null;
  return 'done';

  function observation(c: DataStepContext, d: DataProgress, o: { at: number; recent: number | null; lastBatchMs: number | null }): Observation {
    return {
      at: o.at,
      rowsProcessed: d.rowsDone + d.rowErrors,
      rowErrors: d.rowErrors,
      smoothedRowsPerSecond: c.control.rowsPerSecond,
      recentRowsPerSecond: o.recent,
      expectingProgress: !c.control.paused,
      lastProgressAt: clock.lastProgressAt,
      cpuPercent: d.lastSample?.cpuPercent ?? null,
      memoryPercent: d.lastSample?.memoryPercent ?? null,
      lastBatchMs: o.lastBatchMs,
    };
  }
}

/** How often the watchdog looks at a running slice: often enough to catch a stall on time. */
function watchdogIntervalMs(config: AnomalyConfig): number {
  return Math.max(1000, Math.min(MONITOR_DEFAULTS.checkIntervalMs, Math.floor(config.stalledAfterMs / 3)));
}
