// Database-side load for the controller, in one round trip: active client backends, sessions
// waiting on heavyweight locks, and replica replay lag. Host CPU says little when the database
// runs elsewhere; these are what the database itself is going through.
import { sql } from 'kysely';
import { type Db } from '../../db/connect';

export interface DatabaseLoad {
  /** Client backends running a statement right now, not counting the sampling session. */
  activeBackends: number;
  /** Sessions waiting for a heavyweight lock (table, row/transaction, advisory…). */
  lockWaiters: number;
  /** Max replay lag over replicas, ms; null when there are none (or their lag is not visible). */
  replicaLagMs: number | null;
  /**
   * False when the role cannot see other roles' sessions (neither superuser nor pg_read_all_stats
   * / pg_monitor): Postgres then hides their state, so both counts cover only our own role.
   */
  seesAllSessions: boolean;
}

export interface DatabaseLoadOptions {
  /**
   * 'server' (default): every database on the server, since they share its CPU, I/O and WAL.
   * 'database': only the current database, for a server shared with unrelated workloads.
   */
  scope?: 'server' | 'database';
}

export async function sampleDatabaseLoad(db: Db, options: DatabaseLoadOptions = {}): Promise<DatabaseLoad> {
  const everywhere = (options.scope ?? 'server') === 'server';
  const { rows } = await sql<{
    active_backends: number;
    lock_waiters: number;
    replica_lag_ms: number | null;
    sees_all: boolean | null;
  }>`
    SELECT
      (SELECT count(*) FROM pg_stat_activity a
        WHERE a.backend_type = 'client backend' AND a.state = 'active' AND a.pid <> pg_backend_pid()
          AND (${everywhere}::boolean OR a.datname = current_database()))::int AS active_backends,
      (SELECT count(*) FROM pg_stat_activity a
        WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()
          AND (${everywhere}::boolean OR a.datname = current_database()))::int AS lock_waiters,
      -- replay_lag is NULL once a standby has caught up and gone quiet: that is no lag. Rows
      -- whose state is hidden (no privilege) are left out rather than read as caught up.
      (SELECT (max(extract(epoch FROM coalesce(r.replay_lag, interval '0'))) * 1000)::float8
        FROM pg_stat_replication r WHERE r.state IS NOT NULL) AS replica_lag_ms,
      (SELECT r.rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
        FROM pg_roles r WHERE r.rolname = current_user) AS sees_all
  `.execute(db);
  const row = rows[0]!;
  return {
    activeBackends: row.active_backends,
    lockWaiters: row.lock_waiters,
    replicaLagMs: row.replica_lag_ms === null ? null : Math.round(row.replica_lag_ms),
    seesAllSessions: row.sees_all === true,
  };
}
