// The seed's MigrationMonitor rules as a pure function: observations in, alerts out. Each rule
// fires once per episode and sends one "resolved" notice when it clears, so a flapping signal
// cannot cause an alert storm. Thresholds default to the seed's monitor settings.
import { MONITOR_DEFAULTS } from './defaults';

export type AlertRule = 'error_rate' | 'stalled' | 'slow_progress' | 'rate_drop' | 'high_cpu' | 'high_memory' | 'slow_batch';
export type AlertSeverity = 'warning' | 'critical';

export const ALERT_SEVERITY: Readonly<Record<AlertRule, AlertSeverity>> = {
  error_rate: 'critical',
  stalled: 'critical',
  slow_progress: 'warning',
  rate_drop: 'warning',
  high_cpu: 'warning',
  high_memory: 'warning',
  slow_batch: 'warning',
};

export interface AnomalyConfig {
  errorRatePercent: number;
  stalledAfterMs: number;
  /** Fewer rows per second than this (while rows are being processed) is a warning. */
  minRowsPerSecond: number;
  /** A recent rate below this fraction of the smoothed rate is a warning. */
  rateDropFraction: number;
  cpuAlertPercent: number;
  memoryAlertPercent: number;
  slowBatchMs: number;
}

export const DEFAULT_ANOMALY_CONFIG: Readonly<AnomalyConfig> = Object.freeze({
  errorRatePercent: MONITOR_DEFAULTS.errorRatePercent,
  stalledAfterMs: MONITOR_DEFAULTS.stalledAfterMs,
  minRowsPerSecond: 1,
  rateDropFraction: 0.5,
  cpuAlertPercent: MONITOR_DEFAULTS.cpuAlertPercent,
  memoryAlertPercent: MONITOR_DEFAULTS.memoryAlertPercent,
  slowBatchMs: MONITOR_DEFAULTS.slowBatchMs,
});

/** The defaults with a migration's `monitor: {...}` overrides (unknown keys were refused at plan time). */
export function resolveAnomalyConfig(overrides: Readonly<Record<string, number>>): AnomalyConfig {
  const config: AnomalyConfig = { ...DEFAULT_ANOMALY_CONFIG };
  for (const key of Object.keys(config) as (keyof AnomalyConfig)[]) {
    const value = overrides[key];
    if (typeof value === 'number' && Number.isFinite(value)) config[key] = value;
  }
  return config;
}

export const ANOMALY_KEYS = Object.keys(DEFAULT_ANOMALY_CONFIG) as readonly (keyof AnomalyConfig)[];

/**
 * What the monitor knows at one moment. Null means "not known now": it neither fires a rule nor
 * resolves one. (The watchdog looks at a running slice and knows no batch time or recent rate; if
 * that ended a slow-batch or rate-drop episode, the next slice would fire it again, every slice.)
 */
export interface Observation {
  /** Epoch ms. */
  at: number;
  /** Rows attempted in the current data step and how many of them failed. */
  rowsProcessed: number | null;
  rowErrors: number | null;
  /** Smoothed rows/s and the rate of the latest slice. */
  smoothedRowsPerSecond: number | null;
  recentRowsPerSecond: number | null;
  /** Rows are meant to flow now (a data step running, not paused by the operator). */
  expectingProgress: boolean;
  /** Epoch ms of the last observed progress (a finished batch, slice or step). */
  lastProgressAt: number;
  cpuPercent: number | null;
  memoryPercent: number | null;
  lastBatchMs: number | null;
}

export interface Alert {
  rule: AlertRule;
  severity: AlertSeverity;
  state: 'firing' | 'resolved';
  message: string;
  value: number;
  threshold: number;
  /** Epoch ms when the episode started (the same on the firing and the resolved notice). */
  since: number;
  at: number;
}

export type AnomalyState = Partial<Record<AlertRule, Alert>>;

/** Row errors are judged only after this many rows, so one early failure is not a 100 % rate. */
export const MIN_ROWS_FOR_ERROR_RATE = 100;
/** The rate rules wait until the smoothed rate has this many seconds of history behind it. */
export const RATE_WARMUP_MS = 30_000;

type Check = { value: number; threshold: number; message: string } | null;

