import { type ResolvedConfig } from '../config/resolve-config';
import { DEFAULT_RUN_OPTIONS, type RunOptions } from '../core/run-options';

/** Workflow run options from the resolved config (heartbeat timeout can be shortened for tests). */
export function runOptionsFrom(config: ResolvedConfig, searchAttributes = false): RunOptions {
  const heartbeat = Number(process.env.STOCKRX_HEARTBEAT_TIMEOUT_MS);
  return {
    ...DEFAULT_RUN_OPTIONS,
    statementLockTimeoutMs: config.lock.statementLockTimeoutMs,
    lockWaitBudgetMs: config.lock.timeoutMs,
    heartbeatTimeoutMs: Number.isInteger(heartbeat) && heartbeat >= 1000 ? heartbeat : DEFAULT_RUN_OPTIONS.heartbeatTimeoutMs,
    searchAttributes,
  };
}
