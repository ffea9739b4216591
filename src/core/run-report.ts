// The JSON report written at the end of every run (log/migrations/<id>_<timestamp>.json): what
// ran, how long, how many rows at what rate, batch statistics, peak load, errors, alerts and the
// final status. Built from data the workflow already holds; pure.
import { type Alert } from './anomaly-rules';

export interface BatchStats {
  count: number;
  totalMs: number;
  minMs: number | null;
  maxMs: number | null;
}

export interface PeakLoad {
  cpuPercent: number | null;
  memoryPercent: number | null;
  activeBackends: number | null;
  lockWaiters: number | null;
  canaryMs: number | null;
}

export interface StepReport {
  index: number;
  label: string;
  kind: string;
  startedAt: string;
  finishedAt: string | null;
  rows: number | null;
  rowErrors: number | null;
  batches: BatchStats | null;
}

export interface RunReport {
  migrationId: string;
  description: string;
  mode: 'up' | 'down';
  workflowId: string;
  status: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  rows: number;
  rowsPerSecond: number;
  rowErrors: number;
  batches: BatchStats;
  peakLoad: PeakLoad;
  steps: StepReport[];
  errors: string[];
  alerts: Alert[];
  compensated: boolean;
}

export function emptyBatchStats(): BatchStats {
  return { count: 0, totalMs: 0, minMs: null, maxMs: null };
}

export function mergeBatchStats(a: BatchStats, b: BatchStats): BatchStats {
  const pick = (x: number | null, y: number | null, f: (p: number, q: number) => number) => (x === null ? y : y === null ? x : f(x, y));
  return { count: a.count + b.count, totalMs: a.totalMs + b.totalMs, minMs: pick(a.minMs, b.minMs, Math.min), maxMs: pick(a.maxMs, b.maxMs, Math.max) };
}

export function emptyPeakLoad(): PeakLoad {
  return { cpuPercent: null, memoryPercent: null, activeBackends: null, lockWaiters: null, canaryMs: null };
}

export function raisePeak(peak: PeakLoad, sample: Partial<Record<keyof PeakLoad, number | null>>): PeakLoad {
  const next = { ...peak };
  for (const key of Object.keys(next) as (keyof PeakLoad)[]) {
    const value = sample[key];
    if (typeof value === 'number' && Number.isFinite(value)) next[key] = next[key] === null ? value : Math.max(next[key]!, value);
  }
  return next;
}

export function reportFileName(migrationId: string, startedAt: string): string {
  return `${migrationId}_${startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.json`;
}
