// Foreground transactions as the database sees them, from snapshots of pg_stat_activity taken a
// few milliseconds apart: every transaction in flight in another client session, with the time it
// began and its age at the snapshot. A transaction seen in one snapshot and gone in the next has
// ended; its last seen age is its sample. Pure, so the bookkeeping is unit-tested without a server.
//
// Why this exists beside the canary: the canary is one committing lookup, and the harm a migration
// does to a real foreground is often amplified by the foreground itself — a transaction slowed by
// CPU contention holds its row locks longer and the next ones queue behind it. In B2 the canary's
// p99 read 1.0–1.4× its baseline while pgbench's p99 doubled. The foreground's own transactions
// carry every such effect, whatever the workload looks like.
//
// Sampling bias, and why it does not matter for a ratio: a transaction shorter than the sampling
// interval is seen with probability proportional to its length, at an age uniform over it. The
// samples are therefore the length-biased age distribution, not the duration distribution. When
// the migration stretches the durations by some factor, the ages stretch by the same factor, so
// their high quantiles, compared with the same statistic measured before the step, read the ratio
// the budget is about. Where it does matter is stalls: a transaction longer than the interval is
// seen every time, so a moment that blocks every client weighs far more among the samples than
// among the transactions; the controller reads the p95 of its samples for that reason
// (FOREGROUND_QUANTILE in load-controller.ts).

/** A latency to 10 µs: what workflow state carries of samples and readings (4.12 costs a quarter
 *  of what 4.123456789012 does there). */
export const to10Micros = (ms: number): number => Math.round(ms * 100) / 100;

/** One in-flight transaction in one snapshot. */
export interface InFlight {
  /** Backend pid and transaction start, which together name the transaction. */
  pid: number;
  startedAt: number;
  /** Its age at the snapshot, ms. */
  ageMs: number;
  /** It holds a transaction id (it has written). Absent: unknown, taken as no. */
  writer?: boolean;
  /** It runs in this migration's database (absent: yes). The tail count reads every database's
   *  writers, because the xid horizon it counts them by is the cluster's. */
  here?: boolean;
  /** When the statement it was running (or last ran) at the snapshot began (query_start). */
  queryStartedAt?: number;
}

/** What is known of a transaction still in flight: its largest age seen, and whether every
 *  snapshot that saw it was quiet (no batch of ours running, nor recently: see canary-sampler.ts). */
export interface OpenTransaction {
  pid: number;
  startedAt: number;
  ageMs: number;
  quiet: boolean;
  /** Seen holding a transaction id in some snapshot. */
  writer: boolean;
  here: boolean;
  /** The statement's start at the last sighting (InFlight.queryStartedAt). */
  queryStartedAt?: number;
}

/** Transactions seen in the last snapshot, by pid and start. */
export type OpenTransactions = ReadonlyMap<string, OpenTransaction>;

export interface FinishedTransaction {
  pid: number;
  startedAt: number;
  /** Last seen age, ms. */
  ageMs: number;
  /** It ran (as far as the snapshots show) while the migration was quiet, including the
   *  snapshot that found it gone: it measures the foreground without this migration. */
  quiet: boolean;
  writer: boolean;
  here: boolean;
  /** The statement's start at its last sighting. */
  queryStartedAt?: number;
}

export interface TrackResult {
  open: Map<string, OpenTransaction>;
  finished: FinishedTransaction[];
}

const keyOf = (t: InFlight) => `${t.pid}:${t.startedAt}`;

/**
 * Folds one snapshot into the open transactions. `quiet` says whether the migration was quiet
 * since the previous snapshot and now; a transaction stays quiet only while every snapshot is.
 */
