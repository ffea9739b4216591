// The journal lives in the target database, in schema `stockrx_migrate`. It — not the Temporal
// workflow ID — is the record of what is applied: the dev server forgets closed workflows after a
// day, the database does not. Statements are idempotent and serialized by an advisory lock so
// concurrent first runs do not race on CREATE SCHEMA.
import { sql } from 'kysely';
import { type Db } from './connect';

export const JOURNAL_SCHEMA = 'stockrx_migrate';
/** Where dropped tables and dropped columns' values wait, so `down` can put them back. */
export const BACKUP_SCHEMA = 'stockrx_migrate_backup';
/** Raised by assert_batch_fenced; class SX is ours (no standard SQLSTATE class uses it). */
export const BATCH_FENCED_SQLSTATE = 'SX001';

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
  // Progress of a data step, advanced in the same transaction as each batch (compare-and-set on
  // the cursor, fenced by the run token). Keyed by partition so a step can later be split.
  `CREATE TABLE IF NOT EXISTS ${JOURNAL_SCHEMA}.checkpoints (
     migration_id text NOT NULL REFERENCES ${JOURNAL_SCHEMA}.migrations(id) ON DELETE CASCADE,
     step_index integer NOT NULL,
     partition integer NOT NULL DEFAULT 0,
     cursor jsonb,
     upper_bound jsonb,
     rows_total bigint NOT NULL DEFAULT 0,
     rows_done bigint NOT NULL DEFAULT 0,
     rows_scanned bigint NOT NULL DEFAULT 0,
     batches bigint NOT NULL DEFAULT 0,
     row_errors bigint NOT NULL DEFAULT 0,
     done boolean NOT NULL DEFAULT false,
     updated_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (migration_id, step_index, partition)
   )`,
  // Rows an eachBatch handler failed on: recorded and skipped (the seed's "log the error, go on").
  `CREATE TABLE IF NOT EXISTS ${JOURNAL_SCHEMA}.row_errors (
     migration_id text NOT NULL,
     step_index integer NOT NULL,
     row_key jsonb NOT NULL,
     error text NOT NULL,
     at timestamptz NOT NULL DEFAULT now()
   )`,
  // A batch statement runs in autocommit (one round trip, no BEGIN/COMMIT of its own) and ends by
  // calling this: when its checkpoint did not advance — a newer run holds the token, or the batch
  // was already applied — it raises, so Postgres rolls the whole statement back before it commits.
  `CREATE OR REPLACE FUNCTION ${JOURNAL_SCHEMA}.assert_batch_fenced(advanced bigint, migration text) RETURNS integer
     LANGUAGE plpgsql VOLATILE AS $fn$
   BEGIN
     IF advanced IS DISTINCT FROM 1 THEN
       RAISE EXCEPTION 'run of % was superseded by a newer run, or this batch was already applied; the batch was rolled back (fencing)', migration
         USING ERRCODE = '${BATCH_FENCED_SQLSTATE}';
     END IF;
     RETURN 1;
   END
   $fn$`,
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
