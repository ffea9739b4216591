// Watches the foreground's own transactions (src/core/foreground-transactions.ts) by reading
// pg_stat_activity every `intervalMs` on a connection of its own, for as long as a slice runs.
// Sessions of this tool (application_name 'stockrx-migrate…': workers, CLI, the canary) are not
// foreground, nor are other databases' sessions or background processes. One snapshot costs the
// server a pass over its backends' status slots, a fraction of a millisecond.
import { sql } from 'kysely';
import { APPLICATION_NAME, type Db } from '../../db/connect';
import { type InFlight, type OpenTransactions, to10Micros, trackTransactions } from '../../core/foreground-transactions';
import { type QuietMark } from './batch-clock';
import { type PeriodicSampler, startPeriodicSampler } from './periodic-sampler';

export type ForegroundObserver = PeriodicSampler;


/** One snapshot: every other client session of this database inside a transaction. */
export async function inFlightTransactions(db: Db): Promise<InFlight[]> {
  const { rows } = await sql<{ pid: number; started_at: number; age_ms: number }>`
    SELECT pid,
           extract(epoch FROM xact_start)::float8 * 1000 AS started_at,
           extract(epoch FROM clock_timestamp() - xact_start)::float8 * 1000 AS age_ms
      FROM pg_stat_activity
     WHERE backend_type = 'client backend'
       AND datname = current_database()
       AND pid <> pg_backend_pid()
       AND xact_start IS NOT NULL
       AND state <> 'idle'
       AND coalesce(application_name, '') NOT LIKE ${APPLICATION_NAME + '%'}`.execute(db);
  // Ages to 10 µs (to10Micros): the samples travel in workflow state, up to 600 of them.
  return rows.map((r) => ({ pid: r.pid, startedAt: r.started_at, ageMs: to10Micros(r.age_ms) }));
}

export function startForegroundObserver(db: Db, options: { intervalMs: number; quietAfterMs: number }): ForegroundObserver {
  let open: OpenTransactions = new Map();
  let mark: QuietMark | null = null;
  return startPeriodicSampler(options, async (clock) => {
    const snapshot = await inFlightTransactions(db);
    // Quiet since the previous snapshot and now: a transaction is quiet only if every snapshot
    // that saw it (and the one that found it gone) was.
    const now = clock.mark();
    const quietNow = (mark === null || clock.stillQuiet(mark)) && now.quiet;
    mark = now;
    const tracked = trackTransactions(open, snapshot, quietNow);
    open = tracked.open;
    return { samples: tracked.finished.map((t) => t.ageMs), quiet: tracked.finished.filter((t) => t.quiet).map((t) => t.ageMs) };
  });
}

/**
 * Runs `work` with an observer on a connection of its own, or with null when `intervalMs` is 0
 * (not observing). The observer is stopped before the connection goes back to the pool.
 */
export async function withForegroundObserver<T>(db: Db, options: { intervalMs: number; quietAfterMs: number }, work: (observer: ForegroundObserver | null) => Promise<T>): Promise<T> {
  if (!(options.intervalMs > 0)) return work(null);
  return db.connection().execute(async (conn) => {
    const observer = startForegroundObserver(conn, options);
    try {
      return await work(observer);
    } finally {
      await observer.stop();
    }
  });
}
