// The start of a data step, in one fenced transaction: create the typed backup table, fix the key
// range (so the step ends even on a table that keeps growing), count the rows, create the
// checkpoint, and record the compensation as an intent — so even a step that fails half-way is
// undone. Idempotent: a retry finds the checkpoint and returns it.
import { ApplicationFailure } from '@temporalio/common';
import { CompiledQuery, sql } from 'kysely';
import { type CompensationAction } from '../../core/compensation';
import { type DataStep } from '../../core/data-plan';
import { formatQualifiedName, quoteIdent, quoteQualified, type QualifiedName } from '../../core/identifiers';
import { type Db } from '../../db/connect';
import { readStepRecord, writeStepRecord } from '../../db/journal';
import { backupName } from '../schema/sql-text';
import { type FenceContext, inFencedTransaction } from '../schema/run-step';
import { keyColumns, keyJson } from './batch-sql';
import { readCheckpoint, type CheckpointState } from './checkpoint';
import { readTableShape, type TableShape, writableColumns } from './table-shape';

export function backupTableFor(migrationId: string, step: DataStep): QualifiedName | null {
  return step.backup ? backupName('d', migrationId, step.index, step.table.name) : null;
}

/** Columns the backup keeps: the key plus what the step changes. */
export function backupColumns(step: DataStep, shape: TableShape): string[] {
  const key = shape.key.map((k) => k.name);
  switch (step.kind) {
    case 'updateRecords':
      return [...key, ...step.set.map((s) => s.column).filter((c) => !key.includes(c))];
    case 'createRecords':
      return key;
    case 'deleteRecords':
    case 'eachBatch':
      return writableColumns(shape).map((c) => c.name);
  }
}

function compensationFor(step: DataStep, shape: TableShape, backup: QualifiedName | null): CompensationAction {
  if (!backup) return { kind: 'irreversible', reason: `step ${step.index + 1} (${step.label}) runs with backup: false` };
  const key = shape.key.map((k) => k.name);
  const nonKey = backupColumns(step, shape).filter((c) => !key.includes(c));
  switch (step.kind) {
    case 'updateRecords':
    case 'eachBatch':
      return { kind: 'restoreUpdatedRows', table: step.table, backup, key, columns: nonKey, stepIndex: step.index };
    case 'deleteRecords':
      return { kind: 'restoreDeletedRows', table: step.table, backup, key, columns: backupColumns(step, shape), stepIndex: step.index };
    case 'createRecords':
      return { kind: 'deleteCreatedRows', table: step.table, backup, key, stepIndex: step.index };
  }
}

async function refuseCascadingDeletes(trx: Db, step: DataStep): Promise<void> {
  if (step.kind !== 'deleteRecords' || !step.backup) return;
  const { rows } = await sql<{ what: string }>`
    SELECT format('%s (%s)', k.conname, k.conrelid::regclass) AS what FROM pg_constraint k
    WHERE k.contype = 'f' AND k.confrelid = to_regclass(${quoteQualified(step.table)}) AND k.confdeltype IN ('c', 'n', 'd')`.execute(trx);
  if (rows.length > 0) {
    throw ApplicationFailure.create({
      message: `deleteRecords on ${formatQualifiedName(step.table)} would cascade through ${rows.map((r) => r.what).join(', ')}, and rows changed by the cascade could not be restored; delete the dependent rows in an earlier step`,
      type: 'StepRefused',
      nonRetryable: true,
    });
  }
}

export async function prepareDataStep(ctx: FenceContext, step: DataStep): Promise<CheckpointState> {
  return inFencedTransaction(ctx, async (trx) => {
    const existing = await readCheckpoint(trx, ctx.migrationId, step.index);
    if (existing && (await readStepRecord(trx, ctx.migrationId, step.index))) return existing;

    const shape = await readTableShape(trx, step.table);
    await refuseCascadingDeletes(trx, step);
    const backup = backupTableFor(ctx.migrationId, step);
    if (backup) {
      const columns = backupColumns(step, shape).map(quoteIdent).join(', ');
      await sql.raw(`DROP TABLE IF EXISTS ${quoteQualified(backup)}`).execute(trx);
      await sql.raw(`CREATE TABLE ${quoteQualified(backup)} AS SELECT ${columns} FROM ${quoteQualified(step.table)} WITH NO DATA`).execute(trx);
      // No primary key while the step runs: each key range commits once (batch-sql.ts), so no row
      // is copied twice, and maintaining a unique index doubled the backup's cost per batch.
      // restore-rows.ts builds the index in one pass, only if the step is ever undone.
    }

    let upper: unknown;
    let total: number;
    if (step.kind === 'createRecords') {
      upper = step.rowCount;
      total = step.rowCount;
    } else {
      const table = quoteQualified(step.table);
      const last = await trx.executeQuery<{ k: string[] }>(
        CompiledQuery.raw(`SELECT ${keyJson(shape.key)} AS k FROM ${table} ORDER BY ${keyColumns(shape.key).map((c) => `${c} DESC`).join(', ')} LIMIT 1`),
      );
      upper = last.rows[0]?.k ?? null;
      const where = step.where ? `WHERE ${step.where.sql}` : '';
      const counted = await trx.executeQuery<{ n: string }>(CompiledQuery.raw(`SELECT count(*) AS n FROM ${table} ${where}`, step.where?.parameters ?? []));
      total = Number(counted.rows[0]?.n ?? 0);
    }
    await sql`
      INSERT INTO stockrx_migrate.checkpoints (migration_id, step_index, partition, cursor, upper_bound, rows_total, done)
      VALUES (${ctx.migrationId}, ${step.index}, 0, NULL, ${JSON.stringify(upper)}::jsonb, ${total}, ${upper === null || total === 0 && step.kind === 'createRecords'})
      ON CONFLICT (migration_id, step_index, partition) DO UPDATE
        SET cursor = NULL, upper_bound = EXCLUDED.upper_bound, rows_total = EXCLUDED.rows_total, rows_done = 0, rows_scanned = 0, batches = 0, row_errors = 0, done = EXCLUDED.done`.execute(trx);
    await writeStepRecord(trx, ctx.migrationId, ctx.runToken, { stepIndex: step.index, label: step.label, action: compensationFor(step, shape, backup) }, 'intent');
    return (await readCheckpoint(trx, ctx.migrationId, step.index))!;
  });
}
