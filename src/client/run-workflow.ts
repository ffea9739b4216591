// Starts the runner (taking the database's lock) and follows it to the end, translating how it
// ended into the CLI's exit codes.
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, ApplicationFailure, CancelledFailure, ChildWorkflowFailure, TerminatedFailure } from '@temporalio/common';
import { CliExit, EXIT } from '../cli/exit-codes';
import { type LockConfig } from '../config/resolve-config';
import { runnerMetadata } from '../core/workflow-summaries';
import {
  type MigrationProgress,
  progressQuery,
  type RunFailureDetails,
  type RunnerInput,
  type RunnerProgress,
  runnerProgressQuery,
  runnerWorkflowId,
} from '../workflows/definitions';
import type { runner } from '../workflows/runner';

export interface StartedRun {
  handle: WorkflowHandle<typeof runner>;
  workflowId: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sleeps `ms` or until `wake` settles, whichever is first, leaving no timer behind. */
async function sleepUntil(ms: number, wake: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, ms))), wake]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts the runner; when another run holds the lock, retries per the lock options, then exits 3. */
export async function startRunner(client: Client, taskQueue: string, input: RunnerInput, lock: Pick<LockConfig, 'retryCount' | 'retryDelayMs'>): Promise<StartedRun> {
  const workflowId = runnerWorkflowId(input.dbKey);
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await client.workflow.start<typeof runner>('runner', {
        taskQueue,
        workflowId,
        args: [input],
        // Which database, which direction, which migrations: readable in the Web UI without
        // decoding the input (which carries every plan).
        ...runnerMetadata(input),
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
        // A closed runner is no lock: a new run may reuse the ID.
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
      return { handle, workflowId };
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      if (attempt >= lock.retryCount) {
        const holder = await describeHolder(client, workflowId);
        throw new CliExit(
          EXIT.LOCKED,
          `another run holds the lock for ${input.dbKey}: workflow ${workflowId}${holder}`,
          `follow it with \`stockrx-migrate status\` or in the Temporal Web UI; if it is stuck, \`stockrx-migrate cancel\` it (compensates) or \`stockrx-migrate unlock ${input.dbKey} --force\``,
        );
      }
      await sleep(lock.retryDelayMs);
    }
  }
}

async function describeHolder(client: Client, workflowId: string): Promise<string> {
  try {
    const progress = await client.workflow.getHandle(workflowId).query(runnerProgressQuery);
    return progress.current ? ` (running ${progress.mode} of ${progress.current})` : '';
  } catch {
    return '';
  }
}

export interface RunResult {
  exitCode: number;
  message: string;
  finished: RunnerProgress['finished'];
}

/**
 * Waits for the runner, reporting child progress; exits early with 4 when a compensation is stuck.
 * `onProgress` sees each change of status or step; `onPoll` (a live view) every poll's progress.
 */
export async function followRun(client: Client, run: StartedRun, onProgress: (p: MigrationProgress) => void, onPoll?: (p: MigrationProgress) => void): Promise<RunResult> {
  let stuck: MigrationProgress | null = null;
  let polling = true;
  const result = run.handle.result().then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  const poll = (async () => {
    let last = '';
    while (polling) {
      try {
        const runnerProgress = await run.handle.query(runnerProgressQuery);
        if (runnerProgress.currentWorkflowId) {
          const p = await client.workflow.getHandle(runnerProgress.currentWorkflowId).query(progressQuery);
          onPoll?.(p);
          const key = `${p.status}|${p.current?.label}|${p.stepsDone}|${p.compensationsLeft}`;
          if (key !== last) {
            last = key;
            onProgress(p);
          }
          if (p.status === 'compensation_failed') {
            stuck = p;
            return;
          }
        }
      } catch {
        // The child may not have started yet or just closed; the next poll will tell.
      }
      // Woken by the result too: `up` returns the moment the run ends, not up to a poll later.
      await sleepUntil(500, result);
    }
  })();

  const first = await Promise.race([result, poll.then(() => null)]);
  polling = false;
  const stuckProgress = stuck as MigrationProgress | null;
  if (first === null && stuckProgress) {
    return {
      exitCode: EXIT.COMPENSATION_FAILED,
      message: `${stuckProgress.migrationId}: ${stuckProgress.error ?? 'a compensation failed'}. The workflow waits for an operator: fix the cause, then \`stockrx-migrate resolve ${stuckProgress.migrationId} --retry\` (or --skip to give up on that undo)`,
      finished: [],
    };
  }
  const outcome = first ?? (await result);
  await poll;
  if (outcome.ok) return { exitCode: EXIT.OK, message: 'done', finished: outcome.value.finished };
  return explainFailure(outcome.error);
}

function explainFailure(error: unknown): RunResult {
  if (error instanceof WorkflowFailedError) {
    const cause = error.cause;
    if (cause instanceof CancelledFailure) return { exitCode: EXIT.MIGRATION_FAILED, message: 'the run was cancelled; every applied step was undone', finished: [] };
    // `cancel ID` cancels the migration (child) workflow; the runner rethrows that as-is.
    if (cause instanceof ChildWorkflowFailure && cause.cause instanceof CancelledFailure) {
      return { exitCode: EXIT.MIGRATION_FAILED, message: `${cause.execution.workflowId} was cancelled; every applied step was undone`, finished: [] };
    }
    if (cause instanceof TerminatedFailure) {
      return { exitCode: EXIT.MIGRATION_FAILED, message: 'the run was terminated (unlock --force?); the running migration was asked to compensate', finished: [] };
    }
    if (cause instanceof ApplicationFailure) {
      const details = cause.details?.[0] as RunFailureDetails | undefined;
      return { exitCode: EXIT.MIGRATION_FAILED, message: cause.message, finished: details?.finished ?? [] };
    }
    return { exitCode: EXIT.MIGRATION_FAILED, message: cause?.message ?? error.message, finished: [] };
  }
  throw error;
}