function checks(o: Observation, c: AnomalyConfig, startedAt: number): Record<AlertRule, Check> {
  const known = (v: number | null): v is number => v !== null && Number.isFinite(v);
  const errorRate = known(o.rowsProcessed) && known(o.rowErrors) && o.rowsProcessed >= MIN_ROWS_FOR_ERROR_RATE ? (o.rowErrors / o.rowsProcessed) * 100 : null;
  const idleMs = o.at - o.lastProgressAt;
  const warmedUp = o.at - startedAt >= RATE_WARMUP_MS;
  return {
    error_rate: errorRate !== null && errorRate > c.errorRatePercent
      ? { value: errorRate, threshold: c.errorRatePercent, message: `error rate ${errorRate.toFixed(1)} % is over ${c.errorRatePercent} %` }
      : null,
    stalled: o.expectingProgress && idleMs > c.stalledAfterMs
      ? { value: idleMs, threshold: c.stalledAfterMs, message: `no progress for ${Math.round(idleMs / 1000)} s` }
      : null,
    slow_progress: o.expectingProgress && warmedUp && known(o.smoothedRowsPerSecond) && o.smoothedRowsPerSecond < c.minRowsPerSecond
      ? { value: o.smoothedRowsPerSecond, threshold: c.minRowsPerSecond, message: `only ${o.smoothedRowsPerSecond.toFixed(2)} rows/s` }
      : null,
    rate_drop: o.expectingProgress && warmedUp && known(o.smoothedRowsPerSecond) && known(o.recentRowsPerSecond) && o.smoothedRowsPerSecond > 0 &&
      o.recentRowsPerSecond < o.smoothedRowsPerSecond * c.rateDropFraction
      ? { value: o.recentRowsPerSecond, threshold: o.smoothedRowsPerSecond * c.rateDropFraction, message: `rate fell to ${o.recentRowsPerSecond.toFixed(0)} rows/s from a smoothed ${o.smoothedRowsPerSecond.toFixed(0)}` }
      : null,
    high_cpu: known(o.cpuPercent) && o.cpuPercent > c.cpuAlertPercent
      ? { value: o.cpuPercent, threshold: c.cpuAlertPercent, message: `CPU at ${o.cpuPercent.toFixed(0)} %` }
      : null,
    high_memory: known(o.memoryPercent) && o.memoryPercent > c.memoryAlertPercent
      ? { value: o.memoryPercent, threshold: c.memoryAlertPercent, message: `memory at ${o.memoryPercent.toFixed(0)} %` }
      : null,
    slow_batch: known(o.lastBatchMs) && o.lastBatchMs > c.slowBatchMs
      ? { value: o.lastBatchMs, threshold: c.slowBatchMs, message: `a batch took ${(o.lastBatchMs / 1000).toFixed(1)} s` }
      : null,
  };
}

/** Rules whose inputs this observation does not know: their episodes stay as they are. */
function unknownRules(o: Observation): Set<AlertRule> {
  const unknown = (v: number | null) => v === null || !Number.isFinite(v);
  const rules = new Set<AlertRule>();
  if (unknown(o.rowsProcessed) || unknown(o.rowErrors)) rules.add('error_rate');
  if (unknown(o.smoothedRowsPerSecond)) rules.add('slow_progress').add('rate_drop');
  if (unknown(o.recentRowsPerSecond)) rules.add('rate_drop');
  if (unknown(o.cpuPercent)) rules.add('high_cpu');
  if (unknown(o.memoryPercent)) rules.add('high_memory');
  if (unknown(o.lastBatchMs)) rules.add('slow_batch');
  return rules;
}

export interface Evaluation {
  state: AnomalyState;
  /** New firing alerts and resolved notices, in rule order. */
  notices: Alert[];
}

/** `startedAt`: when monitoring of this step began (rate rules need warm-up). */
export function evaluateAnomalies(state: AnomalyState, observation: Observation, config: AnomalyConfig, startedAt: number): Evaluation {
  const next: AnomalyState = { ...state };
  const notices: Alert[] = [];
  const results = checks(observation, config, startedAt);
  const unknown = unknownRules(observation);
  for (const rule of Object.keys(results) as AlertRule[]) {
    if (unknown.has(rule)) continue;
    const check = results[rule];
    const active = state[rule];
    if (check && !active) {
      const alert: Alert = { rule, severity: ALERT_SEVERITY[rule], state: 'firing', ...check, since: observation.at, at: observation.at };
      next[rule] = alert;
      notices.push(alert);
    } else if (!check && active) {
      delete next[rule];
      notices.push({ ...active, state: 'resolved', message: `resolved: ${active.message}`, at: observation.at });
    }
  }
  return { state: next, notices };
}

/** Resolves every open episode, e.g. when a step ends. */
export function resolveAll(state: AnomalyState, at: number): Evaluation {
  const notices = Object.values(state).map((a) => ({ ...a, state: 'resolved' as const, message: `resolved: ${a.message}`, at }));
  return { state: {}, notices };
}
