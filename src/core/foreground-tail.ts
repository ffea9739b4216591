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
//
// Each duration is known only to within the gap between two snapshots (it ended somewhere in it:
// estimateDuration takes the middle, or of less where its session shows more), and an error that
// large inflates the longest ones: the (1 % × N)-th longest of the estimates reads the
// (1 % × N)-th longest of the durations plus the upper tail of the errors. When the gap is small beside the p99 (10 ms transactions, 8 ms gaps)
// that read about 10 % high; beside a faster foreground (p99 4–6 ms, 7 ms gaps) 30 % high. An
// additive error is not harmless: the budget is a ratio, and (p99 + e) / (baseline + e) reads
// pgbench's 1.7× as 1.3×, so the step overran a fast foreground while reading itself on target.
// The count corrects it by simulation-extrapolation (SIMEX; Cook and Stefanski, 1994): with each
// estimate also spread over the gap a second time (spreadDurations: the same error again, so twice
// its variance), the quantile moves by about as much as the first error moved it, and
// 2 × quantile − spread quantile extrapolates back to no error. Beside pgbench (4 clients, a
// 3–4 ms p99, 5 ms polls) the plain count read 1.32–1.38× its p99 and the corrected one 0.96–0.97×
// (BENCHMARKS.md, session 11). What stays low is the thinning: a transaction shorter than the gap
// is seen only in proportion to its length. A factor that is the same before and during the step
// cancels in the ratio; an added constant does not.
//
// The thinning turned out not to cancel (session 13): beside B2's pgbench, a 3.5 ms p99 polled
// every 10 ms, the corrected count's ratio read 0.78–0.81 of pgbench's own under a backfill. So a
// window now reads its p99 from its sightings (sightingTailQuantile, below: every writer in flight
// at every snapshot, at its age), which need no transaction to be seen ending and read that ratio
// at 0.98–1.03. N, the count, is what both readings divide by. The count of those seen ending
// remains the reading of a window that holds no sightings (states from before them) or too few.

/** The quantile the tail count reads. */
export const TAIL_QUANTILE = 0.99;

/** The ages of writing transactions in flight at each snapshot (sightingTailQuantile's evidence). */
export interface Sightings {
  /** Every sighting's age, ms (any order in a chunk; longest first, at most SIGHTINGS_PER_KEPT ×
   *  the window's keep, in a window). */
  agesMs: number[];
  /** The snapshots they come from, and the time those stand for (the sum of their gaps), ms. */
  snapshots: number;
  spanMs: number;
}

export const emptySightings = (): Sightings => ({ agesMs: [], snapshots: 0, spanMs: 0 });

/** A window of the foreground's writing transactions: how many ended, and the longest of them. */
export interface TailWindow {
  /** Writing transactions counted (the xid horizon's advance less our own xids), ≥ 0. */
  count: number;
  /** Estimated durations of the longest observed ones, ms, longest first, at most `keep`. */
  longest: number[];
  /** The longest of their spread durations (SPREAD_POINTS per transaction), longest first, at most
   *  SPREAD_POINTS × `keep`. Absent (states and chunks from before it): no correction. */
  spreadLongest?: number[];
  /** The longest sightings over the window (tailQuantile reads the p99 from them). Absent (states
   *  and chunks from before them, or a chunk that came without): the count of those seen ending reads it. */
  sightings?: Sightings;
}

export const emptyTail = (): TailWindow => ({ count: 0, longest: [], spreadLongest: [], sightings: emptySightings() });

/** What an observer hands over at once: transactions counted, and the durations of those observed (any order). */
export interface TailChunk {
  count: number;
  durations: number[];
  /** SPREAD_POINTS spread durations for each of `durations` (spreadDurations), any order. */
  spread?: number[];
  /** The sightings of the snapshots in this chunk. */
  sightings?: Sightings;
}

/**
 * The second, simulated error: each estimate moved by these fractions of its gap. They are the
 * midpoints of the quarters of a uniform error over the gap (the error the estimate has): one
 * value per quarter instead of a random draw, so the spread quantile is smooth and the same on
 * every replay, and 4 values per transaction rank it among 4 × N.
 */
export const SPREAD_OFFSETS = [-3 / 8, -1 / 8, 1 / 8, 3 / 8] as const;
export const SPREAD_POINTS = SPREAD_OFFSETS.length;

