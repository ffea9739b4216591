// Runs work on one dedicated connection while heartbeating, and turns an activity cancellation
// into `pg_cancel_backend` on that connection's backend: `pg` ignores AbortSignal, and a cancelled
// activity must not leave a CREATE INDEX CONCURRENTLY running in the database.
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { type Db } from '../../db/connect';

export interface StatementContext {
  /** The single connection all work must use. */
  conn: Db;
  /** Replaces the heartbeat details, e.g. what the statement is waiting for. */
  setDetails(details: Record<string, unknown>): void;
}

const HEARTBEAT_INTERVAL_MS = 1000;

function activityContext(): Context | null {
  try {
    return Context.current();
  } catch {
    return null; // called outside an activity (unit tests, CLI checks)
  }
}

export async function withCancellableConnection<T>(db: Db, work: (ctx: StatementContext) => Promise<T>): Promise<T> {
  const activity = activityContext();
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(conn);
    const pid = rows[0]!.pid;
    let details: Record<string, unknown> = { pid };
    const timer = activity ? setInterval(() => activity.heartbeat(details), HEARTBEAT_INTERVAL_MS) : null;
    activity?.heartbeat(details);

    let cancelled = false;
    const onAbort = () => {
      cancelled = true;
      // A different pooled connection sends the cancel; ours is busy running the statement.
      sql`SELECT pg_cancel_backend(${pid})`.execute(db).catch(() => undefined);
    };
    activity?.cancellationSignal.addEventListener('abort', onAbort, { once: true });
    try {
      return await work({
        conn,
        setDetails(next) {
          details = { pid, ...next };
        },
      });
    } catch (error) {
      if (cancelled) throw new CancelledFailure('activity cancelled; the running statement was cancelled with pg_cancel_backend');
      throw error;
    } finally {
      if (timer) clearInterval(timer);
      activity?.cancellationSignal.removeEventListener('abort', onAbort);
    }
  });
}

/**
 * Runs work that makes no heartbeat of its own (a canary baseline takes seconds) while
 * heartbeating, so the activity's heartbeat timeout does not expire and retry it over and over.
 */
export async function whileHeartbeating<T>(work: () => Promise<T>): Promise<T> {
  const activity = activityContext();
  const timer = activity ? setInterval(() => activity.heartbeat(), HEARTBEAT_INTERVAL_MS) : null;
  try {
    activity?.heartbeat();
    return await work();
  } finally {
    if (timer) clearInterval(timer);
  }
}

/** Sleeps while heartbeating; wakes early (throwing) when the activity is cancelled. */
export async function cancellableSleep(ms: number): Promise<void> {
  const activity = activityContext();
  if (!activity) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return;
  }
  // Keep heartbeating through the pause: a backoff longer than the heartbeat timeout (lock retries
  // back off up to 15 s plus jitter) would otherwise time the activity out and start a second attempt.
  await whileHeartbeating(() => activity.sleep(ms));
}

export function throwIfCancelled(): void {
  const activity = activityContext();
  if (activity?.cancellationSignal.aborted) throw new CancelledFailure('activity cancelled');
}
