// One batch of a data step, as one transaction on one connection. updateRecords, deleteRecords
// and createRecords are a single autocommit statement (batch-sql.ts); eachBatch calls the author's
// handler per row inside a savepoint, so a failing row is recorded and skipped without losing the
// batch, in a transaction the caller opens and commits (needsTransaction).
import { CompiledQuery, sql } from 'kysely';
import { type CreateRecordsStep, type DataStep, type EachBatchStep } from '../../core/data-plan';
import { quoteIdent, quoteQualified, type QualifiedName } from '../../core/identifiers';
import { type Db } from '../../db/connect';
import { FencedError } from '../../db/journal';
import { isTransient, sqlstateOf } from '../../db/sqlstate';
import { BATCH_FENCED_SQLSTATE } from '../../db/journal-schema';
import { prepared } from '../../db/prepared-client';
import { type HandlerContext } from '../../authoring/define-migration';
import { type BatchRow, type BatchStatement, type CheckpointRef, createBatchSql, deleteBatchSql, keyColumns, keyJson, keyLiteral, Params, tuple, updateBatchSql } from './batch-sql';
import { type TableShape, writableColumns } from './table-shape';

export interface BatchOutcome {
  /** Cursor after the batch (JSON value stored in the checkpoint). */
  cursor: unknown;
  scanned: number;
  changed: number;
  rowErrors: number;
}

export type RowHandler = (row: Record<string, unknown>, ctx: HandlerContext) => unknown;

export interface BatchContext {
  conn: Db;
  migrationId: string;
  runToken: string;
  step: DataStep;
  shape: TableShape;
  backup: QualifiedName | null;
  cursor: unknown;
  upper: unknown;
  limit: number;
  /** createRecords: the rows, reloaded from the migration file. */
  rows?: Record<string, unknown>[];
  /** eachBatch: the author's handler. */
  handler?: RowHandler;
  /** The server has `RETURNING old.*` (PostgreSQL 18+); see updateBatchSql. */
  returningOld?: boolean;
  log: HandlerContext['log'];
}

function assertFenced(row: BatchRow | undefined, migrationId: string): BatchRow {
  if (!row || row.fenced !== 1) throw new FencedError(migrationId);
  return row;
}

/** Runs a single-statement batch (autocommit); assert_batch_fenced's error becomes FencedError. */
async function runStatement(ctx: BatchContext, statement: BatchStatement): Promise<BatchRow> {
  try {
    // Thousands of executions of the same text: parsed and planned once per connection.
    const { rows } = await ctx.conn.executeQuery<BatchRow>(CompiledQuery.raw(prepared(statement.text), statement.parameters));
    return assertFenced(rows[0], ctx.migrationId);
  } catch (error) {
    if (sqlstateOf(error) === BATCH_FENCED_SQLSTATE) throw new FencedError(ctx.migrationId);
    throw error;
  }
}

/**
 * How a step's batches commit: every kind but eachBatch is one statement that commits by itself
 * (batch-sql.ts); eachBatch runs the author's handler row by row inside the caller's transaction.
 */
export const needsTransaction = (step: DataStep) => step.kind === 'eachBatch';

export async function runBatch(ctx: BatchContext): Promise<BatchOutcome> {
  const { step } = ctx;
  if (step.kind === 'createRecords') return runCreateBatch(ctx, step);
  if (step.kind === 'eachBatch') return runEachBatch(ctx, step);
  const ref: CheckpointRef = {
    migrationId: ctx.migrationId,
    stepIndex: step.index,
    partition: 0,
    runToken: ctx.runToken,
    previous: (ctx.cursor as string[] | null) ?? null,
    upper: ctx.upper as string[],
  };
  const statement =
    step.kind === 'updateRecords'
      ? updateBatchSql(step, ctx.shape, ctx.backup, ref, ctx.limit, { returningOld: ctx.returningOld === true })
      : deleteBatchSql(step, ctx.shape, ctx.backup, ref, ctx.limit, writableColumns(ctx.shape));
  const row = await runStatement(ctx, statement);
  return { cursor: row.last_key ?? ctx.upper, scanned: row.scanned, changed: row.changed, rowErrors: 0 };
}

async function runCreateBatch(ctx: BatchContext, step: CreateRecordsStep): Promise<BatchOutcome> {
  const start = typeof ctx.cursor === 'number' ? ctx.cursor : 0;
  const next = Math.min(start + Math.min(ctx.limit, step.batchSize), step.rowCount);
  const columns = ctx.shape.columns.filter((c) => step.columns.includes(c.name));
  const statement = createBatchSql(step.table, ctx.shape, columns, (ctx.rows ?? []).slice(start, next), ctx.backup, {
    migrationId: ctx.migrationId,
    stepIndex: step.index,
    partition: 0,
    runToken: ctx.runToken,
    previous: typeof ctx.cursor === 'number' ? ctx.cursor : null,
    next,
  });
  const row = await runStatement(ctx, statement);
  return { cursor: next, scanned: row.scanned, changed: row.changed, rowErrors: 0 };
}

const ROW_ATTEMPTS = 3;

