// Inputs the load controller's unit tests feed it: a quiet sample, and a seeded generator so the
// "random" loops are the same on every run.
import type { LoadSample } from '../../src/core/load-controller';

/** A quiet sample: a 1000-row batch well under every threshold, no canary. */
export const quietSample = (over: Partial<LoadSample> = {}): LoadSample => ({
  batchMs: 1000,
  rows: 1000,
  cpuPercent: 20,
  memoryPercent: 40,
  activeBackends: 2,
  lockWaiters: 0,
  replicaLagMs: null,
  canaryMs: null,
  ...over,
});

/** mulberry32: a tiny seeded generator of 32-bit unsigned integers (callers scale them). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
