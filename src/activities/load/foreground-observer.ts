// Watches the foreground's own transactions (src/core/foreground-transactions.ts) by reading
// pg_stat_activity every `intervalMs` on a connection of its own, for as long as a slice runs.
// Sessions of this tool (application_name 'stockrx-migrate…': workers, CLI, the canary) are not
// foreground, nor are background processes. One snapshot costs the server a pass over its
// backends' status slots, a fraction of a millisecond, through a statement prepared once per
// connection (planning the view's joins at every poll cost about as much again).
//
// Two readings come out of the same snapshots:
// - the observed transactions of this database (their last seen ages), for the p95 reading;
// - the tail count (foreground-tail.ts): every writing transaction of the cluster that ended, with
//   its estimated duration, and how many writing transactions there were, from the xid horizon
//   less the xids this slice spent itself (own-xids.ts). Sessions that went idle lately are in
//   the snapshot too: when a session went idle, or began its next transaction, bounds when its
//   previous one ended (estimateDuration). The horizon is the cluster's, so the tail is every
//   database's writers too: they share the server our batches load. A snapshot that cannot see
//   some session's transaction (a role without pg_read_all_stats looking at another role's
//   session) leaves that tail incomplete, and the drain reports none.
import { sql } from 'kysely';
import { APPLICATION_NAME, type Db } from '../../db/connect';
import { emptySightings, SPREAD_POINTS, spreadDurations, type TailChunk } from '../../core/foreground-tail';
import { estimateDuration, type FinishedTransaction, type InFlight, type OpenTransaction, type OpenTransactions, type SessionState, to10Micros, trackTransactions } from '../../core/foreground-transactions';
import { type QuietMark } from './batch-clock';
import { type OwnXids } from './own-xids';
import { type PeriodicSampler, startPeriodicSampler } from './periodic-sampler';

/** The tail count's evidence since the previous drain: all of it, and the quiet part. */
export interface TailDrain {
  tail: TailChunk;
  quiet: TailChunk;
  /** The server-clock gaps between consecutive snapshots, ms, oldest first: what each estimate's
   *  error is as wide as (diagnostics: b2-reading-under-load measures how they stretch under load). */
  gapsMs: number[];
}

export interface ForegroundObserver extends PeriodicSampler {
  /** Writing transactions counted and observed since the previous call; null when a snapshot in
   *  that time could not see every session, or the xid horizon could not be read. */
  drainTail(): TailDrain | null;
}

/** One snapshot of pg_stat_activity: every other client session of the cluster inside a transaction. */
export interface ActivitySnapshot {
  /** The xid horizon (`pg_snapshot_xmax`): one past the newest xid assigned. */
  xmax: number;
  /** Server clock at the snapshot, ms since the epoch. */
  atMs: number;
  transactions: InFlight[];
  /** What each session (pid) shows: what tells when its previous transaction ended (estimateDuration). */
  sessions: Map<number, SessionState>;
  /** Client sessions whose state this role may not see. */
  hidden: number;
}

/** How recently an idle session must have gone idle for the snapshot to show it (far beyond any gap between polls). */
const IDLE_BOUND_MS = 250;

/** pg_stat_activity and the xid horizon in one snapshot, as SQL (APPLICATION_NAME is a constant of ours). */
const SNAPSHOT_SQL = `
    WITH horizon AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax, clock_timestamp() AS at)
    SELECT h.xmax,
           extract(epoch FROM h.at)::float8 * 1000 AS at_ms,
           a.pid,
           extract(epoch FROM a.xact_start)::float8 * 1000 AS started_at,
           extract(epoch FROM h.at - a.xact_start)::float8 * 1000 AS age_ms,
           extract(epoch FROM a.state_change)::float8 * 1000 AS idle_since,
           extract(epoch FROM a.query_start)::float8 * 1000 AS query_started_at,
           a.backend_xid IS NOT NULL AS writer,
           a.datname = current_database() AS here,
           a.query = '<insufficient privilege>' AS hidden
      FROM horizon h
      LEFT JOIN pg_stat_activity a
        ON a.backend_type = 'client backend'
       AND a.pid <> pg_backend_pid()
       AND (a.query = '<insufficient privilege>'
            OR (coalesce(a.application_name, '') NOT LIKE '${APPLICATION_NAME.replaceAll("'", "''")}%'
                AND ((a.xact_start IS NOT NULL AND a.state <> 'idle')
                     -- Idle only lately: when its last transaction ended (estimateDuration). Older idle
                     -- sessions (a large idle pool) would only make the snapshot longer.
                     OR (a.state = 'idle' AND a.state_change > h.at - interval '${IDLE_BOUND_MS} milliseconds'))))`;

