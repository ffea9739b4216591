// The two ways a step (or its undo) touches the database, shared by apply and compensate:
// - in a transaction: lock_timeout, fencing check, the change and the journal record commit
//   together, so the step happens exactly once;
// - outside a transaction: fencing check, intent record first, then an idempotent statement,
//   then the record marked done.
// Both retry lock timeouts with backoff and heartbeat, and a cancellation cancels the backend.
import { sql } from 'kysely';
import { type RunOptions } from '../../core/run-options';
import { type Db } from '../../db/connect';
import { assertRunToken } from '../../db/journal';
import { withCancellableConnection } from '../runtime/cancellable-statement';
import { withLockRetry } from '../runtime/lock-retry';

export interface FenceContext {
  db: Db;
  migrationId: string;
  runToken: string;
  options: RunOptions;
  label: string;
  onLockRetry?: (attempt: number, error: unknown) => void;
}

async function setLockTimeout(conn: Db, ms: number, local: boolean): Promise<void> {
  // SET takes no parameters; ms is a number we validated, never user text.
  await sql.raw(`SET ${local ? 'LOCAL ' : ''}lock_timeout = ${Math.max(0, Math.floor(ms))}`).execute(conn);
}

/** Runs `work` in a fenced transaction on a cancellable connection, retrying lock contention. */
export async function inFencedTransaction<T>(ctx: FenceContext, work: (trx: Db) => Promise<T>): Promise<T> {
  return withLockRetry(
    ctx.label,
    () =>
      withCancellableConnection(ctx.db, async ({ conn }) => {
        await sql`BEGIN`.execute(conn);
        try {
          await setLockTimeout(conn, ctx.options.statementLockTimeoutMs, true);
          await assertRunToken(conn, ctx.migrationId, ctx.runToken);
          const result = await work(conn);
          await sql`COMMIT`.execute(conn);
          return result;
        } catch (error) {
          await sql`ROLLBACK`.execute(conn).catch(() => undefined);
          throw error;
        }
      }),
    { budgetMs: ctx.options.lockWaitBudgetMs, onRetry: (n, e) => ctx.onLockRetry?.(n, e) },
  );
}

/** Runs an idempotent statement outside a transaction on a cancellable connection. */
export async function outsideTransaction(ctx: FenceContext, useLockTimeout: boolean, work: (conn: Db) => Promise<void>): Promise<void> {
  await withLockRetry(
    ctx.label,
    () =>
      withCancellableConnection(ctx.db, async ({ conn }) => {
        // Pooled connections keep session settings, so always set it explicitly.
        await setLockTimeout(conn, useLockTimeout ? ctx.options.statementLockTimeoutMs : 0, false);
        try {
          await work(conn);
        } finally {
          await sql`RESET lock_timeout`.execute(conn).catch(() => undefined);
        }
      }),
    { budgetMs: ctx.options.lockWaitBudgetMs, onRetry: (n, e) => ctx.onLockRetry?.(n, e) },
  );
}
