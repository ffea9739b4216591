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
    open.set(key, { pid: t.pid, startedAt: t.startedAt, ageMs: Math.max(before?.ageMs ?? 0, t.ageMs), quiet: (before?.quiet ?? true) && quiet, writer: (before?.writer ?? false) || t.writer === true, here: t.here !== false });
  }
  const finished: FinishedTransaction[] = [];
  for (const [key, t] of previous) if (!open.has(key)) finished.push({ pid: t.pid, startedAt: t.startedAt, ageMs: t.ageMs, quiet: t.quiet && quiet, writer: t.writer, here: t.here });
  return { open, finished };
}

/**
 * How long a transaction that ended between two snapshots `gapMs` apart ran: its last seen age
 * plus half the gap, the middle of where it can have ended. What its session shows in the later
 * snapshot does not narrow this down: measured beside pgbench (4 clients, 5 ms polls), "it ended
 * before its session's next transaction began" read the p99 at 14.8 ms against pgbench's 10.1
 * (on two busy cores a client takes milliseconds to send its next BEGIN), and "idle since" at
 * 11.9 (the session may have run whole transactions between the snapshots); the middle of the
 * gap read 10.9–11.5, and its last seen age plus a nominal half interval 8.4–8.9. The middle errs
 * high, toward caution, and more so when the observer itself is starved of CPU (longer gaps).
 */
export function estimateDuration(t: Pick<FinishedTransaction, 'ageMs'>, gapMs: number): number {
  return t.ageMs + Math.max(0, gapMs) / 2;
}
