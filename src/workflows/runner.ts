// One runner per database: its workflow ID (`stockrx-migrate/<dbKey>/runner`, started with conflict
// policy FAIL) is the lock. It runs each migration, or each rollback, as a child workflow and stops
// at the first one that fails.
import {
  ApplicationFailure,
  ParentClosePolicy,
  executeChild,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  migrationWorkflowId,
  type MigrationOutcome,
  type RunFailureDetails,
  type RunnerInput,
  type RunnerProgress,
  runnerProgressQuery,
} from './definitions';
import { migrationMetadata, rollbackMetadata } from '../core/workflow-summaries';
import { failureMessage } from './failure-message';
import { migration } from './migration';
import { rollback } from './rollback';

export async function runner(input: RunnerInput): Promise<{ finished: MigrationOutcome[] }> {
  const ids = input.mode === 'up' ? input.plans.map((p) => p.id) : input.migrationIds;
  const progress: RunnerProgress = { mode: input.mode, total: ids.length, current: null, currentWorkflowId: null, finished: [] };
  setHandler(runnerProgressQuery, () => progress);
  const { taskQueue } = workflowInfo();

  for (const [position, id] of ids.entries()) {
    const workflowId = migrationWorkflowId(input.dbKey, id, input.mode);
    progress.current = id;
    progress.currentWorkflowId = workflowId;
    try {
      const common = {
        workflowId,
        taskQueue,
        // Cancelling or terminating the runner asks the running migration to compensate.
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      };
      // The summary and details tell the Web UI's workflow page what this child is. Replay compares
      // a child's workflow id and type, not this user metadata: histories from before it replay.
      const outcome =
        input.mode === 'up'
          ? await executeChild(migration, {
              ...common,
              ...migrationMetadata(input.plans[position]!, input.dbKey),
              args: [{ dbKey: input.dbKey, plan: input.plans[position]!, options: input.options }],
            })
          : await executeChild(rollback, {
              ...common,
              ...rollbackMetadata(id, input.dbKey),
              args: [{ dbKey: input.dbKey, migrationId: id, options: input.options }],
            });
      progress.finished.push(outcome);
    } catch (error) {
      const details: RunFailureDetails = { failedMigrationId: id, cancelled: isCancellation(error), finished: progress.finished };
      if (isCancellation(error)) throw error;
      throw ApplicationFailure.create({
        // A failed migration's own message already names it; a rollback's may not.
        message: input.mode === 'up' ? failureMessage(error) : `rollback of ${id} failed: ${failureMessage(error)}`,
        type: 'RunFailed',
        nonRetryable: true,
        details: [details],
      });
    }
  }
  progress.current = null;
  progress.currentWorkflowId = null;
  return { finished: progress.finished };
}