/** The spread durations of an estimate `durationMs` whose end lies somewhere in a gap of `gapMs`. */
export function spreadDurations(durationMs: number, gapMs: number): number[] {
  const gap = Math.max(0, gapMs);
  return SPREAD_OFFSETS.map((o) => Math.max(0, durationMs + o * gap));
}

/**
 * The correction never takes more than this fraction off the plain reading: it removes the error's
 * inflation, which measured 10–35 %. A window whose spread reads far above its plain count
 * (a few transactions, gaps long beside them) keeps at least half of it.
 */
export const MAX_SPREAD_CORRECTION = 0.5;

/**
 * How many durations a window keeps: the rank of its p99 when it holds up to four windows'
 * worth of transactions (a drain can overshoot the window a long way: a batch that runs seconds).
 * Past that the reading is a longer transaction than the p99, which errs toward caution.
 */
export const tailKeep = (windowTransactions: number): number => Math.max(1, Math.ceil((1 - TAIL_QUANTILE) * windowTransactions * 4 - 1e-9));

/**
 * A window keeps this many times `keep` sightings, the longest: the sightings quantile needs every
 * one from its band up, which at B2's rate is a few, but a stall seen in many snapshots adds one
 * per snapshot (a 100 ms one, nine at a 10 ms poll).
 */
export const SIGHTINGS_PER_KEPT = 5;

/**
 * The sightings quantile's band, ms. The sightings a band needs do not depend on how wide the
 * tail is, only on the band over the gap: (1 − q) × count × band / gap, about 7 in a window of
 * 4,000 transactions at 11 ms gaps (4 in the 2,000 it held when this was measured). A narrower
 * band smears less and holds fewer. Beside B2's pgbench under a backfill, 1 ms read its ratio 1.09–1.12 of pgbench's, 2 ms 0.98–1.03 and 4 ms
 * 0.87; in a simulated stream (test/unit/foreground-tail.test.ts' stream) a 2,000-transaction
 * window read 0.91–1.11 of its true p99 (p10–p90) at 2 ms, where the count of those seen ending
 * read 0.76–0.94.
 */
export const SIGHTING_BAND_MS = 2;

/** A window's count after a drain's: garbage adds nothing, and a count never goes negative. */
const withCount = (count: number, added: number): number => Math.max(0, count + (Number.isFinite(added) ? added : 0));

/**
 * Adds `count` transactions, of which `durations` were observed (with their `spread` durations),
 * keeping the `keep` longest, and the `sightings` of the snapshots that saw them. A window that
 * ever got durations without their spread stops correcting (spreadLongest undefined): its spread
 * would be missing transactions. Likewise a chunk without sightings ends the window's sightings.
 */
export function addToTail(window: TailWindow, count: number, durations: readonly number[], keep: number, spread?: readonly number[], sightings?: Sightings): TailWindow {
  const valid = (d: number) => Number.isFinite(d) && d >= 0;
  const kept = durations.filter(valid);
  const longest = [...window.longest, ...kept].sort((a, b) => b - a).slice(0, Math.max(1, keep));
  const spreadComplete = window.spreadLongest !== undefined && (kept.length === 0 || (spread !== undefined && spread.length === SPREAD_POINTS * durations.length));
  const next: TailWindow = { count: withCount(window.count, count), longest };
  if (spreadComplete) next.spreadLongest = [...window.spreadLongest!, ...(spread ?? []).filter(valid)].sort((a, b) => b - a).slice(0, SPREAD_POINTS * Math.max(1, keep));
  const seen = window.sightings;
  if (seen !== undefined && sightings !== undefined && Number.isFinite(sightings.snapshots) && Number.isFinite(sightings.spanMs)) {
    next.sightings = {
      agesMs: [...seen.agesMs, ...sightings.agesMs.filter(valid)].sort((a, b) => b - a).slice(0, SIGHTINGS_PER_KEPT * Math.max(1, keep)),
      snapshots: seen.snapshots + Math.max(0, sightings.snapshots),
      spanMs: seen.spanMs + Math.max(0, sightings.spanMs),
    };
  }
  return next;
}

/**
 * The duration exceeded by (1 − q) of the window's transactions: from its sightings
 * (sightingTailQuantile) when it has them and some band of them holds enough; else the
 * (1 − q) × count-th longest observed, corrected for the estimates' error (see the top of this
 * file) when the window carries its spread durations. Fewer observed than that rank: the
 * quantile lies below everything observed, so the shortest observed one bounds it (0 with none
 * observed).
 */
