// One migration as a saga: journal start → steps in order → validations → journal applied. On a
// failure or a cancel, everything applied so far is compensated last-first inside a
// non-cancellable scope, and the journal records the failure; the database ends as it was.
import { ApplicationFailure, CancellationScope, isCancellation, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import { journalActivities, stepActivities } from './activity-proxies';
import { type MigrationInput, type MigrationOutcome, type MigrationProgress, progressQuery } from './definitions';
import { failureMessage } from './failure-message';
import { compensateAll, type SagaContext } from './saga';

export async function migration(input: MigrationInput): Promise<MigrationOutcome> {
  const { plan, options } = input;
  const info = workflowInfo();
  const runToken = uuid4();
  const now = () => new Date().toISOString();
  const progress: MigrationProgress = {
    migrationId: plan.id,
    mode: 'up',
    status: 'starting',
    stepCount: plan.steps.length,
    stepsDone: 0,
    current: null,
    compensationsLeft: 0,
    error: null,
    startedAt: now(),
    updatedAt: now(),
  };
  setHandler(progressQuery, () => progress);
  const saga: SagaContext = { migrationId: plan.id, runToken, options, progress, touch: () => (progress.updatedAt = now()) };
  const journal = journalActivities(options);
  const steps = stepActivities(options);

  const start = await journal.journalStart({ plan, run: { runToken, workflowId: info.workflowId, runId: info.runId } });
  if (start.outcome === 'alreadyApplied') {
    progress.status = 'skipped';
    return { migrationId: plan.id, outcome: 'skipped' };
  }

  let failedStep: string | null = null;
  try {
    progress.status = 'running';
    if (start.stale.length > 0) await compensateAll(saga, start.stale);
    const done = new Set(start.completed.map((c) => c.stepIndex));
    progress.stepsDone = done.size;
    for (const step of plan.steps) {
      if (done.has(step.index)) continue;
      progress.current = { stepIndex: step.index, label: step.label };
      failedStep = `step ${step.index + 1} (${step.label})`;
      saga.touch();
      await steps.applySchemaStep({ migrationId: plan.id, runToken, step, options });
      progress.stepsDone += 1;
    }
    failedStep = 'validation';
    progress.current = null;
    progress.status = 'validating';
    saga.touch();
    if (plan.validations.length > 0) await steps.runValidations({ plan });
    await journal.journalFinish({ migrationId: plan.id, runToken, status: 'applied' });
    progress.status = 'applied';
    saga.touch();
    return { migrationId: plan.id, outcome: 'applied' };
  } catch (error) {
    const cancelled = isCancellation(error);
    const message = cancelled ? `cancelled during ${failedStep ?? 'start'}` : `${failedStep ?? 'start'} failed: ${failureMessage(error)}`;
    progress.status = 'compensating';
    progress.error = message;
    saga.touch();
    await CancellationScope.nonCancellable(async () => {
      await compensateAll(saga, await journal.pendingCompensations({ migrationId: plan.id }));
      await journal.journalFinish({ migrationId: plan.id, runToken, status: 'failed', error: message });
    });
    progress.status = cancelled ? 'cancelled' : 'failed';
    saga.touch();
    if (cancelled) throw error;
    throw ApplicationFailure.create({
      message: `${plan.id}: ${message}. Every applied step was undone; the database is as it was before.`,
      type: 'MigrationFailed',
      nonRetryable: true,
    });
  }
}
