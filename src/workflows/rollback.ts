// `down` for one applied migration: run its stored compensations, last step first. The list comes
// from the journal, written when the steps ran, so a rollback days later undoes exactly what was
// done then, even if the migration file changed since.
import { setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import { journalActivities } from './activity-proxies';
import { type MigrationOutcome, type MigrationProgress, progressQuery, type RollbackInput } from './definitions';
import { compensateAll } from './saga';

export async function rollback(input: RollbackInput): Promise<MigrationOutcome> {
  const info = workflowInfo();
  const runToken = uuid4();
  const now = () => new Date().toISOString();
  const progress: MigrationProgress = {
    migrationId: input.migrationId,
    mode: 'down',
    status: 'starting',
    stepCount: 0,
    stepsDone: 0,
    current: null,
    compensationsLeft: 0,
    error: null,
    startedAt: now(),
    updatedAt: now(),
    data: null,
    runs: 1,
  };
  setHandler(progressQuery, () => progress);
  const journal = journalActivities(input.options);
  const compensations = await journal.rollbackStart({ migrationId: input.migrationId, runToken, workflowId: info.workflowId, runId: info.runId });
  progress.stepCount = compensations.length;
  progress.status = 'compensating';
  await compensateAll(
    { migrationId: input.migrationId, runToken, options: input.options, progress, touch: () => (progress.updatedAt = now()) },
    compensations,
  );
  await journal.journalFinish({ migrationId: input.migrationId, runToken, status: 'rolled_back' });
  progress.status = 'rolled_back';
  progress.updatedAt = now();
  return { migrationId: input.migrationId, outcome: 'rolled_back' };
}
