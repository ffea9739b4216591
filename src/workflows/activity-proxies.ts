// Activity stubs with the timeouts and retry policies of each kind of work.
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/create-activities';
import { type RunOptions } from '../core/run-options';

export function journalActivities(options: RunOptions) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: options.maxAttempts },
  });
}

/**
 * Steps can run for hours (an index on a big table), so they are bounded by heartbeats, not by a
 * start-to-close timeout. WAIT_CANCELLATION_COMPLETED: on cancel, compensation must not start
 * until the step's backend query has really been cancelled.
 */
export function stepActivities(options: RunOptions) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: options.heartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: options.maxAttempts },
  });
}
