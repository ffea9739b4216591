// DDL must never queue for long in front of traffic: while an ALTER TABLE waits for its lock,
// every reader of the table queues behind it. So each attempt runs with a short `lock_timeout`,
// and on a lock timeout or deadlock we back off and try again, until the lock wait budget (the
// seed's lock timeout, 5 minutes) is spent.
import { ApplicationFailure } from '@temporalio/common';
import { isLockContention, sqlstateOf } from '../../db/sqlstate';
import { cancellableSleep } from './cancellable-statement';

export interface LockRetryOptions {
  budgetMs: number;
  /** First pause after a lock timeout; doubles up to maxDelayMs. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  onRetry?: (attempt: number, error: unknown, delayMs: number) => void;
}

export async function withLockRetry<T>(what: string, attempt: () => Promise<T>, options: LockRetryOptions): Promise<T> {
  const started = Date.now();
  let delay = options.initialDelayMs ?? 1000;
  const maxDelay = options.maxDelayMs ?? 15_000;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isLockContention(error)) throw error;
      const elapsed = Date.now() - started;
      if (elapsed + delay > options.budgetMs) {
        throw ApplicationFailure.create({
          message:
            `${what}: could not get its lock within ${Math.round(options.budgetMs / 1000)} s ` +
            `(${n} attempts, last: ${sqlstateOf(error)} ${(error as Error).message}). ` +
            'A long transaction holds the table; find it in pg_stat_activity, end it, and run `up` again.',
          type: 'LockTimeout',
          nonRetryable: true,
        });
      }
      options.onRetry?.(n, error, delay);
      // Jitter keeps several workers from retrying in lockstep.
      await cancellableSleep(delay * (0.75 + Math.random() * 0.5));
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}
