// The foreground's p99 by counting its tail: the duration that 1 % of the foreground's writing
// transactions exceeded. Pure, so it is unit-tested without a server.
//
// Why not a quantile of the observed transactions (the p95 reading, load-controller.ts)? A
// snapshot of pg_stat_activity sees a transaction with a chance proportional to its length, so
// the observed ages are a length-biased sample, and their quantiles follow the foreground's p99
// only loosely: in B2 the window p95 read 1.74× its baseline where pgbench's p99 read 1.25×, and
// below its baseline while pgbench's p99 doubled (BENCHMARKS.md, session 9). Counting avoids the
// bias: every transaction longer than the snapshot interval is seen, so the longest ones are
// counted whole, and the p99 is the (1 % × N)-th longest, given N, the number of transactions.
// N is exact from the xid horizon (`pg_snapshot_xmax`), which advances by one for every
// transaction that writes, less the xids this migration spent itself (foreground-observer.ts).
// So the tail is counted among writers: transactions seen holding an xid. Measured against
// pgbench's own p99 in B2, this read within 0.5 ms in 11 of 16 repetitions (session 9).

/** The quantile the tail count reads. */
export const TAIL_QUANTILE = 0.99;

/** A window of the foreground's writing transactions: how many ended, and the longest of them. */
export interface TailWindow {
  /** Writing transactions counted (the xid horizon's advance less our own xids), ≥ 0. */
  count: number;
  /** Estimated durations of the longest observed ones, ms, longest first, at most `keep`. */
  longest: number[];
}

export const emptyTail = (): TailWindow => ({ count: 0, longest: [] });

/** What an observer hands over at once: transactions counted, and the durations of those observed (any order). */
export interface TailChunk {
  count: number;
  durations: number[];
}

/**
 * How many durations a window keeps: the rank of its p99 when it holds up to four windows'
 * worth of transactions (a drain can overshoot the window a long way: a batch that runs seconds).
 * Past that the reading is a longer transaction than the p99, which errs toward caution.
 */
export const tailKeep = (windowTransactions: number): number => Math.max(1, Math.ceil((1 - TAIL_QUANTILE) * windowTransactions * 4 - 1e-9));

/** Adds `count` transactions, of which `durations` were observed, keeping the `keep` longest. */
export function addToTail(window: TailWindow, count: number, durations: readonly number[], keep: number): TailWindow {
  const added = Number.isFinite(count) ? count : 0;
  const longest = [...window.longest, ...durations.filter((d) => Number.isFinite(d) && d >= 0)].sort((a, b) => b - a).slice(0, Math.max(1, keep));
  return { count: Math.max(0, window.count + added), longest };
}

/**
 * The duration exceeded by (1 − q) of the window's transactions: the (1 − q) × count-th longest
 * observed. Fewer observed than that rank: the quantile lies below everything observed, so the
 * shortest observed one bounds it (0 with none observed).
 */
export function tailQuantile(window: TailWindow, q: number = TAIL_QUANTILE): number {
  return window.longest[Math.min(tailRank(window, q), window.longest.length) - 1] ?? 0;
}

const tailRank = (window: TailWindow, q: number): number => Math.max(1, Math.round((1 - q) * window.count));

/**
 * The window counted enough transactions for its quantile, and observed at least as many as the
 * quantile's rank (or as it keeps), so the quantile is one of them. Not so when the count is mostly xids of writers the observer
 * cannot see as foreground: another migration's canary and batches (this tool's sessions are not
 * foreground), or a foreground that only reads while something else on the cluster writes.
 * Counting those and observing none would read a p99 of nothing and let the step race.
 */
export function tailReadable(window: TailWindow, keep: number, q: number = TAIL_QUANTILE): boolean {
  // Nor does a p99 mean anything over fewer than 100 transactions: it would be their longest. (A
  // paused step judges partial windows; on a handful it held its pause on one slow transaction.)
  return window.count >= Math.round(1 / (1 - q)) && window.longest.length >= Math.min(tailRank(window, q), keep);
}

/**
 * Splits a stream of drains (each: transactions counted, durations observed) into consecutive
 * windows of at least `size` transactions; a last partial window is dropped.
 */
export function tailWindowsOf(drains: readonly TailChunk[], size: number): TailWindow[] {
  const out: TailWindow[] = [];
  const keep = tailKeep(size);
  let current = emptyTail();
  for (const d of drains) {
    current = addToTail(current, d.count, d.durations, keep);
    if (current.count >= size) {
      out.push(current);
      current = emptyTail();
    }
  }
  return out;
}

/** The tail-count baseline: the median of the p99s of the complete, readable windows; null with fewer than `minWindows`. */
export function tailBaseline(drains: readonly TailChunk[], size: number, minWindows: number): number | null {
  const keep = tailKeep(size);
  const values = tailWindowsOf(drains, size).filter((w) => tailReadable(w, keep)).map((w) => tailQuantile(w)).sort((a, b) => a - b);
  if (values.length < Math.max(1, minWindows) || values.length === 0) return null;
  const mid = Math.floor(values.length / 2);
  const value = values.length % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
  return value > 0 ? value : null;
}
