// Renders a migration's progress as one line: a bar for data steps (%, rows, rate, ETA, batch,
// pause, load, the latency budget's reading, alerts) or the current step for schema steps. Pure, so it is unit-tested.
import { type MigrationProgress } from '../workflows/definitions';

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  return String(Math.round(n));
}

export function renderProgress(p: MigrationProgress, width = 24): string {
  const step = p.current ? `step ${p.current.stepIndex + 1}/${p.stepCount} ${p.current.label}` : `${p.stepsDone}/${p.stepCount} steps`;
  const head = `${p.migrationId} ${p.status}`;
  const alerts = (p.alerts ?? []).filter((a) => a.state === 'firing');
  const alertText = alerts.length > 0 ? ` ⚠ ${alerts.map((a) => a.rule).join(',')}` : '';
  const d = p.data;
  if (!d) return `${head} · ${step}${p.error ? ` · ${p.error}` : ''}${alertText}`;
  const ratio = d.rowsTotal > 0 ? Math.min(1, d.rowsDone / d.rowsTotal) : 1;
  const filled = Math.round(ratio * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const load = d.lastSample
    ? ` cpu ${Math.round(d.lastSample.cpuPercent)}% mem ${Math.round(d.lastSample.memoryPercent)}%${d.lastSample.canaryMs !== null ? ` canary ${d.lastSample.canaryMs.toFixed(1)}ms` : ''}`
    : '';
  const budget = d.latency ? ` ${d.latency.source} ${d.latency.statistic} ${d.latency.valueMs.toFixed(1)}/${d.latency.limitMs.toFixed(1)}ms` : '';
  return (
    `${head} ${bar} ${(ratio * 100).toFixed(1)}% ${formatCount(d.rowsDone)}/${formatCount(d.rowsTotal)} rows ` +
    `${formatCount(d.rowsPerSecond)}/s ETA ${formatDuration(d.etaSeconds)} batch ${d.batchSize} pause ${d.sleepMs}ms${load}${budget}` +
    `${d.throttled ? ` THROTTLED (${d.reasons.join('; ')})` : ''}${alertText}`
  );
}
