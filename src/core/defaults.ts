// Defaults come from the seed document (StockRx migration framework) so its users find the same
// numbers here. Changing one is a product decision: update README and DESIGN.md with it.

export const LOAD_CONTROL_DEFAULTS = {
  initialBatchSize: 1000,
  minBatchSize: 100,
  maxBatchSize: 10_000,
  cpuThreshold: 70,
  memoryThreshold: 80,
  queryTimeThresholdMs: 5000,
  adjustmentFactor: 0.2,
  sleepMs: 100,
  minSleepMs: 0,
  maxSleepMs: 10_000,
} as const;

export const LOCK_DEFAULTS = {
  /** How long a DDL step keeps retrying to get its table lock before it gives up. */
  timeoutMs: 5 * 60_000,
  /** How often `up` retries when another run holds the database's runner lock. */
  retryCount: 3,
  retryDelayMs: 1000,
  /** Postgres `lock_timeout` for each DDL attempt: readers queue behind us at most this long. */
  statementLockTimeoutMs: 5000,
} as const;

export const MONITOR_DEFAULTS = {
  checkIntervalMs: 30_000,
  slowBatchMs: 60_000,
  errorRatePercent: 5,
  memoryAlertPercent: 85,
  cpuAlertPercent: 80,
  stalledAfterMs: 300_000,
} as const;
