// The journal lives in the target database, in schema `stockrx_migrate`. It — not the Temporal
// workflow ID — is the record of what is applied: the dev server forgets closed workflows after a
// day, the database does not. Statements are idempotent and serialized by an advisory lock so
// concurrent first runs do not race on CREATE SCHEMA.
import { sql } from 'kysely';
import { type Db } from './connect';

export const JOURNAL_SCHEMA = 'stockrx_migrate';
/** Where dropped tables and dropped columns' values wait, so `down` can put them back. */
export const BACKUP_SCHEMA = 'stockrx_migrate_backup';

const JOURNAL_DDL = [
  `CREATE SCHEMA IF NOT EXISTS ${JOURNAL_SCHEMA}`,
  `CREATE SCHEMA IF NOT EXISTS ${BACKUP_SCHEMA}`,
  `CREATE TABLE IF NOT EXISTS ${JOURNAL_SCHEMA}.migrations (
     id text PRIMARY KEY,
     checksum text NOT NULL,
     description text NOT NULL,
     status text NOT NULL CHECK (status IN ('pending','running','applied','failed','rolled_back','compensation_failed')),
     run_token text,
     workflow_id text,
     run_id text,
     plan jsonb NOT NULL,
     last_error text,
     started_at timestamptz,
     finished_at timestamptz,
     applied_at timestamptz,
     rolled_back_at timestamptz,
     updated_at timestamptz NOT NULL DEFAULT now()
   )`,
  // One row per applied step: its compensation, captured in the same transaction as the change
  // (or, for statements that cannot run in a transaction, written before them as an intent).
  `CREATE TABLE IF NOT EXISTS ${JOURNAL_SCHEMA}.steps (
     migration_id text NOT NULL REFERENCES ${JOURNAL_SCHEMA}.migrations(id) ON DELETE CASCADE,
     step_index integer NOT NULL,
     label text NOT NULL,
     state text NOT NULL CHECK (state IN ('intent','done')),
     run_token text NOT NULL,
     compensation jsonb NOT NULL,
     applied_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (migration_id, step_index)
   )`,
];

const ensured = new WeakSet<Db>();

export async function ensureJournal(db: Db): Promise<void> {
  if (ensured.has(db)) return;
  await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext('stockrx_migrate.journal'))`.execute(trx);
    for (const statement of JOURNAL_DDL) await sql.raw(statement).execute(trx);
  });
  ensured.add(db);
}

/** True when the journal exists; read-only verbs use this so they never create anything. */
export async function journalExists(db: Db): Promise<boolean> {
  const { rows } = await sql<{ present: boolean }>`SELECT to_regclass('stockrx_migrate.migrations') IS NOT NULL AS present`.execute(db);
  return rows[0]?.present === true;
}
