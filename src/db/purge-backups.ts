// Reading and dropping an applied migration's backup tables (core/backup-tables.ts says which).
//
// This does not go through the runner workflow, unlike `up` and `down`: it runs one short
// transaction that holds the migration's journal row (FOR UPDATE), the same row lock `down`'s
// rollbackStart and `up`'s journalStart take before they touch anything. So a purge and a run of
// the same migration cannot interleave: a `down` that started first has set the row to running
// (the purge refuses), and one that starts after sees the irreversible steps (and refuses up
// front). Other runs on the database never read these tables.
import { sql } from 'kysely';
import { backupTablesOf, purgedCompensation } from '../core/backup-tables';
import { type QualifiedName, quoteQualified } from '../core/identifiers';
import { type MigrationStatus } from '../core/plan';
import { type PlanProblem } from '../core/plan-error';
import { type Db } from './connect';
import { readJournalRow, readStepRecords, type StepRecord } from './journal';
import { BACKUP_SCHEMA, journalExists } from './journal-schema';

export interface BackupTable {
  table: QualifiedName;
  /** pg_total_relation_size; null when the table is already gone. */
  bytes: number | null;
}

export interface StepBackups {
  stepIndex: number;
  label: string;
  tables: BackupTable[];
}

export interface MigrationBackups {
  migrationId: string;
  status: MigrationStatus;
  /** Steps that still keep backups (empty once purged, or when none ever did). */
  steps: StepBackups[];
  /** When the backups were purged; null while they are kept (or there were none). */
  purgedAt: string | null;
}

/** Why this migration's backups cannot be purged now, or null when they can. */
export function purgeProblem(migrationId: string, status: MigrationStatus | null): PlanProblem | null {
  if (status === null) return { file: migrationId, message: 'was never applied to this database', fix: '`stockrx-migrate status` lists the migrations and their state' };
  if (status === 'applied') return null;
  const fix: Record<string, string> = {
    running: `wait until its run ends (\`stockrx-migrate watch ${migrationId}\`); a running migration's backups are in use`,
    compensation_failed: `resolve the failed compensation first (\`stockrx-migrate resolve ${migrationId} --retry\` or --skip)`,
  };
  return { file: migrationId, message: `is ${status}, not applied; only an applied migration's backups can be purged`, ...(fix[status] ? { fix: fix[status] } : { fix: 'nothing to purge: its backups are dropped when it is rolled back or fails' }) };
}

/** What an applied migration keeps for its undo, read without locking anything. */
export async function readBackups(db: Db, migrationId: string): Promise<MigrationBackups | PlanProblem> {
  if (!(await journalExists(db))) return purgeProblem(migrationId, null)!;
  const found = await inspect(db, migrationId, 'none');
  return 'message' in found ? found : found.backups;
}

/**
 * The journal row (locked with `lock`), its step records and their backup tables; a problem when
 * this migration's backups cannot be purged. Shared by the preview and the purge itself.
 */
async function inspect(db: Db, migrationId: string, lock: 'none' | 'update'): Promise<{ backups: MigrationBackups; records: StepRecord[] } | PlanProblem> {
  const row = await readJournalRow(db, migrationId, lock);
  const problem = purgeProblem(migrationId, row?.status ?? null);
  if (problem) return problem;
  const records = await readStepRecords(db, migrationId);
  const steps = await stepBackups(db, records);
  return foreignTableProblem(migrationId, steps) ?? { backups: { migrationId, status: row!.status, steps, purgedAt: purgedAtOf(records) }, records };
}

/** A journal is data anyone with access can edit: never drop a table outside our own schema. */
function foreignTableProblem(migrationId: string, steps: StepBackups[]): PlanProblem | null {
  const foreign = steps.flatMap((s) => s.tables).find((t) => t.table.schema !== BACKUP_SCHEMA);
  if (!foreign) return null;
  return { file: migrationId, message: `records a backup table outside ${BACKUP_SCHEMA} (${foreign.table.schema}.${foreign.table.name}); nothing was dropped`, fix: 'inspect stockrx_migrate.steps for this migration: the journal was edited by hand' };
}

/**
 * Drops every backup table of an applied migration and makes its steps irreversible, in one
 * transaction. Returns what was dropped; a problem (and no change) when the migration is not
 * applied any more, or a recorded table lies outside the backup schema.
 */
export async function purgeBackups(db: Db, migrationId: string, at: Date): Promise<MigrationBackups | PlanProblem> {
  return db.transaction().execute(async (trx) => {
    const found = await inspect(trx, migrationId, 'update');
    if ('message' in found) return found;
    const { backups, records } = found;
    // Nobody else uses these tables; if something holds one anyway, fail fast rather than queue.
    await sql`SET LOCAL lock_timeout = '5s'`.execute(trx);
    const iso = at.toISOString();
    for (const step of backups.steps) {
      for (const { table } of step.tables) await sql.raw(`DROP TABLE IF EXISTS ${quoteQualified(table)}`).execute(trx);
      const record = records.find((r) => r.step_index === step.stepIndex)!;
      await sql`
        UPDATE stockrx_migrate.steps SET compensation = ${JSON.stringify(purgedCompensation(record.compensation, iso))}::jsonb
        WHERE migration_id = ${migrationId} AND step_index = ${step.stepIndex}`.execute(trx);
    }
    return backups.steps.length > 0 ? { ...backups, purgedAt: iso } : backups;
  });
}

async function stepBackups(db: Db, records: StepRecord[]): Promise<StepBackups[]> {
  const steps: StepBackups[] = [];
  for (const record of records) {
    const tables = backupTablesOf(record.compensation.action);
    if (tables.length === 0) continue;
    steps.push({ stepIndex: record.step_index, label: record.label, tables: await Promise.all(tables.map(async (table) => ({ table, bytes: await tableBytes(db, table) }))) });
  }
  return steps;
}

async function tableBytes(db: Db, table: QualifiedName): Promise<number | null> {
  const { rows } = await sql<{ bytes: string }>`
    SELECT pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${table.schema} AND c.relname = ${table.name}`.execute(db);
  return rows[0] ? Number(rows[0].bytes) : null;
}

function purgedAtOf(records: StepRecord[]): string | null {
  for (const r of records) if (r.compensation.action.kind === 'irreversible' && r.compensation.action.purgedAt) return r.compensation.action.purgedAt;
  return null;
}

export function isPlanProblem(value: MigrationBackups | PlanProblem): value is PlanProblem {
  return 'message' in value;
}
