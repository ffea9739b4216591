// How often the running canary looks (canary-sampler.ts). Its lookups are not free: each commits
// an xid and waits for the WAL flush like a writing foreground transaction does, and on B2's two
// cores a lookup every 15 ms raised a fast pgbench's p99 1.15–1.24× (BENCHMARKS.md, session 11), a
// third of what the 1.5× budget allows in all. While the tail count governs (its baseline
// was measured before the step), the foreground's own transactions are the reading and the canary
// is only the backstop: its critical level for a foreground blocked outright (which finishes no
// transactions to count), and the reading for a tail window that cannot be read. Neither needs a
// lookup every 15 ms, so it looks CANARY_BACKSTOP_STRETCH times less often. Before the step (its
// baseline) and whenever the canary or the p95 governs, it keeps canaryIntervalMs.
import { type LoadControlConfig } from './load-control-config';
import { type ControllerState } from './load-controller';

/**
 * 4: at the default 15 ms, a lookup every 60 ms; a window of 100 (what the critical level is judged
 * on) fills in 6 s instead of 1.5 s, and a blocked foreground is still caught within seconds.
 */
export const CANARY_BACKSTOP_STRETCH = 4;
/** The stretched interval never exceeds this: a window must still fill within a minute. */
export const CANARY_BACKSTOP_MAX_MS = 600;

/** The canary's interval for a slice that starts from `state`, ms. */
export function canaryIntervalFor(state: Pick<ControllerState, 'foregroundTailBaselineMs'>, config: Pick<LoadControlConfig, 'canaryIntervalMs'>): number {
  const interval = config.canaryIntervalMs;
  const tailGoverns = typeof state.foregroundTailBaselineMs === 'number' && state.foregroundTailBaselineMs > 0;
  if (!tailGoverns) return interval;
  return Math.max(interval, Math.min(interval * CANARY_BACKSTOP_STRETCH, CANARY_BACKSTOP_MAX_MS));
}
