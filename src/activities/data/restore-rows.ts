// Undo of a data step, in batches: each batch moves rows out of the backup table and back into
// the table in one statement, so the backup shrinks as the restore progresses and a restore
// interrupted by a crash simply continues. Finally the backup and the checkpoint are removed.
import { CompiledQuery, sql } from 'kysely';
import { type CompensationAction } from '../../core/compensation';
import { quoteIdent, quoteQualified } from '../../core/identifiers';
import { type Db } from '../../db/connect';
import { cancellableSleep } from '../runtime/cancellable-statement';
import { tableExists } from '../schema/introspect';
import { type FenceContext, inFencedTransaction } from '../schema/run-step';

type RestoreAction = Extract<CompensationAction, { kind: 'restoreUpdatedRows' | 'restoreDeletedRows' | 'deleteCreatedRows' }>;

export function isRestoreAction(action: CompensationAction): action is RestoreAction {
  return action.kind === 'restoreUpdatedRows' || action.kind === 'restoreDeletedRows' || action.kind === 'deleteCreatedRows';
}

const RESTORE_BATCH = 5000;

function restoreStatement(action: RestoreAction, limit: number): string {
  const table = quoteQualified(action.table);
  const backup = quoteQualified(action.backup);
  const key = action.key.map(quoteIdent);
  const bTuple = key.length === 1 ? `b.${key[0]!}` : `(${key.map((k) => `b.${k}`).join(', ')})`;
  // The batch's key range bounds the DELETE's scan of the backup: with only `IN (first n keys)` it
  // may be planned as a hash join over the whole backup, making each batch cost as much as
  // everything left to restore.
  const moved =
    `head AS (SELECT ${key.join(', ')} FROM ${backup} ORDER BY ${key.join(', ')} LIMIT ${limit}), ` +
    `moved AS (DELETE FROM ${backup} b USING head WHERE ${key.map((k) => `b.${k} = head.${k}`).join(' AND ')} ` +
    `AND ${bTuple} <= (SELECT ${key.join(', ')} FROM head ORDER BY ${key.map((k) => `${k} DESC`).join(', ')} LIMIT 1) RETURNING b.*)`;
  const match = key.map((k) => `t.${k} = moved.${k}`).join(' AND ');
  switch (action.kind) {
    case 'restoreUpdatedRows': {
      const assignments = action.columns.map((c) => `${quoteIdent(c)} = moved.${quoteIdent(c)}`).join(', ');
      return `WITH ${moved}, done AS (UPDATE ${table} t SET ${assignments} FROM moved WHERE ${match} RETURNING 1) SELECT (SELECT count(*) FROM moved)::int AS n`;
    }
    case 'restoreDeletedRows': {
      const list = action.columns.map(quoteIdent).join(', ');
      return `WITH ${moved}, done AS (INSERT INTO ${table} (${list}) OVERRIDING SYSTEM VALUE SELECT ${list} FROM moved RETURNING 1) SELECT (SELECT count(*) FROM moved)::int AS n`;
    }
    case 'deleteCreatedRows':
      return `WITH ${moved}, done AS (DELETE FROM ${table} t USING moved WHERE ${match} RETURNING 1) SELECT (SELECT count(*) FROM moved)::int AS n`;
  }
}

/**
 * The backup has no index while its step runs (prepare-data-step.ts); restoring takes it in key
 * order, batch by batch, which without one would re-scan the whole backup per batch. Built once,
 * in one sort; a backup that has an index (an older version made it the primary key) keeps it.
 */
async function indexBackup(ctx: FenceContext, action: RestoreAction): Promise<void> {
  await inFencedTransaction(ctx, async (trx: Db) => {
    if (!(await tableExists(trx, action.backup))) return;
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_index WHERE indrelid = to_regclass(${quoteQualified(action.backup)})`.execute(trx);
    if ((rows[0]?.n ?? 0) > 0) return;
    await sql.raw(`CREATE INDEX ON ${quoteQualified(action.backup)} (${action.key.map(quoteIdent).join(', ')})`).execute(trx);
  });
}

export async function restoreRows(ctx: FenceContext, action: RestoreAction, onBatch?: (rows: number) => void): Promise<void> {
  await indexBackup(ctx, action);
  for (;;) {
    const moved = await inFencedTransaction(ctx, async (trx: Db) => {
      if (!(await tableExists(trx, action.backup))) return 0;
      const { rows } = await trx.executeQuery<{ n: number }>(CompiledQuery.raw(restoreStatement(action, RESTORE_BATCH)));
      return rows[0]?.n ?? 0;
    });
    if (moved === 0) break;
    onBatch?.(moved);
    await cancellableSleep(0);
  }
  await inFencedTransaction(ctx, async (trx) => {
    await sql.raw(`DROP TABLE IF EXISTS ${quoteQualified(action.backup)}`).execute(trx);
    await sql`DELETE FROM stockrx_migrate.checkpoints WHERE migration_id = ${ctx.migrationId} AND step_index = ${action.stepIndex}`.execute(trx);
    await sql`DELETE FROM stockrx_migrate.row_errors WHERE migration_id = ${ctx.migrationId} AND step_index = ${action.stepIndex}`.execute(trx);
  });
}