export function trackTransactions(previous: OpenTransactions, snapshot: readonly InFlight[], quiet: boolean): TrackResult {
  const open = new Map<string, OpenTransaction>();
  for (const t of snapshot) {
    if (!Number.isFinite(t.ageMs) || t.ageMs < 0 || !Number.isFinite(t.startedAt)) continue;
    const key = keyOf(t);
    const before = open.get(key) ?? previous.get(key);
    const next: OpenTransaction = { pid: t.pid, startedAt: t.startedAt, ageMs: Math.max(before?.ageMs ?? 0, t.ageMs), quiet: (before?.quiet ?? true) && quiet, writer: (before?.writer ?? false) || t.writer === true, here: t.here !== false };
    if (t.queryStartedAt !== undefined) next.queryStartedAt = t.queryStartedAt;
    open.set(key, next);
  }
  const finished: FinishedTransaction[] = [];
  for (const [key, t] of previous) {
    if (open.has(key)) continue;
    const done: FinishedTransaction = { pid: t.pid, startedAt: t.startedAt, ageMs: t.ageMs, quiet: t.quiet && quiet, writer: t.writer, here: t.here };
    if (t.queryStartedAt !== undefined) done.queryStartedAt = t.queryStartedAt;
    finished.push(done);
  }
  return { open, finished };
}

/** What a session shows in a snapshot: idle since a moment (after a statement that began at
 *  `lastQueryStartedAtMs`), or in a transaction that began at one. */
export type SessionState = { idleSinceMs: number; lastQueryStartedAtMs?: number } | { inTransactionSinceMs: number };

/** A finished transaction's estimated duration, and the width of the window its end lies in (its error). */
export interface DurationEstimate {
  durationMs: number;
  windowMs: number;
}

/**
 * How long a transaction ran that was last seen at `ageMs` and found gone by a snapshot `gapMs`
 * later, at `snapshotAtMs`, where its session shows `session` (absent: gone, or not shown).
 * - Its session is idle, gone idle after the sighting, and its last statement is the one the
 *   sighting saw running (the same query_start): that statement ended the transaction, so the
 *   end is known (state_change). A client that sends a transaction as one string, or whose COMMIT
 *   was already running, is read exactly.
 * - Its session is idle since a later statement, or in a later transaction: ours ended before
 *   that, so the window narrows to it. Only narrows: a session running transactions back to back
 *   may have run several since ours (taken as the end outright, "idle since" read a 10 ms p99 at
 *   11.9 ms and "the next BEGIN" at 14.8 in an earlier measurement: on two busy cores a client
 *   takes milliseconds to send its next BEGIN).
 * - Otherwise it ended somewhere in the gap.
 * Without a known end the estimate is the middle of the window. Why narrow it: a transaction
 * shorter than the gap is seen at a uniform age, and its estimate errs high by (gap − d)/2 on
 * average, an error that shrinks as d grows, so the reading moves less than the p99 does
 * (BENCHMARKS.md, session 12).
 */
export function estimateDuration(t: Pick<FinishedTransaction, 'startedAt' | 'ageMs' | 'queryStartedAt'>, gapMs: number, snapshotAtMs: number, session?: SessionState): DurationEstimate {
  const gap = Math.max(0, gapMs);
  const lastSeenAtMs = t.startedAt + t.ageMs;
  let boundMs = Number.POSITIVE_INFINITY;
  if (session !== undefined && 'idleSinceMs' in session && session.idleSinceMs > lastSeenAtMs && session.idleSinceMs <= snapshotAtMs) {
    const sameStatement = t.queryStartedAt !== undefined && session.lastQueryStartedAtMs === t.queryStartedAt;
    if (sameStatement) return { durationMs: Math.min(t.ageMs + gap, session.idleSinceMs - t.startedAt), windowMs: 0 };
    boundMs = session.idleSinceMs - lastSeenAtMs;
  } else if (session !== undefined && 'inTransactionSinceMs' in session && session.inTransactionSinceMs > lastSeenAtMs) {
    boundMs = session.inTransactionSinceMs - lastSeenAtMs;
  }
  const windowMs = Math.min(gap, boundMs);
  return { durationMs: t.ageMs + windowMs / 2, windowMs };
}
