// Reads of a data step's checkpoint (its writes are part of each batch statement).
import { sql } from 'kysely';
import { type Db } from '../../db/connect';

export interface CheckpointState {
  cursor: unknown;
  upper: unknown;
  rowsTotal: number;
  rowsDone: number;
  rowsScanned: number;
  batches: number;
  rowErrors: number;
  done: boolean;
}

export async function readCheckpoint(db: Db, migrationId: string, stepIndex: number, partition = 0): Promise<CheckpointState | null> {
  const { rows } = await sql<{ cursor: unknown; upper_bound: unknown; rows_total: string; rows_done: string; rows_scanned: string; batches: string; row_errors: string; done: boolean }>`
    SELECT cursor, upper_bound, rows_total, rows_done, rows_scanned, batches, row_errors, done FROM stockrx_migrate.checkpoints
    WHERE migration_id = ${migrationId} AND step_index = ${stepIndex} AND partition = ${partition}`.execute(db);
  const row = rows[0];
  if (!row) return null;
  return {
    cursor: row.cursor,
    upper: row.upper_bound,
    rowsTotal: Number(row.rows_total),
    rowsDone: Number(row.rows_done),
    rowsScanned: Number(row.rows_scanned),
    batches: Number(row.batches),
    rowErrors: Number(row.row_errors),
    done: row.done,
  };
}
