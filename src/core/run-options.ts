// Per-run knobs that travel with the workflow input, so a run behaves the same on every worker
// and the history shows the settings it ran with.
import { LOCK_DEFAULTS } from './defaults';

export interface RunOptions {
  /** Postgres `lock_timeout` for each DDL attempt. */
  statementLockTimeoutMs: number;
  /** How long a step keeps retrying a lock before failing the migration. */
  lockWaitBudgetMs: number;
  /** A step activity that stops heartbeating this long is retried on another worker. */
  heartbeatTimeoutMs: number;
  /** Attempts for transient errors (lost connection, server restart) before a step fails. */
  maxAttempts: number;
  /** Upsert StockrxMigrationId/Status/Progress; only when the server has them registered. */
  searchAttributes: boolean;
}

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  statementLockTimeoutMs: LOCK_DEFAULTS.statementLockTimeoutMs,
  lockWaitBudgetMs: LOCK_DEFAULTS.timeoutMs,
  heartbeatTimeoutMs: 15_000,
  maxAttempts: 10,
  searchAttributes: false,
};