/**
 * The snapshot as a prepared statement on the observer's own connection: at one snapshot every
 * 5 ms, parsing and planning the view's joins each time is most of what the poll costs the server.
 */
const PREPARED_SNAPSHOT = 'stockrx_activity_snapshot';

async function prepareSnapshot(db: Db): Promise<void> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = ${PREPARED_SNAPSHOT}`.execute(db);
  if (rows[0]!.n === 0) await sql.raw(`PREPARE ${PREPARED_SNAPSHOT} AS ${SNAPSHOT_SQL}`).execute(db);
}

/** One snapshot; `prepared`: through PREPARED_SNAPSHOT, which prepareSnapshot made on this connection. */
export async function activitySnapshot(db: Db, prepared = false): Promise<ActivitySnapshot> {
  type Row = { xmax: string; at_ms: number; pid: number | null; started_at: number | null; age_ms: number | null; idle_since: number | null; query_started_at: number | null; writer: boolean | null; here: boolean | null; hidden: boolean | null };
  const { rows } = await sql.raw<Row>(prepared ? `EXECUTE ${PREPARED_SNAPSHOT}` : SNAPSHOT_SQL).execute(db);
  const first = rows[0]!;
  const transactions: InFlight[] = [];
  const sessions = new Map<number, SessionState>();
  let hidden = 0;
  for (const r of rows) {
    if (r.hidden) hidden += 1;
    else if (r.pid !== null && r.started_at !== null && r.age_ms !== null) {
      // Ages to 10 µs (to10Micros): the samples travel in workflow state, up to 600 of them.
      const t: InFlight = { pid: r.pid, startedAt: r.started_at, ageMs: to10Micros(r.age_ms), writer: r.writer === true, here: r.here === true };
      if (r.query_started_at !== null) t.queryStartedAt = r.query_started_at;
      transactions.push(t);
      sessions.set(r.pid, { inTransactionSinceMs: r.started_at });
    } else if (r.pid !== null && r.idle_since !== null) {
      sessions.set(r.pid, r.query_started_at !== null ? { idleSinceMs: r.idle_since, lastQueryStartedAtMs: r.query_started_at } : { idleSinceMs: r.idle_since });
    }
  }
  return { xmax: Number(first.xmax), atMs: first.at_ms, transactions, sessions, hidden };
}

/** One snapshot of this database's transactions only (what the p95 reading observes). */
export async function inFlightTransactions(db: Db): Promise<InFlight[]> {
  return (await activitySnapshot(db)).transactions.filter((t) => t.here !== false);
}

const emptyDrain = (): TailDrain => ({ tail: { count: 0, durations: [], spread: [], sightings: emptySightings() }, quiet: { count: 0, durations: [], spread: [], sightings: emptySightings() }, gapsMs: [] });

/**
 * At most this many observed durations wait for a drain (a slice that stops draining must not grow
 * memory). Past it only the longest half is kept: the tail count reads the longest few, and
 * dropping the oldest instead would leave their transactions counted but their tail gone.
 */
const MAX_TAIL_BUFFERED = 20_000;

export function startForegroundObserver(db: Db, options: { intervalMs: number; quietAfterMs: number; ownXids?: OwnXids }): ForegroundObserver {
  let open: OpenTransactions = new Map();
  let mark: QuietMark | null = null;
  let previous: { xmax: number; atMs: number; own: number } | null = null;
  let tail = emptyDrain();
  let tailComplete = true;
  // `per`: values per transaction (the spread durations), so both lists keep the same transactions' worth.
  const keep = (buffer: number[], values: number[], per = 1) => {
    buffer.push(...values);
    if (buffer.length > per * MAX_TAIL_BUFFERED) {
      buffer.sort((a, b) => b - a);
      buffer.length = (per * MAX_TAIL_BUFFERED) / 2;
    }
  };
  let prepared = false;
  const sampler = startPeriodicSampler(options, async (clock) => {
    if (!prepared) {
      await prepareSnapshot(db);
      prepared = true;
    }
    const snapshot = await activitySnapshot(db, true);
    const own = options.ownXids?.total() ?? 0;
    // Quiet since the previous snapshot and now: a transaction is quiet only if every snapshot
    // that saw it (and the one that found it gone) was.
    const now = clock.mark();
    const quietNow = (mark === null || clock.stillQuiet(mark)) && now.quiet;
    mark = now;
    const tracked = trackTransactions(open, snapshot.transactions, quietNow);
    open = tracked.open;
    if (snapshot.hidden > 0 || !Number.isFinite(snapshot.xmax)) tailComplete = false;
    if (previous !== null) {
      // A transaction gone from this snapshot ended between the previous one and this.
      const gapMs = snapshot.atMs - previous.atMs;
      if (tail.gapsMs.length < MAX_TAIL_BUFFERED) tail.gapsMs.push(gapMs);
      // Every writer in flight now, at its age (foreground-tail.ts: sightingTailQuantile). The snapshot
      // stands for the gap before it; the quiet chunk takes the quiet writers of a quiet one.
      const sight = (chunk: TailChunk, inFlight: OpenTransaction[]) => {
        const seen = chunk.sightings!;
        keep(seen.agesMs, inFlight.map((t) => t.ageMs));
        seen.snapshots += 1;
        seen.spanMs += gapMs;
      };
      const writersInFlight = [...tracked.open.values()].filter((t) => t.writer);
      sight(tail.tail, writersInFlight);
      if (quietNow) sight(tail.quiet, writersInFlight.filter((t) => t.quiet));
      // Each estimate with its spread durations (foreground-tail.ts: the correction for its
      // error), spread over the window in which it ended (estimateDuration).
      const add = (chunk: TailChunk, ended: FinishedTransaction[]) => {
        const estimates = ended.map((t) => estimateDuration(t, gapMs, snapshot.atMs, snapshot.sessions.get(t.pid)));
        keep(chunk.durations, estimates.map((e) => to10Micros(e.durationMs)));
        keep(chunk.spread!, estimates.flatMap((e) => spreadDurations(e.durationMs, e.windowMs).map(to10Micros)), SPREAD_POINTS);
      };
      const writers = tracked.finished.filter((t) => t.writer);
      const count = snapshot.xmax - previous.xmax - (own - previous.own);
      tail.tail.count += count;
      add(tail.tail, writers);
      if (quietNow) {
        tail.quiet.count += count;
        add(tail.quiet, writers.filter((t) => t.quiet));
      }
    }
    previous = { xmax: snapshot.xmax, atMs: snapshot.atMs, own };
    const here = tracked.finished.filter((t) => t.here);
    return { samples: here.map((t) => t.ageMs), quiet: here.filter((t) => t.quiet).map((t) => t.ageMs) };
  });
  return {
    ...sampler,
    async stop() {
      await sampler.stop();
      // The connection goes back to a pool: leave it as it came.
      if (prepared) await sql.raw(`DEALLOCATE ${PREPARED_SNAPSHOT}`).execute(db).catch(() => undefined);
    },
    drainTail() {
      const out = tailComplete ? tail : null;
      tail = emptyDrain();
      tailComplete = true;
      return out;
    },
  };
}

/**
 * The tail count's evidence in chunks of TAIL_CHUNK_MS, drained from the observer as it comes:
 * a window is made of whole chunks (tailWindowsOf), so evidence drained in one piece after the
 * canary's 4.5 s baseline would make a single window of it, however many transactions it held.
 */
export const TAIL_CHUNK_MS = 100;

export interface TailChunkCollector {
  /** The chunks so far; null once some drain could not count the tail. */
  chunks(): TailChunk[] | null;
  /** Every gap between snapshots so far, ms (TailDrain.gapsMs). */
  gapsMs(): number[];
  /** Stops draining, after one last drain. Idempotent. */
  stop(): void;
}

export function collectTailChunks(observer: ForegroundObserver): TailChunkCollector {
  const chunks: TailChunk[] = [];
  const gaps: number[] = [];
  let complete = true;
  let timer: NodeJS.Timeout | null = null;
  const take = () => {
    const d = observer.drainTail();
    if (d === null) complete = false;
    else {
      chunks.push(d.tail);
      gaps.push(...d.gapsMs);
    }
  };
  take();
  timer = setInterval(take, TAIL_CHUNK_MS);
  return {
    chunks: () => (complete ? chunks : null),
    gapsMs: () => gaps,
    stop: () => {
      if (timer === null) return;
      clearInterval(timer);
      timer = null;
      take();
    },
  };
}

/**
 * Runs `work` with an observer on a connection of its own, or with null when `intervalMs` is 0
 * (not observing). The observer is stopped before the connection goes back to the pool.
 */
export async function withForegroundObserver<T>(db: Db, options: { intervalMs: number; quietAfterMs: number; ownXids?: OwnXids }, work: (observer: ForegroundObserver | null) => Promise<T>): Promise<T> {
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
