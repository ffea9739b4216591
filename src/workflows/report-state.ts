// What the run report needs, accumulated by the workflow as steps run and carried across
// continue-as-new (plain JSON).
import { type Alert } from '../core/anomaly-rules';
import { type BatchStats, emptyBatchStats, emptyPeakLoad, mergeBatchStats, type PeakLoad, raisePeak, type RunReport, type StepReport } from '../core/run-report';

export interface ReportState {
  steps: StepReport[];
  batches: BatchStats;
  peakLoad: PeakLoad;
  errors: string[];
  /** Every alert notice of the run (firing and resolved). */
  alerts: Alert[];
}

export function emptyReportState(): ReportState {
  return { steps: [], batches: emptyBatchStats(), peakLoad: emptyPeakLoad(), errors: [], alerts: [] };
}

export function stepStarted(state: ReportState, step: { index: number; label: string; kind: string }, at: string): void {
  if (!state.steps.some((s) => s.index === step.index)) {
    state.steps.push({ index: step.index, label: step.label, kind: step.kind, startedAt: at, finishedAt: null, rows: null, rowErrors: null, batches: null });
  }
}

export function stepFinished(state: ReportState, index: number, at: string): void {
  const step = state.steps.find((s) => s.index === index);
  if (step) step.finishedAt = at;
}

export function sliceObserved(state: ReportState, index: number, slice: { rows: number; rowErrors: number; batches: BatchStats; peakLoad: PeakLoad }): void {
  state.batches = mergeBatchStats(state.batches, slice.batches);
  state.peakLoad = raisePeak(state.peakLoad, slice.peakLoad);
  const step = state.steps.find((s) => s.index === index);
  if (step) {
    step.rows = slice.rows;
    step.rowErrors = slice.rowErrors;
    step.batches = mergeBatchStats(step.batches ?? { count: 0, totalMs: 0, minMs: null, maxMs: null }, slice.batches);
  }
}

export function buildReport(
  state: ReportState,
  run: { migrationId: string; description: string; mode: 'up' | 'down'; workflowId: string; status: string; startedAt: string; finishedAt: string; compensated: boolean },
): RunReport {
  const durationSeconds = Math.max(0, (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000);
  const rows = state.steps.reduce((sum, s) => sum + (s.rows ?? 0), 0);
  return {
    ...run,
    durationSeconds,
    rows,
    rowsPerSecond: durationSeconds > 0 ? rows / durationSeconds : 0,
    rowErrors: state.steps.reduce((sum, s) => sum + (s.rowErrors ?? 0), 0),
    batches: state.batches,
    peakLoad: state.peakLoad,
    steps: state.steps,
    errors: state.errors,
    alerts: state.alerts,
  };
}