async function runEachBatch(ctx: BatchContext, step: EachBatchStep): Promise<BatchOutcome> {
  const { conn, shape } = ctx;
  const table = quoteQualified(step.table);
  // The range query has no WHERE, so no author parameters: an unused `$1` has no type, and
  // Postgres refuses the statement (42P18).
  const params = new Params();
  const keys = keyColumns(shape.key, 't');
  const keyTuple = tuple(keys);
  const lower = ctx.cursor ? `${keyTuple} > ${keyLiteral(shape.key, ctx.cursor as string[], params)} AND ` : '';
  const upper = keyLiteral(shape.key, ctx.upper as string[], params);
  const limit = params.add(ctx.limit);
  // The range is the next `limit` keys regardless of WHERE, so a batch never scans unboundedly.
  const range = await conn.executeQuery<{ k: string[] | null; n: number }>(
    CompiledQuery.raw(
      `WITH r AS (SELECT ${keys.join(', ')} FROM ${table} t WHERE ${lower}${keyTuple} <= ${upper} ORDER BY ${keys.join(', ')} LIMIT ${limit}) ` +
        `SELECT (SELECT ${keyJson(shape.key, 'r')} FROM r ORDER BY ${keyColumns(shape.key, 'r').map((c) => `${c} DESC`).join(', ')} LIMIT 1) AS k, (SELECT count(*) FROM r)::int AS n`,
      params.values,
    ),
  );
  const scanned = range.rows[0]?.n ?? 0;
  const last = range.rows[0]?.k ?? null;
  const selectParams = new Params(step.where?.parameters ?? []);
  const selectLower = ctx.cursor ? `${keyTuple} > ${keyLiteral(shape.key, ctx.cursor as string[], selectParams)} AND ` : '';
  const selectUpper = last ? keyLiteral(shape.key, last, selectParams) : upper;
  const where = step.where ? `(${step.where.sql})` : 'true';
  const columns = step.columns ? [...new Set([...shape.key.map((k) => k.name), ...step.columns])].map((c) => `t.${quoteIdent(c)}`).join(', ') : 't.*';
  const targets = last
    ? (await conn.executeQuery<Record<string, unknown>>(CompiledQuery.raw(`SELECT ${columns} FROM ${table} t WHERE ${selectLower}${keyTuple} <= ${selectUpper} AND ${where} ORDER BY ${keys.join(', ')} FOR UPDATE OF t`, selectParams.values))).rows
    : [];

  if (ctx.backup && targets.length > 0) {
    const list = writableColumns(shape).map((c) => quoteIdent(c.name)).join(', ');
    const backupParams = new Params(step.where?.parameters ?? []);
    const bLower = ctx.cursor ? `${keyTuple} > ${keyLiteral(shape.key, ctx.cursor as string[], backupParams)} AND ` : '';
    const bUpper = keyLiteral(shape.key, last!, backupParams);
    await conn.executeQuery(CompiledQuery.raw(`INSERT INTO ${quoteQualified(ctx.backup)} (${list}) SELECT ${list} FROM ${table} t WHERE ${bLower}${keyTuple} <= ${bUpper} AND ${where} ON CONFLICT DO NOTHING`, backupParams.values));
  }

  // One savepoint at a time, named `row`, always open and clean when a handler starts. After a
  // row, releasing it and opening the next one is a single round trip; ROLLBACK TO keeps the
  // savepoint open, so a retry needs none. Two round trips per row plus the handler's own, instead
  // of three: the demo's row-by-row step spent most of its time on them.
  let errors = 0;
  if (targets.length > 0) await sql.raw('SAVEPOINT row').execute(conn);
  for (const [i, row] of targets.entries()) {
    for (let attempt = 1; ; attempt++) {
      try {
        await ctx.handler!(row, { db: conn, log: ctx.log });
        break;
      } catch (error) {
        await sql.raw('ROLLBACK TO SAVEPOINT row').execute(conn);
        // The seed's with_retry: transient row errors (deadlock, serialization) get a few tries.
        if (isTransient(error) && attempt < ROW_ATTEMPTS) continue;
        errors += 1;
        const rowKey = shape.key.map((k) => String(row[k.name]));
        // Inside the savepoint, which the release below keeps: a later row's rollback cannot undo it.
        await sql`INSERT INTO stockrx_migrate.row_errors (migration_id, step_index, row_key, error) VALUES (${ctx.migrationId}, ${step.index}, ${JSON.stringify(rowKey)}::jsonb, ${error instanceof Error ? error.message : String(error)})`.execute(conn);
        ctx.log('row failed and was skipped', { key: rowKey, error: error instanceof Error ? error.message : String(error) });
        break;
      }
    }
    await sql.raw(i < targets.length - 1 ? 'RELEASE SAVEPOINT row; SAVEPOINT row' : 'RELEASE SAVEPOINT row').execute(conn);
  }

  const cursor = last ?? ctx.upper;
  const advanced = await sql<{ n: number }>`
    UPDATE stockrx_migrate.checkpoints c SET cursor = ${JSON.stringify(cursor)}::jsonb, rows_done = c.rows_done + ${targets.length - errors},
      rows_scanned = c.rows_scanned + ${scanned}, row_errors = c.row_errors + ${errors}, batches = c.batches + 1, updated_at = now()
    FROM stockrx_migrate.migrations m
    WHERE c.migration_id = ${ctx.migrationId} AND c.step_index = ${step.index} AND c.partition = 0
      AND c.cursor IS NOT DISTINCT FROM ${ctx.cursor === null || ctx.cursor === undefined ? null : JSON.stringify(ctx.cursor)}::jsonb
      AND m.id = c.migration_id AND m.run_token = ${ctx.runToken}
    RETURNING 1 AS n`.execute(conn);
  if (advanced.rows.length !== 1) throw new FencedError(ctx.migrationId);
  return { cursor, scanned, changed: targets.length - errors, rowErrors: errors };
}
