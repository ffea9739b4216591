// Reads and writes of the journal tables. Every write that belongs to a run is fenced: it checks
// the run token under a row lock, so a worker still running a superseded run cannot change
// anything once a newer run has taken over.
import { sql } from 'kysely';
import { type Compensation } from '../core/compensation';
import { type MigrationPlan, type MigrationStatus } from '../core/plan';
import { type Db } from './connect';

export interface JournalRow {
  id: string;
  checksum: string;
  description: string;
  status: MigrationStatus;
  run_token: string | null;
  workflow_id: string | null;
  run_id: string | null;
  plan: MigrationPlan;
  last_error: string | null;
  started_at: Date | null;
  finished_at: Date | null;
  applied_at: Date | null;
  rolled_back_at: Date | null;
}

export interface StepRecord {
  step_index: number;
  label: string;
  state: 'intent' | 'done';
  run_token: string;
  compensation: Compensation;
}

/** Raised when a write comes from a run that no longer owns the migration. */
export class FencedError extends Error {
  constructor(migrationId: string) {
    super(`run of ${migrationId} was superseded by a newer run; this worker's write was refused (fencing)`);
    this.name = 'FencedError';
  }
}

export async function readJournalRow(db: Db, id: string, lock: 'none' | 'update' = 'none'): Promise<JournalRow | null> {
  const suffix = lock === 'update' ? sql`FOR UPDATE` : sql``;
  const { rows } = await sql<JournalRow>`SELECT * FROM stockrx_migrate.migrations WHERE id = ${id} ${suffix}`.execute(db);
  return rows[0] ?? null;
}

export async function listJournal(db: Db): Promise<JournalRow[]> {
  const { rows } = await sql<JournalRow>`SELECT * FROM stockrx_migrate.migrations ORDER BY id`.execute(db);
  return rows;
}

/**
 * Locks the migration row and checks that `runToken` still owns it. Call inside a transaction.
 * 'share' lets concurrent batches of the same run check at once; either mode makes a new run's
 * journalStart (FOR UPDATE) wait until this transaction ends.
 */
export async function assertRunToken(trx: Db, migrationId: string, runToken: string, lock: 'update' | 'share' = 'update'): Promise<void> {
  const { rows } = await sql<{ run_token: string | null }>`
    SELECT run_token FROM stockrx_migrate.migrations WHERE id = ${migrationId} ${lock === 'share' ? sql`FOR SHARE` : sql`FOR UPDATE`}`.execute(trx);
  if (rows[0]?.run_token !== runToken) throw new FencedError(migrationId);
}

export async function readStepRecords(db: Db, migrationId: string): Promise<StepRecord[]> {
  const { rows } = await sql<StepRecord>`
    SELECT step_index, label, state, run_token, compensation FROM stockrx_migrate.steps
    WHERE migration_id = ${migrationId} ORDER BY step_index`.execute(db);
  return rows;
}

export async function readStepRecord(db: Db, migrationId: string, stepIndex: number): Promise<StepRecord | null> {
  const { rows } = await sql<StepRecord>`
    SELECT step_index, label, state, run_token, compensation FROM stockrx_migrate.steps
    WHERE migration_id = ${migrationId} AND step_index = ${stepIndex}`.execute(db);
  return rows[0] ?? null;
}

export async function writeStepRecord(trx: Db, migrationId: string, runToken: string, compensation: Compensation, state: StepRecord['state']): Promise<void> {
  await sql`
    INSERT INTO stockrx_migrate.steps (migration_id, step_index, label, state, run_token, compensation)
    VALUES (${migrationId}, ${compensation.stepIndex}, ${compensation.label}, ${state}, ${runToken}, ${JSON.stringify(compensation)}::jsonb)
    ON CONFLICT (migration_id, step_index)
    DO UPDATE SET state = EXCLUDED.state, run_token = EXCLUDED.run_token, compensation = EXCLUDED.compensation, applied_at = now()`.execute(trx);
}

export async function deleteStepRecord(trx: Db, migrationId: string, stepIndex: number): Promise<void> {
  await sql`DELETE FROM stockrx_migrate.steps WHERE migration_id = ${migrationId} AND step_index = ${stepIndex}`.execute(trx);
}

export async function setStatus(
  trx: Db,
  migrationId: string,
  status: MigrationStatus,
  fields: { lastError?: string | null; applied?: boolean; rolledBack?: boolean; finished?: boolean } = {},
): Promise<void> {
  await sql`
    UPDATE stockrx_migrate.migrations SET
      status = ${status},
      last_error = CASE WHEN ${fields.lastError !== undefined} THEN ${fields.lastError ?? null} ELSE last_error END,
      applied_at = CASE WHEN ${fields.applied === true} THEN now() ELSE applied_at END,
      rolled_back_at = CASE WHEN ${fields.rolledBack === true} THEN now() ELSE rolled_back_at END,
      finished_at = CASE WHEN ${fields.finished === true} THEN now() ELSE finished_at END,
      updated_at = now()
    WHERE id = ${migrationId}`.execute(trx);
}
