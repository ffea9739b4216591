// Prometheus metrics of the worker, all prefixed `stockrx_`. Activities record into this object;
// the worker serves it on /metrics next to the Temporal SDK's own runtime metrics.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type LatencyReading } from '../core/load-controller';

export interface BatchObservation {
  migrationId: string;
  step: number;
  rows: number;
  seconds: number;
  batchSize: number;
  sleepMs: number;
}

export interface ProgressObservation {
  migrationId: string;
  step: number;
  rowsDone: number;
  rowsTotal: number;
  rowsPerSecond: number;
  etaSeconds: number | null;
}

export interface LoadObservation {
  migrationId: string;
  cpuPercent: number;
  memoryPercent: number;
  activeBackends: number;
  lockWaiters: number;
  canaryMs: number | null;
}

export type MigrationMetrics = ReturnType<typeof createMigrationMetrics>;

export function createMigrationMetrics(registry = new Registry()) {
  const labels = ['migration', 'step'] as const;
  const rows = new Counter({ name: 'stockrx_rows_processed_total', help: 'Rows changed by data steps', labelNames: labels, registers: [registry] });
  const batches = new Counter({ name: 'stockrx_batches_total', help: 'Batches committed by data steps', labelNames: labels, registers: [registry] });
  const batchSeconds = new Histogram({
    name: 'stockrx_batch_duration_seconds',
    help: 'Wall time of one batch (one transaction)',
    labelNames: labels,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const batchSize = new Gauge({ name: 'stockrx_batch_size', help: 'Rows per batch chosen by the load controller', labelNames: labels, registers: [registry] });
  const pause = new Gauge({ name: 'stockrx_pause_seconds', help: 'Pause between batches chosen by the load controller', labelNames: labels, registers: [registry] });
  const throttle = new Counter({ name: 'stockrx_throttle_seconds_total', help: 'Time spent pausing between batches or throttled by critical load', labelNames: labels, registers: [registry] });
  const progress = new Gauge({ name: 'stockrx_progress_ratio', help: 'Rows done / rows total of the running data step', labelNames: labels, registers: [registry] });
  const rowsTotal = new Gauge({ name: 'stockrx_rows_total', help: 'Rows the running data step will process', labelNames: labels, registers: [registry] });
  const rate = new Gauge({ name: 'stockrx_rows_per_second', help: 'Smoothed recent rows per second', labelNames: labels, registers: [registry] });
  const eta = new Gauge({ name: 'stockrx_eta_seconds', help: 'Estimated seconds until the running data step ends', labelNames: labels, registers: [registry] });
  const cpu = new Gauge({ name: 'stockrx_host_cpu_percent', help: 'Worker host CPU use seen by the load controller', labelNames: ['migration'], registers: [registry] });
  const memory = new Gauge({ name: 'stockrx_host_memory_percent', help: 'Worker host memory use seen by the load controller', labelNames: ['migration'], registers: [registry] });
  const backends = new Gauge({ name: 'stockrx_db_active_backends', help: 'Active database backends (pg_stat_activity)', labelNames: ['migration'], registers: [registry] });
  const waiters = new Gauge({ name: 'stockrx_db_lock_waiters', help: 'Sessions waiting on a lock (pg_stat_activity)', labelNames: ['migration'], registers: [registry] });
  const canary = new Gauge({ name: 'stockrx_canary_latency_seconds', help: 'Latest foreground canary lookup latency', labelNames: ['migration'], registers: [registry] });
  const latencyReading = new Gauge({
    name: 'stockrx_latency_reading_seconds',
    help: "The latency budget's last judged reading: the foreground's own transactions (p99 by tail count, or p95 of a window) or the canary's lookups (p99)",
    labelNames: ['migration', 'source'],
    registers: [registry],
  });
  const latencyLimit = new Gauge({ name: 'stockrx_latency_limit_seconds', help: 'What the latency budget allows that reading: latencyBudget × its baseline', labelNames: ['migration'], registers: [registry] });
  const alerts = new Counter({ name: 'stockrx_alerts_total', help: 'Alerts raised, by rule and severity', labelNames: ['migration', 'rule', 'severity'], registers: [registry] });
  const compensations = new Counter({ name: 'stockrx_compensations_total', help: 'Compensations (undo of a step) run', labelNames: ['migration', 'outcome'], registers: [registry] });

  return {
    registry,
    batch(o: BatchObservation) {
      const l = { migration: o.migrationId, step: String(o.step) };
      rows.inc(l, o.rows);
      batches.inc(l);
      batchSeconds.observe(l, o.seconds);
      batchSize.set(l, o.batchSize);
      pause.set(l, o.sleepMs / 1000);
    },
    throttled(migrationId: string, step: number, seconds: number) {
      if (seconds > 0) throttle.inc({ migration: migrationId, step: String(step) }, seconds);
    },
    progress(o: ProgressObservation) {
      const l = { migration: o.migrationId, step: String(o.step) };
      progress.set(l, o.rowsTotal > 0 ? Math.min(1, o.rowsDone / o.rowsTotal) : 1);
      rowsTotal.set(l, o.rowsTotal);
      rate.set(l, o.rowsPerSecond);
      if (o.etaSeconds !== null) eta.set(l, o.etaSeconds);
    },
    load(o: LoadObservation) {
      const l = { migration: o.migrationId };
      if (Number.isFinite(o.cpuPercent)) cpu.set(l, o.cpuPercent);
      if (Number.isFinite(o.memoryPercent)) memory.set(l, o.memoryPercent);
      backends.set(l, o.activeBackends);
      waiters.set(l, o.lockWaiters);
      if (o.canaryMs !== null) canary.set(l, o.canaryMs / 1000);
    },
    latency(migrationId: string, reading: LatencyReading) {
      // One source at a time: the other's series would otherwise keep its last value forever.
      for (const source of ['foreground', 'canary']) if (source !== reading.source) latencyReading.remove({ migration: migrationId, source });
      latencyReading.set({ migration: migrationId, source: reading.source }, reading.valueMs / 1000);
      latencyLimit.set({ migration: migrationId }, reading.limitMs / 1000);
    },
    alert(migrationId: string, rule: string, severity: string) {
      alerts.inc({ migration: migrationId, rule, severity });
    },
    compensation(migrationId: string, outcome: string) {
      compensations.inc({ migration: migrationId, outcome });
    },
  };
}
