// Journal transitions of a run. The start is where a run takes ownership (writes its token) and
// learns what an earlier, interrupted run of the same migration already did.
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { type Compensation } from '../core/compensation';
import { type MigrationPlan, type MigrationStatus } from '../core/plan';
import { type Db } from '../db/connect';
import { assertRunToken, readJournalRow, readStepRecords, setStatus } from '../db/journal';
import { ensureJournal } from '../db/journal-schema';

export type StartOutcome =
  | { outcome: 'alreadyApplied' }
  | {
      outcome: 'started';
      /** Steps an earlier run of this plan finished; the new run skips them and keeps their undo. */
      completed: Compensation[];
      /** Leftovers of an interrupted run of a *different* version of the file: undo them first. */
      stale: Compensation[];
    };

export interface RunIdentity {
  migrationId: string;
  runToken: string;
  workflowId: string;
  runId: string;
}

function refuse(message: string, type: string): never {
  throw ApplicationFailure.create({ message, type, nonRetryable: true });
}

export async function journalStart(db: Db, plan: MigrationPlan, run: RunIdentity): Promise<StartOutcome> {
  await ensureJournal(db);
  return db.transaction().execute(async (trx) => {
    const row = await readJournalRow(trx, plan.id, 'update');
    if (row?.status === 'applied') {
      if (row.checksum === plan.checksum) return { outcome: 'alreadyApplied' as const };
      refuse(`migration ${plan.id} is already applied with a different checksum: the file was edited after it ran. Restore it, or write a new migration for the change.`, 'ChecksumMismatch');
    }
    if (row?.status === 'compensation_failed') {
      refuse(`migration ${plan.id} has a compensation that failed and needs an operator; see \`stockrx-migrate status\` and resolve it before running it again`, 'CompensationFailed');
    }
    const records = row ? await readStepRecords(trx, plan.id) : [];
    const sameVersion = row?.checksum === plan.checksum;
    if (row) {
      await sql`
        UPDATE stockrx_migrate.migrations SET status = 'running', run_token = ${run.runToken}, workflow_id = ${run.workflowId},
          run_id = ${run.runId}, checksum = ${plan.checksum}, description = ${plan.description}, plan = ${JSON.stringify(plan)}::jsonb,
          last_error = NULL, started_at = now(), finished_at = NULL, updated_at = now()
        WHERE id = ${plan.id}`.execute(trx);
      await sql`UPDATE stockrx_migrate.steps SET run_token = ${run.runToken} WHERE migration_id = ${plan.id}`.execute(trx);
    } else {
      await sql`
        INSERT INTO stockrx_migrate.migrations (id, checksum, description, status, run_token, workflow_id, run_id, plan, started_at)
        VALUES (${plan.id}, ${plan.checksum}, ${plan.description}, 'running', ${run.runToken}, ${run.workflowId}, ${run.runId},
                ${JSON.stringify(plan)}::jsonb, now())`.execute(trx);
    }
    return {
      outcome: 'started' as const,
      completed: sameVersion ? records.filter((r) => r.state === 'done').map((r) => r.compensation) : [],
      stale: sameVersion ? [] : records.map((r) => r.compensation).reverse(),
    };
  });
}

export async function journalFinish(
  db: Db,
  input: { migrationId: string; runToken: string; status: Extract<MigrationStatus, 'applied' | 'failed' | 'rolled_back' | 'compensation_failed'>; error?: string },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await assertRunToken(trx, input.migrationId, input.runToken);
    await setStatus(trx, input.migrationId, input.status, {
      lastError: input.error ?? null,
      applied: input.status === 'applied',
      rolledBack: input.status === 'rolled_back',
      finished: true,
    });
  });
}

/** What is left to undo of this migration, last step first. The journal is the source of truth. */
export async function pendingCompensations(db: Db, migrationId: string): Promise<Compensation[]> {
  return (await readStepRecords(db, migrationId)).map((r) => r.compensation).reverse();
}

/** Takes ownership of an applied migration for `down` and returns its compensations, last first. */
export async function rollbackStart(db: Db, run: RunIdentity): Promise<Compensation[]> {
  await ensureJournal(db);
  return db.transaction().execute(async (trx) => {
    const row = await readJournalRow(trx, run.migrationId, 'update');
    if (!row) refuse(`migration ${run.migrationId} was never applied to this database`, 'NotApplied');
    if (!['applied', 'running', 'compensation_failed'].includes(row.status)) {
      refuse(`migration ${run.migrationId} is ${row.status}, not applied; there is nothing to roll back`, 'NotApplied');
    }
    const records = await readStepRecords(trx, run.migrationId);
    const irreversible = records.find((r) => r.compensation.action.kind === 'irreversible');
    if (irreversible) {
      refuse(`migration ${run.migrationId} cannot be rolled back: step ${irreversible.step_index + 1} (${irreversible.label}) is irreversible`, 'Irreversible');
    }
    await sql`
      UPDATE stockrx_migrate.migrations SET status = 'running', run_token = ${run.runToken}, workflow_id = ${run.workflowId},
        run_id = ${run.runId}, last_error = NULL, updated_at = now()
      WHERE id = ${run.migrationId}`.execute(trx);
    await sql`UPDATE stockrx_migrate.steps SET run_token = ${run.runToken} WHERE migration_id = ${run.migrationId}`.execute(trx);
    return records.map((r) => r.compensation).reverse();
  });
}