export function tailQuantile(window: TailWindow, q: number = TAIL_QUANTILE): number {
  const seen = window.sightings;
  if (seen !== undefined && seen.snapshots > 0 && seen.spanMs > 0) {
    const fromSightings = sightingTailQuantile(seen.agesMs, window.count, seen.spanMs / seen.snapshots, SIGHTING_BAND_MS, q);
    if (Number.isFinite(fromSightings)) return fromSightings;
  }
  return countedTailQuantile(window, q);
}

/** The count of those seen ending, corrected (tailQuantile without the sightings). */
export function countedTailQuantile(window: TailWindow, q: number = TAIL_QUANTILE): number {
  const rank = tailRank(window, q);
  const plain = window.longest[Math.min(rank, window.longest.length) - 1] ?? 0;
  const spread = window.spreadLongest;
  if (spread === undefined || spread.length < SPREAD_POINTS * Math.min(rank, window.longest.length) || plain <= 0) return plain;
  const spreadQuantile = spread[Math.min(SPREAD_POINTS * rank, spread.length) - 1]!;
  return Math.max(2 * plain - spreadQuantile, (1 - MAX_SPREAD_CORRECTION) * plain);
}

/** The plain count, without the correction (for comparison: b2-observer-cost). */
export const plainTailQuantile = (window: TailWindow, q: number = TAIL_QUANTILE): number => countedTailQuantile({ count: window.count, longest: window.longest }, q);

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
    current = addToTail(current, d.count, d.durations, keep, d.spread, d.sightings);
    if (current.count >= size) {
      out.push(current);
      current = emptyTail();
    }
  }
  return out;
}

/**
 * How many complete windows tailWindowsOf would split `drains` into, from their counts alone.
 * Why: the slice asks this every TAIL_CHUNK_MS while its baseline gathers, over every chunk so
 * far; tailWindowsOf merges and sorts each chunk's durations and sightings, and over 25 s of
 * B2's foreground (250 chunks) one call took 60 ms, so the wait took a third of a core by its
 * end, from the foreground the baseline was reading (BENCHMARKS.md, session 16).
 */
export function completeTailWindows(drains: readonly TailChunk[], size: number): number {
  let windows = 0;
  let count = 0;
  for (const d of drains) {
    count = withCount(count, d.count);
    if (count >= size) {
      windows++;
      count = 0;
    }
  }
  return windows;
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

/**
 * The foreground's q-quantile from its sightings: the ages of its writing transactions in flight
 * at each snapshot (every sighting, not only a transaction's last).
 *
 * Why: a snapshot finds, on average, λ × ∫ₓ^{x+h} S(y) dy transactions whose age lies in
 * [x, x + h), where λ is their rate and S(y) the share of them that run longer than y (each
 * snapshot a look at a random moment of a steady stream). Over a window of `count` transactions
 * and snapshots `meanGapMs` apart, the sightings in that band number count × ∫ S / meanGapMs,
 * whatever the gap, so S(x) ≈ (sightings in the band) × meanGapMs / (count × h). No transaction
 * has to be seen ending, so none has to outlast the gap to be counted, and the band's width, not
 * the gap's, is the only smear. Counting those seen ending misses that: a transaction shorter
 * than the gap is seen with a chance of its length over the gap, and beside B2's pgbench (a
 * 3.5 ms p99, 11 ms gaps) that count's ratio read 0.78–0.81 of pgbench's own under a backfill
 * where the sightings' read 0.98–1.03 (bench/b2-reading-under-load.ts, BENCHMARKS.md session 13).
 *
 * The quantile is the middle of the band where, from the longest down, a band of `bandMs` first
 * holds the (1 − q) × count × bandMs / meanGapMs sightings that S = 1 − q calls for; NaN when none does.
 */
export function sightingTailQuantile(sightingsMs: readonly number[], count: number, meanGapMs: number, bandMs: number, q: number = TAIL_QUANTILE): number {
  if (!(count > 0 && meanGapMs > 0 && bandMs > 0)) return Number.NaN;
  const needed = Math.max(1, Math.round(((1 - q) * count * bandMs) / meanGapMs));
  const longestFirst = sightingsMs.filter((a) => Number.isFinite(a) && a >= 0).sort((a, b) => b - a);
  for (let i = 0; i + needed - 1 < longestFirst.length; i++) {
    const lowest = longestFirst[i + needed - 1]!;
    if (longestFirst[i]! - lowest < bandMs) return lowest + bandMs / 2;
  }
  return Number.NaN;
}
