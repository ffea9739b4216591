// The load controller: (state, load sample, config) → next batch size, pause and action. Pure and
// deterministic because the workflow calls it and Temporal replays it; its state is plain JSON so
// it crosses continue-as-new. Every number it returns is a whole number inside the configured
// bounds, whatever it is fed: samples cross process boundaries as JSON, where NaN becomes null.
//
// Rules, strongest wins (pressure rules are not compounded, so three signals over threshold do not
// shrink three times in one step):
//   pressure   slow batch (> queryTimeThreshold)   batch × (1 − f), pause + 500 ms        (seed)
//              CPU / memory over threshold          batch × (1 − f), pause doubled (≥ +100)(seed)
//              active backends / lock waiters /
//              replica lag over threshold           batch × (1 − f), pause doubled (≥ +100)
//   budget     the latency reading (canary p99, or the foreground's p95: below) against
//              budget × baseline, judged once per full window: a set point, not a ceiling.
//              rate × (latencyTarget ÷ reading/limit)², within ×0.5 … ×1.5, ±5 % dead band
//              slower: a longer pause (paceAt); over 1.2× the limit the batch × (1 − f) too
//              faster: batch × the step (seed's growth, up to the target time), pause to match
//   steering   expected batch time over target      batch × max(1 − f, target / expected)
//   relief     (no latency budget in use; no pressure, not paused)
//              batch faster than threshold / 2 and
//              expected time under target           batch × (1 + f), capped at the target size (seed)
//                                                   pause − 100 ms (seed; with a budget, only
//                                                   while its reading is under half of it)
//   critical   any signal over its critical level → action 'pause' (no batch) with the reasons;
//              'resume' after RESUME_AFTER_CALM_SAMPLES samples in a row with every signal back
//              under its NORMAL threshold (the gap is the hysteresis).
//   baseline   the canary's baseline (what the budget is relative to) is re-measured from every full
//              window of quiet lookups — no batch running, seconds after the last — never set
//              below the one measured before the step, and raised only once the pause is at its
//              longest (or the step is paused): until then the slowness may be the step's own.
//   foreground while the foreground's own transactions are visible (foreground-transactions.ts) and
//              a window of them can be read, their p95 against their pre-step baseline is the
//              latency reading every canary rule above uses, instead of the canary's: it is the
//              harm itself rather than a proxy for it (p95, not p99: see FOREGROUND_QUANTILE). The
//              canary stands in when no foreground is seen, and its critical level still pauses (a
//              foreground blocked outright finishes no transactions to read), on a full window.
//              Each baseline is re-measured from its own quiet samples.
//   tail       when the foreground writes enough for the tail count (foreground-tail.ts: the p99
//              of its writing transactions, counted exactly through the xid horizon) to have
//              measured a baseline before the step, that reading governs instead of the p95: it is
//              the foreground's own p99, free of the observer's length bias.
// While a canary is measured, host CPU is advisory: the canary measures the harm to foreground
// traffic directly, and the worker's CPU is often not even the database host's (on a shared box,
// the foreground alone can keep CPU above 70 % and would otherwise stall the migration for good).
// Memory stays binding: running out of it is a cliff that latency does not announce.
import { addToTail, emptyTail, type Sightings, TAIL_QUANTILE, type TailChunk, tailKeep, tailQuantile, tailReadable, type TailWindow } from './foreground-tail';
import { to10Micros } from './foreground-transactions';
import { initialRateGain, judgeRateGain, RATE_GAIN, type RateGainState, sanitizeRateGain } from './rate-gain';
import { CANARY_CRITICAL_PER_BUDGET, canaryEnabled, DEFAULT_LATENCY_TARGET, DEFAULT_LOAD_CONTROL, LATENCY_TARGET_RANGE, LEGACY_LATENCY_TARGET, type LoadControlConfig } from './load-control-config';

export interface LoadSample {
  /** Wall time of the batch just run, ms. */
  batchMs: number;
  /** Rows it touched; 0 when no batch ran since the last sample (paused, or a first probe). */
  rows: number;
  cpuPercent: number;
  memoryPercent: number;
  activeBackends: number;
  lockWaiters: number;
  /** Max replay lag over replicas, ms; null when there are none (or it cannot be seen). */
  replicaLagMs: number | null;
  /** The latest canary lookup, ms; null when not measured. */
  canaryMs: number | null;
  /**
   * Every canary lookup timed since the previous sample, oldest first (the continuous sampler,
   * canary-sampler.ts); empty when none finished since. When given, it replaces `canaryMs` as the
   * controller's evidence and says the canary is running even when no lookup finished.
   */
  canarySamples?: number[] | null;
  /**
   * The quiet ones among `canarySamples`: lookups that overlapped no batch and began well after
   * the last one ended (canary-sampler.ts). They read the foreground as it is now without this
   * migration, and re-measure the baseline (see decide).
   */
  canaryQuietSamples?: number[] | null;
  /**
   * The foreground's own transactions that ended since the previous sample, their last seen ages
   * in ms (foreground-observer.ts); null when not observed, empty when none ended since.
   */
  foregroundSamples?: number[] | null;
  /** The quiet ones among `foregroundSamples` (ran with no batch of ours, nor one recently). */
  foregroundQuietSamples?: number[] | null;
  /**
   * The tail count's evidence since the previous sample (foreground-tail.ts): writing transactions
   * counted, and the estimated durations of those observed; null when not counted.
   */
  foregroundTail?: TailChunk | null;
  /** Its quiet part: counted and observed while the migration was quiet. */
  foregroundQuietTail?: TailChunk | null;
}

/** The latency budget's last judgement (see decide), for monitoring: what it read against what it allows. */
export interface LatencyReading {
  /** 'foreground' (its own transactions) or 'canary'. */
  source: string;
  /** The quantile read: 'p95' for the foreground, 'p99' for the canary. */
  statistic: string;
  valueMs: number;
  /** The budget: latencyBudget × baseline, or latencyBudgetMinMs when that is larger. */
  limitMs: number;
  baselineMs: number;
}

export interface ControllerState {
  batchSize: number;
  /** Pause between batches, ms. */
  sleepMs: number;
  /** EWMA of batch wall time, ms (for display; it mixes batch sizes). */
  smoothedBatchMs: number | null;
  /** EWMA of batch time per row, ms: size-independent, so it predicts the next batch's time. */
  smoothedRowMs: number | null;
  /** What the canary statistic reads with no migration running; null until measured. The budget
   *  is relative to it. Re-measured from quiet lookups, never below canaryStepBaselineMs. */
  canaryBaselineMs: number | null;
  /** The baseline measured before the step (optional: states from before it lack it). */
  canaryStepBaselineMs?: number | null;
  /** Quiet lookups (LoadSample.canaryQuietSamples) gathered toward the next re-measurement. */
  canaryQuietWindow?: number[];
  /** Recent canary latencies, oldest first, at most `canaryWindow`. Emptied whenever the
   *  settings change because of it, so each judgement uses samples taken under current settings. */
  canaryWindow: number[];
  paused: boolean;
  /** Why the controller paused (critical signals at the time); empty when running. */
  pauseReasons: string[];
  /** Consecutive calm samples while paused. */
  calmSamples: number;
  /** The last full judgement read "over budget" and waits for the next window to confirm it. */
  canaryOverPending?: boolean;
  /** The foreground's counterparts of the canary's baseline, floor and windows (optional: states
   *  from before the foreground was observed lack them). Null baseline: no foreground was seen
   *  before the step, and the canary alone measures harm. */
  foregroundBaselineMs?: number | null;
  foregroundStepBaselineMs?: number | null;
  foregroundWindow?: number[];
  foregroundQuietWindow?: number[];
  /** The tail count's counterparts (foreground-tail.ts): its baseline (null: the foreground did not
   *  write enough before the step to measure one, and the p95 or the canary governs), its floor,
   *  and its windows. */
  foregroundTailBaselineMs?: number | null;
  foregroundTailStepBaselineMs?: number | null;
  foregroundTail?: TailWindow;
  foregroundQuietTail?: TailWindow;
  /** The latency budget's last judgement on a full window (or an over-budget one); null before
   *  the first. Windows restart with every change, so the current one is often partial. */
  lastReading?: LatencyReading | null;
  /** The rate law's gain schedule (rate-gain.ts); absent in states from before it, which keep the fixed gain. */
  rateGain?: RateGainState;
}

export type ControllerAction = 'continue' | 'pause' | 'resume';

export interface Decision {
  state: ControllerState;
  /** Rows for the next batch. */
  batchSize: number;
  /** Wait this long before the next batch — or, when paused, before the next sample. */
  sleepMs: number;
  /** 'pause': run no batch now (entering or staying paused); 'resume': the pause just ended. */
  action: ControllerAction;
  reasons: string[];
}

/** Weight of the newest batch in the EWMAs: about the last 5 batches dominate. */
export const EWMA_ALPHA = 0.3;
/** A latency reading under this fraction of the budget also allows the seed's fixed pause cut. */
export const CANARY_FAR_UNDER = 0.5;
/** Fewest fresh canary samples that can show a critical overshoot (or keep a pause going). */
export const CANARY_MIN_SAMPLES = 5;
/**
 * Fewest fresh samples that can show the (non-critical) budget is exceeded while batches run: the
 * p99 of a handful of lookups is their maximum, and one scheduling hiccup on a busy host then
 * reads as harm. The controller swung to its floor that way and, needing a full comfortable
 * window to speed up again, stayed there.
 */
export const CANARY_OVER_SAMPLES = 20;
/**
 * The foreground's window holds this many times canaryWindow transactions. They arrive faster than
 * lookups on any database busy enough to be worth protecting (B2: ~200 a second against 66), and
 * a transaction's latency has a longer tail than a lookup's, so its windowed p99 needs more of
 * them to be steady: 300 is its third-largest instead of the second-largest of 100.
 */
export const FOREGROUND_WINDOW_PER_CANARY = 3;
/** Foreground transactions in the controller's window (and in each window of its baseline). */
export const foregroundWindowSize = (config: Pick<LoadControlConfig, 'canaryWindow'>): number => FOREGROUND_WINDOW_PER_CANARY * canaryWindowOf(config);
/**
 * The tail count's window holds this many times canaryWindow writing transactions for each
 * TAIL_WINDOW_GAP_MS of the observer's poll (foregroundIntervalMs): 8,000 at the defaults' 20 ms;
 * B2's foreground commits about 2,500–3,000 a second, so a window fills in about three.
 *
 * Why it grows with the poll's gap: a band of ages holds sightings in proportion to writers ÷ gap
 * (foreground-tail.ts: sightingTailQuantile), so twice the gap needs twice the writers for the
 * same evidence. Windows of 4,000 writers read 0.84–1.26× the point's p99 at 10 ms (p10–p90) and
 * 0.76–1.72× at 20 ms (bench/b2-observer-cost.ts, BENCHMARKS.md session 15).
 *
 * Why 4,000 at 10 ms and not 2,000 (session 14): the sightings' p99 rests on the few sightings of
 * one band, about 4 in 2,000 writers at 11 ms gaps, and under a backfill one window read from 0.84
 * to 1.90× the point's p99 (p10–p90). The rate answers each reading squared (RATE_GAIN) and the
 * foreground's p99 answers the rate only shallowly, so that noise made the rate wander by about
 * 2× from window to window: the minute's p99 pools the windows at the high end, and B2 pooled at
 * 1.05–1.1× its median window. Twice the writers halve the variance (8 sightings a band). Judging
 * every three seconds instead of one is still far inside the time a backfill's harm takes to
 * build, and the canary's backstop (canary-pace.ts) still answers a stall at once. The cost: a
 * foreground needs more writers a second for its tail baseline (TAIL_BASELINE_MIN_WINDOWS:
 * 1,000 at the defaults); a slower one is read by the p95.
 */
export const TAIL_WINDOW_PER_CANARY = 40;
/** The poll gap TAIL_WINDOW_PER_CANARY is sized for; a longer gap widens the window in proportion. */
const TAIL_WINDOW_GAP_MS = 10;
/** Writing transactions in the tail count's window (and in each window of its baseline). */
export const foregroundTailWindowSize = (config: Pick<LoadControlConfig, 'canaryWindow' | 'foregroundIntervalMs'>): number =>
  Math.round(TAIL_WINDOW_PER_CANARY * canaryWindowOf(config) * tailGapScale(config));
/** How many TAIL_WINDOW_GAP_MS the poll's gap spans (never under 1: a finer poll keeps the window). */
function tailGapScale(config: Pick<LoadControlConfig, 'foregroundIntervalMs'>): number {
  const gap = config.foregroundIntervalMs;
  return Number.isFinite(gap) && gap > TAIL_WINDOW_GAP_MS ? Math.min(gap, 10_000) / TAIL_WINDOW_GAP_MS : 1;
}
/** The canary reads the p99 of its window: every lookup is timed, so its sample is the lookups. */
export const CANARY_QUANTILE = 0.99;
/**
 * The foreground reads the p95 of its window of observed transactions, which tracks the
 * foreground's own p99: the observer's sample is length-biased. A snapshot every 20 ms sees a
 * 2 ms transaction with a chance of one in ten, but a transaction stalled for 50 ms or more every
 * time, so a stall that blocks the four clients of B2's pgbench for a moment is 4 of ~2,500
 * transactions (0.2 %, invisible to their p99) but 4 of the window's 300 samples (1.3 %), and the
 * window's p99 (its third largest) becomes the stall. Read that way, the window p99 varied by
 * 25 % (coefficient of variation) on a database with no migration at all, and at a fixed setting
 * where pgbench's own p99 was 1.42× its baseline, 64 % of windows read over 1.5×: the
 * controller backed off from settings that were within budget, down to its floor. The window's
 * p95 (its 15th largest) varied by 11 % with no migration, read over 1.5× in 14 % of windows at
 * that setting, and its ratio to baseline followed pgbench's p99 ratio within about 0.1 at every
 * setting up to 1.65× (`bench/b2-load-control.ts --observe on`; BENCHMARKS.md, session 7).
 */
export const FOREGROUND_QUANTILE = 0.95;
/**
 * The latency budget is a set point, not a ceiling with a dead zone under it: each judged window
 * moves the rate by (LATENCY_TARGET ÷ reading/limit)^RATE_GAIN, within MIN_RATE_STEP…MAX_RATE_STEP.
 * The earlier rule held still anywhere between 0.8 and 1.0 of the budget and stepped by fixed
 * factors outside it (+50 % rate on a comfortable window, −37 % or more on an over one): in B2 the
 * foreground's p99 went from 1.25× at 5k rows/s to 1.48× at 16k, so "anywhere in the band" was
 * anywhere between a third of the best safe rate and all of it, and the fixed up-step raced past
 * the budget in one window. Steps proportional to the distance from the target are large far
 * from it and small near it, and the dead band below (±5 % of rate) is narrow, so the step
 * settles around the target instead of where the last saw-tooth left it. The target sits under
 * the budget because a window's reading varies by about 11 % at a steady setting (see
 * FOREGROUND_QUANTILE): settling on the budget itself would put half the windows over it.
 *
 * How far under is latencyTarget (a setting; its default's note, DEFAULT_LATENCY_TARGET, has the
 * numbers). What the margin is for, beyond a window's spread, is what the reading cannot see:
 * - its baseline is measured with instruments running, the observer's 20 ms poll among them
 *   (1.04× a foreground's mean, 1.11× its p99 beside B2's script, bench/b2-observer-cost.ts,
 *   session 15), and the budget grants that cost on top;
 * - a minute's pooled p99 sits above the median window's (1.05–1.1× in B2): the windows that
 *   read high carry most of the minute's tail.
 * (Session 12 kept 0.8 rather than 0.85 while the reading understated the harm, 0.78–0.88 of
 * pgbench's p99 ratio; the sightings, foreground-tail.ts, read it at 0.98–1.05 since session 13.)
 */
export const LATENCY_TARGET = DEFAULT_LATENCY_TARGET;
// The rate answers the reading steeply because harm answers the rate shallowly (B2: 3× the rate
// for 1.2× the p99); rate-gain.ts narrows that gain once readings cross the target.
export { RATE_GAIN } from './rate-gain';
export const MAX_RATE_STEP = 1.5;
export const MIN_RATE_STEP = 0.5;
/** A step this close to 1 leaves the settings as they are (the window still restarts). */
export const RATE_DEAD_BAND = 0.05;

/** The rate step for a reading at `overshoot` × the budget's limit, aiming at `target` of it (see LATENCY_TARGET), with exponent `gain` (rate-gain.ts). */
export function rateStepFor(overshoot: number, target: number = LATENCY_TARGET, gain: number = RATE_GAIN): number {
  if (!(overshoot > 0)) return MAX_RATE_STEP;
  return Math.min(MAX_RATE_STEP, Math.max(MIN_RATE_STEP, (target / overshoot) ** gain));
}

/**
 * The pause that runs `batchSize × batchScale` rows at `step` times the present rate, where a
 * batch takes `batchMs` (the smoothed estimate) and `sleepMs` follows it. Rounded away from the
 * present pause, so a small step still moves it; never negative (callers clamp to the bounds).
 */
export function paceAt(step: number, batchSize: number, batchMs: number, sleepMs: number, batchScale = 1): number {
  const cycleMs = Math.max(0, batchMs) + Math.max(0, sleepMs);
  if (!(step > 0) || !(batchSize > 0)) return sleepMs;
  const rate = batchSize / Math.max(cycleMs, 1e-6);
  const pause = (batchSize * batchScale) / (rate * step) - Math.max(0, batchMs) * batchScale;
  return Math.max(0, step < 1 ? Math.ceil(pause) : Math.floor(pause));
}

/** Calm samples in a row before a critical pause ends. */
export const RESUME_AFTER_CALM_SAMPLES = 3;
/** How often a paused controller takes a new sample (within minSleepMs…maxSleepMs). */
export const PAUSED_POLL_MS = 1000;
/** Seed: a slow batch adds half a second of pause; a fast one removes a tenth. */
export const SLOW_BATCH_PAUSE_MS = 500;
export const FAST_BATCH_RELIEF_MS = 100;
/** Smallest pause increase for host/database pressure, so a 0 ms pause grows. (The latency budget
 *  computes its pause from the rate it wants: paceAt.) */
export const PRESSURE_PAUSE_STEP_MS = 100;

// Caps keep every stored number finite and JSON-safe, however absurd the input.
const MAX_MS = 1e9;
const MAX_COUNT = 1e9;

export function initialControllerState(config: LoadControlConfig): ControllerState {
  const b = boundsOf(config);
  return {
    batchSize: clampInt(finiteOr(config.initialBatchSize, b.minBatch), b.minBatch, b.maxBatch),
    sleepMs: clampInt(finiteOr(config.sleepMs, b.minSleep), b.minSleep, b.maxSleep),
    smoothedBatchMs: null,
    smoothedRowMs: null,
    canaryBaselineMs: null,
    canaryWindow: [],
    paused: false,
    pauseReasons: [],
    calmSamples: 0,
    canaryStepBaselineMs: null,
    canaryQuietWindow: [],
    foregroundBaselineMs: null,
    foregroundStepBaselineMs: null,
    foregroundWindow: [],
    foregroundQuietWindow: [],
    foregroundTailBaselineMs: null,
    foregroundTailStepBaselineMs: null,
    foregroundTail: emptyTail(),
    foregroundQuietTail: emptyTail(),
    rateGain: initialRateGain(),
  };
}

/** Records the canary baseline measured before the step (see canaryBaseline); ≤ 0 or NaN clears it. */
export function withCanaryBaseline(state: ControllerState, ms: number): ControllerState {
  const baseline = typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_MS) : null;
  return { ...state, canaryBaselineMs: baseline, canaryStepBaselineMs: baseline, canaryWindow: [], canaryQuietWindow: [] };
}

/** Records the foreground's baseline measured before the step; null, ≤ 0 or NaN: none was seen. */
export function withForegroundBaseline(state: ControllerState, ms: number | null): ControllerState {
  const baseline = typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_MS) : null;
  return { ...state, foregroundBaselineMs: baseline, foregroundStepBaselineMs: baseline, foregroundWindow: [], foregroundQuietWindow: [] };
}

/** Records the tail count's baseline measured before the step (tailBaseline); null, ≤ 0 or NaN: none. */
export function withForegroundTailBaseline(state: ControllerState, ms: number | null): ControllerState {
  const baseline = typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_MS) : null;
  return { ...state, foregroundTailBaselineMs: baseline, foregroundTailStepBaselineMs: baseline, foregroundTail: emptyTail(), foregroundQuietTail: emptyTail() };
}

/**
 * The baseline to hand withCanaryBaseline, from canary samples taken with no migration running:
 * the median, over chunks of `window` samples, of each chunk's p99 — what the controller's own
 * statistic reads on an unloaded database. Comparing a windowed p99 with a plain median would
 * report ordinary jitter as a blown budget. With window 1 this is the plain median.
 */
export function canaryBaseline(samples: readonly number[], window: number = DEFAULT_LOAD_CONTROL.canaryWindow, q: number = CANARY_QUANTILE): number | null {
  const clean = samples.filter((x) => typeof x === 'number' && Number.isFinite(x) && x > 0);
  if (clean.length === 0) return null;
  const size = Math.max(1, Math.min(Math.floor(finiteOr(window, 1)), clean.length));
  return median(windowsOf(clean, size).map((w) => quantile(w, q)));
}

/** Consecutive windows of `size` samples, oldest first; a last partial one is dropped. */
export function windowsOf<T>(samples: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i + size <= samples.length; i += size) out.push(samples.slice(i, i + size));
  return out;
}

/** The foreground's baseline from transactions observed with no migration running: canaryBaseline's reduction at FOREGROUND_QUANTILE. */
export const foregroundBaseline = (samples: readonly number[], window: number): number | null => canaryBaseline(samples, window, FOREGROUND_QUANTILE);

/** Nearest-rank quantile (0 for no values). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? 0;
}

/** Nearest-rank p99: for windows under 100 samples this is the maximum, deliberately conservative. */
export const p99 = (values: readonly number[]): number => quantile(values, 0.99);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Carries a live `setLoadControl` change into the state: a changed initialBatchSize or sleepMs is
 * an operator saying "use this now", and everything is pulled inside the new bounds.
 */
export function applyConfigChange(state: ControllerState, previous: LoadControlConfig, next: LoadControlConfig): ControllerState {
  const b = boundsOf(next);
  const batchSize = next.initialBatchSize !== previous.initialBatchSize ? next.initialBatchSize : state.batchSize;
  const sleepMs = next.sleepMs !== previous.sleepMs ? next.sleepMs : state.sleepMs;
  return {
    ...state,
    batchSize: clampInt(finiteOr(batchSize, b.minBatch), b.minBatch, b.maxBatch),
    sleepMs: clampInt(finiteOr(sleepMs, b.minSleep), b.minSleep, b.maxSleep),
    canaryWindow: state.canaryWindow.slice(-b.window),
    // An operator's change is the ground moving: the rate law answers at its full gain again.
    ...(state.rateGain !== undefined ? { rateGain: initialRateGain() } : {}),
  };
}

/** 'gathering': too few samples since the last change to judge; 'within': not over budget (a
 *  judgement once the window is full). */
type CanaryStatus = 'unmeasured' | 'gathering' | 'over' | 'within';

interface CanaryReading {
  /** Which latency it reads: 'canary' or 'foreground' (for reasons). */
  source: string;
  /** Samples in its window, and the window's full size. */
  samples: number;
  size: number;
  /** Its "over" readings wait for the next window's confirmation (LatencySignal.confirm). */
  confirm: boolean;
  baselineMs: number;
  status: CanaryStatus;
  /** The quantile it reads ('p99', 'p95'), for reasons. */
  statistic: string;
  /** That quantile of its window, ms. */
  value: number;
  limitMs: number;
  /** value ÷ limit. */
  overshoot: number;
  critical: boolean;
}

export function decide(state: ControllerState, sample: LoadSample, config: LoadControlConfig): Decision {
  const b = boundsOf(config);
  const c = effectiveConfig(config);
  const f = b.factor;
  const s = sanitizeState(state, b);
  const x = sanitizeSample(sample);
  const reasons: string[] = [];

  // Observe: smooth the batch time, slide the canary window.
  const batchRan = x.rows !== null && x.rows > 0 && x.batchMs !== null;
  let smoothedBatchMs = s.smoothedBatchMs;
  let smoothedRowMs = s.smoothedRowMs;
  if (batchRan) {
    smoothedBatchMs = ewma(smoothedBatchMs, x.batchMs!);
    smoothedRowMs = ewma(smoothedRowMs, x.batchMs! / x.rows!);
  }
  let canaryWindow = s.canaryWindow;
  const fresh = x.canarySamples ?? (x.canaryMs !== null ? [x.canaryMs] : []);
  if (fresh.length > 0) canaryWindow = [...canaryWindow, ...fresh].slice(-b.window);
  // While paused no batch runs, so there is nothing to adapt.
  const holding = s.paused && !batchRan;
  // The canary has its say once a baseline exists and samples are arriving.
  const canaryInUse = canaryEnabled(config) && s.canaryBaselineMs !== null && (x.canaryMs !== null || x.canarySamples !== null);
  // Re-measure each baseline from a full window of quiet samples — taken with no batch running and
  // well after the last one (batch-clock.ts), so they read the foreground as it is now without
  // this migration. Load we do not cause (a neighbour, a report, a busy CI machine) raises every
  // lookup alike; judged against the pre-step baseline it read as our harm, and the controller
  // backed off to its floor — 100 rows every 8 s — and stayed there, because backing off could not
  // lower it. Nor can a re-measured baseline go below the one taken before the step: the budget
  // never gets tighter than at the start. Quiet samples exist only in long pauses (the gap is
  // seconds), which is where the controller has backed off far enough to ask whether it is the
  // cause; a critical pause gathers them too.
  // But a quiet window raises a baseline only once the step has backed off to its longest pause
  // (maxSleepMs) or is paused. A step's harm outlives its batches — the WAL it wrote is flushed
  // and checkpointed, its dead rows vacuumed, seconds to minutes later — and B2's quiet stretches
  // read 1.2–1.5× the pre-step baseline with no neighbour at all (session 19): absorbed into the
  // baseline, that harm loosened the budget by as much, while B2 judges the foreground against
  // itself with no migration. Backing off is the cheaper test of whose load it is: a neighbour's
  // keeps the readings up however long the pause, and the rate law lengthens it to maxSleepMs;
  // our own fades as we write less. Not the smallest batch too: under 1.2× the limit the law
  // slows down by the pause alone, and such a neighbour would never let the batch shrink. A quiet
  // window reading lower brings a raised baseline down at any pace. baselineRiseSleepFraction
  // moves the threshold (0: any quiet window, the rule before; 1: the longest pause, the default).
  const riseAtSleepMs = c.baselineRiseSleepFraction * b.maxSleep;
  const backedOff = s.paused || s.sleepMs >= riseAtSleepMs;
  // What a held rise waits for, for its reason line; null: a quiet window may raise a baseline now.
  const riseHeldUntil = backedOff ? null : riseAtSleepMs >= b.maxSleep ? 'its longest pause' : `a pause of ${fmt(riseAtSleepMs)} ms`;
  const canaryBase = remeasureBaseline(CANARY_SIGNAL, canaryInUse, s.canaryBaselineMs, s.canaryStepBaselineMs, s.canaryQuietWindow ?? [], x.canaryQuietSamples, b.window, riseHeldUntil, reasons);
  const baselineMs = canaryBase.baselineMs;
  const quietWindow = canaryBase.quietWindow;
  const canary = readCanary(CANARY_SIGNAL, windowView(canaryWindow, CANARY_SIGNAL.quantile), canaryInUse ? baselineMs : null, c, b.window, holding);
  // The tail count, when it measured a baseline before the step and counts now.
  const tailInUse = canaryEnabled(config) && s.foregroundTailBaselineMs !== null && s.foregroundTailBaselineMs !== undefined && x.foregroundTail !== null;
  let tailWindow = s.foregroundTail ?? emptyTail();
  // While paused no judgement clears the window, so it would grow for as long as the pause lasts.
  // It keeps the longest of four windows' worth (tailKeep); past that its reading is a longer
  // transaction than the p99 (as the stall that paused the step fills fewer of its ranks), and a
  // pause whose cause had passed went on reading over budget: in B2 a step stayed paused for the
  // last 25 s of its window, reading 11 → 7 ms against a 5.3 ms budget while pgbench's p99 was
  // 4.3 ms. So a paused window that is full starts over with this sample's transactions: calm is
  // then judged on the last second or two of them.
  if (holding && tailWindow.count >= b.tailWindow) tailWindow = emptyTail();
  if (x.foregroundTail !== null) tailWindow = addToTail(tailWindow, x.foregroundTail.count, x.foregroundTail.durations, tailKeep(b.tailWindow), x.foregroundTail.spread, x.foregroundTail.sightings);
  const tailBase = remeasureTailBaseline(tailInUse, s.foregroundTailBaselineMs ?? null, s.foregroundTailStepBaselineMs, s.foregroundQuietTail ?? emptyTail(), x.foregroundQuietTail, b.tailWindow, riseHeldUntil, reasons);
  const tailSignal = tailSignalOf(b);
  // A full window that counted transactions it could not observe is no reading (tailReadable):
  // the canary judges it instead. A partial one is no evidence of harm until it is readable (a
  // paused step judges partial windows), but it still holds the canary back: readings of
  // different signals are not mixed between one window and the next.
  const tailIsReadable = tailReadable(tailWindow, tailKeep(b.tailWindow));
  const tailView = { samples: tailWindow.count, value: () => tailQuantile(tailWindow), ready: tailWindow.count < b.tailWindow || tailIsReadable, conclusive: tailIsReadable };
  const tail = readCanary(tailSignal, tailView, tailInUse ? tailBase.baselineMs : null, c, b.tailWindow, holding);
  // The foreground's observed transactions (their p95), when seen before the step and observed
  // now, and the tail count is not in use.
  const foregroundInUse = canaryEnabled(config) && !tailInUse && s.foregroundBaselineMs !== null && x.foregroundSamples !== null;
  let foregroundWindow = s.foregroundWindow ?? [];
  if (x.foregroundSamples !== null && x.foregroundSamples.length > 0) foregroundWindow = [...foregroundWindow, ...x.foregroundSamples].slice(-b.foregroundWindow);
  const foregroundSignal = foregroundSignalOf(b);
  const foregroundBase = remeasureBaseline(foregroundSignal, foregroundInUse, s.foregroundBaselineMs ?? null, s.foregroundStepBaselineMs, s.foregroundQuietWindow ?? [], x.foregroundQuietSamples, b.foregroundWindow, riseHeldUntil, reasons);
  const foreground = readCanary(foregroundSignal, windowView(foregroundWindow, foregroundSignal.quantile), foregroundInUse ? foregroundBase.baselineMs : null, c, b.foregroundWindow, holding);
  // The reading the budget rules use: the foreground's while a window of it can be read (it
  // fills faster than the canary's on any busy database), else the canary's.
  const readable = (r: CanaryReading) => r.status !== 'unmeasured' && r.status !== 'gathering';
  const latency = readable(tail) ? tail : readable(foreground) ? foreground : canary;
  const latencyInUse = canaryInUse || foregroundInUse || tailInUse;
  const expectedMs = smoothedRowMs === null ? null : smoothedRowMs * s.batchSize;

  // Critical signals.
  const critical: string[] = [];
  if (x.cpu !== null && x.cpu > c.cpuCritical) {
    if (latencyInUse) reasons.push(`cpu ${fmt(x.cpu)} % over critical ${c.cpuCritical} % (advisory: the latency budget measures the foreground directly)`);
    else critical.push(`cpu ${fmt(x.cpu)} % over critical ${c.cpuCritical} %`);
  }
  if (x.memory !== null && x.memory > c.memoryCritical) critical.push(`memory ${fmt(x.memory)} % over critical ${c.memoryCritical} %`);
  // While the foreground governs, the canary's critical level still pauses (a foreground blocked
  // outright finishes no transactions to read), but only on a full window of lookups (its p99 then
  // the second largest) rather than a handful: the maximum of five lookups on a busy 2-core host
  // reached 4.5× its baseline (12–13 ms against 2.3–2.9) in B2 while the foreground's own
  // transactions read within budget, and so did the maximum of twenty (11 ms against 1.6), which
  // paused a step for seconds at a time.
  for (const r of latency === canary ? [canary] : [latency, canary]) {
    const enough = r === latency || r.samples >= r.size;
    if (r.critical && enough) critical.push(`${r.source} ${r.statistic} ${fmt(r.value)} ms over critical ${fmt(c.canaryCritical)} × baseline ${fmt(r.baselineMs)} ms`);
  }
  if (x.activeBackends !== null && x.activeBackends > c.activeBackendsCritical) critical.push(`${x.activeBackends} active backends over critical ${c.activeBackendsCritical}`);
  if (x.lockWaiters !== null && x.lockWaiters > c.lockWaitersCritical) critical.push(`${x.lockWaiters} lock waiters over critical ${c.lockWaitersCritical}`);
  if (x.replicaLagMs !== null && x.replicaLagMs > c.replicaLagCriticalMs) critical.push(`replica lag ${fmt(x.replicaLagMs)} ms over critical ${c.replicaLagCriticalMs} ms`);

  // Pressure: the strongest shrink and the longest pause among the rules that fire.
  let scale = 1;
  let sleep = s.sleepMs;
  let pressure = false;
  const push = (by: number, sleepTo: number, reason: string) => {
    scale = Math.min(scale, by);
    sleep = Math.max(sleep, sleepTo);
    pressure = true;
    reasons.push(reason);
  };
  const backoff = Math.max(s.sleepMs + PRESSURE_PAUSE_STEP_MS, s.sleepMs * 2);
  const pct = Math.round(f * 100);
  if (batchRan && x.batchMs! > c.queryTimeThresholdMs) {
    push(1 - f, s.sleepMs + SLOW_BATCH_PAUSE_MS, `batch took ${fmt(x.batchMs!)} ms, over queryTimeThreshold ${c.queryTimeThresholdMs} ms: batch −${pct} %, pause +${SLOW_BATCH_PAUSE_MS} ms`);
  }
  if (x.cpu !== null && x.cpu > c.cpuThreshold) {
    if (latencyInUse) reasons.push(`cpu ${fmt(x.cpu)} % over ${c.cpuThreshold} % (advisory: the latency budget decides)`);
    else push(1 - f, backoff, `cpu ${fmt(x.cpu)} % over ${c.cpuThreshold} %: batch −${pct} %, pause doubled`);
  }
  if (x.memory !== null && x.memory > c.memoryThreshold) push(1 - f, backoff, `memory ${fmt(x.memory)} % over ${c.memoryThreshold} %: batch −${pct} %, pause doubled`);
  if (x.activeBackends !== null && x.activeBackends > c.activeBackendsThreshold) {
    push(1 - f, backoff, `${x.activeBackends} active backends over ${c.activeBackendsThreshold}: batch −${pct} %, pause doubled`);
  }
  if (x.lockWaiters !== null && x.lockWaiters > c.lockWaitersThreshold) {
    push(1 - f, backoff, `${x.lockWaiters} lock waiters over ${c.lockWaitersThreshold}: batch −${pct} %, pause doubled`);
  }
  if (x.replicaLagMs !== null && x.replicaLagMs > c.replicaLagThresholdMs) {
    push(1 - f, backoff, `replica lag ${fmt(x.replicaLagMs)} ms over ${c.replicaLagThresholdMs} ms: batch −${pct} %, pause doubled`);
  }
  let clearCanary = false;
  let canaryOverPending = s.canaryOverPending === true;
  let rateGain = s.rateGain;
  // The latency budget's judgement: a full window (or an "over" with enough evidence), and batches
  // running. It sets the rate (rateStepFor): slower through a longer pause, faster through a larger
  // batch (see the relief rules below), each with the pause that gives the new rate (paceAt).
  const judging = latencyInUse && !holding && batchRan && (latency.status === 'over' || (latency.status === 'within' && latency.samples >= latency.size));
  // Under the target, the step the relief rules below take.
  let rateUp: number | null = null;
  let rateNote = '';
  // The batch time the pause is computed against (paceAt): smoothed, or this batch's before there is an estimate.
  const paceBatchMs = expectedMs ?? x.batchMs ?? 0;
  if (judging && latency.status === 'over' && !latency.critical && !canaryOverPending && latency.confirm) {
    // Over budget once: confirmed on a fresh window before anything changes. Harm from our batches
    // persists while they run; a fsync stall or a checkpoint is over in a window. Acting on single
    // windows, two 11–13 ms lookups among a hundred 2–3 ms ones halved the batch again and again
    // and sent B2's step to its floor.
    canaryOverPending = true;
    clearCanary = true;
    reasons.push(`${latency.source} ${latency.statistic} ${fmt(latency.value)} ms over budget ${fmt(latency.limitMs)} ms: confirming on the next window before slowing down`);
  } else if (judging) {
    // A canary's "over" that confirms a pending one is its second window over the budget running:
    // to the gain schedule, the ground moved (rate-gain.ts).
    const confirmed = latency.status === 'over' && canaryOverPending && s.rateGain !== undefined;
    if (latency.status === 'over') canaryOverPending = false;
    // Every judgement is made on a window of its own: the next one reads samples taken under the
    // settings this one leaves (changed or not), so no evidence is counted twice.
    clearCanary = true;
    const law = judgeRateGain(confirmed ? { ...s.rateGain!, over: true } : s.rateGain, latency.overshoot, c.latencyTarget, c.minRateGain, latency.limitMs > 0 ? latency.baselineMs / latency.limitMs : 0);
    rateGain = law.next;
    const step = rateStepFor(latency.overshoot, c.latencyTarget, law.gain);
    // The gain is shown when the schedule has narrowed it (rate-gain.ts).
    rateNote = law.gain < RATE_GAIN ? ` at gain ${fmt(law.gain)}` : '';
    const reading = `${latency.source} ${latency.statistic} ${fmt(latency.value)} ms against budget ${fmt(latency.limitMs)} ms (${fmt(latency.overshoot)}×, target ${fmt(c.latencyTarget)}×)`;
    if (step < 1 - RATE_DEAD_BAND) {
      // Far over the budget the batch shrinks too: a batch's length is how long each burst of its
      // harm lasts, and the pause alone would leave the bursts as long as they were.
      const farOver = latency.overshoot > 1 + f;
      const by = farOver ? 1 - f : 1;
      const sleepTo = paceAt(step, s.batchSize, paceBatchMs, s.sleepMs, by);
      push(by, sleepTo, `${reading}: rate ×${fmt(step)}${rateNote}${farOver ? `, batch −${pct} %` : ''}, pause ${s.sleepMs} → ${Math.max(sleepTo, s.sleepMs)} ms`);
    } else if (step > 1 + RATE_DEAD_BAND) {
      rateUp = step;
    } else {
      reasons.push(`holding: ${reading}, at its target`);
    }
  }

  // A pending "over" that the next window (with enough lookups to judge) does not confirm lapses.
  if (latency.status === 'within' && latency.samples >= Math.min(CANARY_OVER_SAMPLES, latency.size)) {
    canaryOverPending = false;
  }

  // Steering toward the target batch time (a size choice, not overload: no extra pause).
  if (batchRan && expectedMs !== null && expectedMs > c.targetBatchMs) {
    const by = Math.max(1 - f, c.targetBatchMs / expectedMs);
    if (by < scale) {
      scale = by;
      reasons.push(`smoothed batch time ${fmt(expectedMs)} ms over target ${c.targetBatchMs} ms: batch ×${fmt(by)}`);
    }
  }

  // Relief: speed up only with no pressure, while running, and with the foreground's consent.
  if (!pressure && !s.paused && critical.length === 0 && batchRan) {
    const fast = x.batchMs! < c.queryTimeThresholdMs / 2;
    // The seed's condition for a larger batch: fast, under the target batch time, and not steered down.
    const mayGrow = fast && expectedMs !== null && expectedMs < c.targetBatchMs && scale >= 1;
    if (!latencyInUse) {
      // The seed's rules: a fast batch grows the batch and takes 100 ms off the pause.
      if (mayGrow) {
        scale = Math.max(1, Math.min(1 + f, c.targetBatchMs / expectedMs!));
        reasons.push(`batch ${fmt(x.batchMs!)} ms is fast and smoothed time ${fmt(expectedMs)} ms under target ${c.targetBatchMs} ms: batch ×${fmt(scale)}`);
      }
      if (fast) sleep -= FAST_BATCH_RELIEF_MS;
    } else if (rateUp !== null) {
      // Under the target: the batch grows by the step (the seed's growth rule, as far as the
      // target batch time and maxBatchSize allow), and the pause is set so the rate grows by the
      // step exactly. Slowing down lengthens the pause instead (above), so the batch/pause mix
      // drifts toward large batches with long pauses: each batch carries a fixed cost (round
      // trips, commit, checkpoint row), and in B2 at equal foreground p99 large batches moved more
      // rows (10000 every 200 ms: 35k rows/s at 1.27× its baseline; 1000 every 50 ms: 16k at 1.30×).
      // The batch's length, how long each burst of harm lasts, is held back by maxBatchSize, the
      // target batch time, and the shrink far over the budget.
      let grow = 1;
      if (mayGrow) {
        grow = Math.max(1, Math.min(rateUp, c.targetBatchMs / expectedMs!, b.maxBatch / s.batchSize));
        grow = clampInt(s.batchSize * grow, b.minBatch, b.maxBatch) / s.batchSize;
        scale = grow;
      }
      sleep = paceAt(rateUp, s.batchSize, paceBatchMs, s.sleepMs, grow);
      // The seed's fixed −100 ms, far under the budget only: closer, a 100 ms cut at a 300 ms pause
      // nearly doubles the rate, and three in a row took B2's foreground from 1.2× to 1.8×.
      if (fast && latency.overshoot < CANARY_FAR_UNDER) sleep = Math.min(sleep, s.sleepMs - FAST_BATCH_RELIEF_MS);
      reasons.push(
        `${latency.source} ${latency.statistic} ${fmt(latency.value)} ms under budget ${fmt(latency.limitMs)} ms (${fmt(latency.overshoot)}×, target ${fmt(c.latencyTarget)}×): rate ×${fmt(rateUp)}${rateNote}` +
          `${grow > 1 ? `, batch ×${fmt(grow)}` : ''}, pause ${s.sleepMs} → ${Math.max(b.minSleep, sleep)} ms`,
      );
    } else if (!judging) {
      reasons.push(latency.status === 'gathering' || latency.samples < latency.size
        ? `holding: gathering ${latency.source} samples (${latency.samples}/${latency.size})`
        : `holding: ${latency.source} ${latency.statistic} ${fmt(latency.value)} ms within budget ${fmt(latency.limitMs)} ms`);
    }
  }

  // Paused: keep the settings the pause began with instead of shrinking them once per sample,
  // which would only slow the recovery.
  const batchSize = holding ? s.batchSize : clampInt(s.batchSize * scale, b.minBatch, b.maxBatch);
  const sleepMs = holding ? s.sleepMs : clampInt(sleep, b.minSleep, b.maxSleep);

  // Pause state machine.
  let paused = s.paused;
  let pauseReasons = s.pauseReasons;
  let calmSamples = s.calmSamples;
  let action: ControllerAction = 'continue';
  if (critical.length > 0) {
    if (!paused) reasons.push(`pausing: ${critical.join('; ')}`);
    else reasons.push(`still paused: ${critical.join('; ')}`);
    paused = true;
    pauseReasons = critical;
    calmSamples = 0;
    action = 'pause';
    // Judge recovery on samples taken during the pause only.
    clearCanary = clearCanary || !s.paused;
  } else if (paused) {
    const notCalm = aboveNormal(x, c, latency, latencyInUse);
    if (notCalm.length > 0) {
      calmSamples = 0;
      action = 'pause';
      reasons.push(`still paused (${pauseReasons.join('; ')}): ${notCalm.join('; ')}`);
    } else {
      calmSamples = Math.min(calmSamples + 1, RESUME_AFTER_CALM_SAMPLES);
      if (calmSamples >= RESUME_AFTER_CALM_SAMPLES) {
        reasons.push(`resuming: every signal under its normal threshold for ${RESUME_AFTER_CALM_SAMPLES} samples (paused for: ${pauseReasons.join('; ')})`);
        paused = false;
        pauseReasons = [];
        calmSamples = 0;
        action = 'resume';
        // What the step resumes into is judged afresh, at the full gain.
        if (rateGain !== undefined) rateGain = initialRateGain();
      } else {
        action = 'pause';
        reasons.push(`still paused: calm ${calmSamples}/${RESUME_AFTER_CALM_SAMPLES}`);
      }
    }
  }

  const next: ControllerState = {
    batchSize,
    sleepMs,
    smoothedBatchMs,
    smoothedRowMs,
    canaryBaselineMs: baselineMs,
    canaryWindow: clearCanary ? [] : canaryWindow,
    paused,
    pauseReasons,
    calmSamples,
    canaryStepBaselineMs: s.canaryStepBaselineMs ?? null,
    canaryQuietWindow: quietWindow,
    canaryOverPending,
    foregroundBaselineMs: foregroundBase.baselineMs,
    foregroundStepBaselineMs: s.foregroundStepBaselineMs ?? null,
    foregroundWindow: clearCanary ? [] : foregroundWindow,
    foregroundQuietWindow: foregroundBase.quietWindow,
    foregroundTailBaselineMs: tailBase.baselineMs,
    foregroundTailStepBaselineMs: s.foregroundTailStepBaselineMs ?? null,
    foregroundTail: clearCanary ? emptyTail() : tailWindow,
    foregroundQuietTail: tailBase.quietWindow,
    lastReading: latencyInUse && judged(latency) ? readingOf(latency) : (s.lastReading ?? null),
    ...(rateGain !== undefined ? { rateGain } : {}),
  };
  // A paused controller samples every PAUSED_POLL_MS whatever the pause between batches had grown
  // to: samples are how it sees recovery (and a fresh baseline), and one lookup a second costs
  // nothing. (Bounded by maxSleepMs, which an operator may have set lower.)
  const waitMs = action === 'pause' ? clampInt(PAUSED_POLL_MS, b.minSleep, b.maxSleep) : sleepMs;
  return { state: next, batchSize, sleepMs: waitMs, action, reasons };
}

/** The canary's current p99 over the window, for progress display; null before any sample. */
export function canaryP99(state: ControllerState): number | null {
  return state.canaryWindow.length > 0 ? p99(state.canaryWindow) : null;
}

/** The foreground's current reading (FOREGROUND_QUANTILE of its window), for display; null before any sample. */
export function foregroundReading(state: ControllerState): number | null {
  return state.foregroundWindow && state.foregroundWindow.length > 0 ? quantile(state.foregroundWindow, FOREGROUND_QUANTILE) : null;
}

/**
 * A latency signal's baseline after this sample's quiet samples (see decide): each full window of
 * them re-measures it, never below the floor measured before the step, and above the baseline it
 * replaces only when `riseHeldUntil` is null (the step has backed off far enough, or is paused).
 */
function remeasureBaseline(
  signal: LatencySignal,
  inUse: boolean,
  baselineMs: number | null,
  floorMs: number | null | undefined,
  quietWindow: readonly number[],
  fresh: readonly number[] | null,
  size: number,
  riseHeldUntil: string | null,
  reasons: string[],
): { baselineMs: number | null; quietWindow: number[] } {
  let window = [...quietWindow];
  if (!inUse || baselineMs === null) return { baselineMs, quietWindow: window };
  if (fresh !== null && fresh.length > 0) window = [...window, ...fresh].slice(-size);
  if (window.length < size) return { baselineMs, quietWindow: window };
  // Each re-measurement from samples of its own.
  return { baselineMs: settleBaseline(signal.source, baselineMs, floorMs, canaryBaseline(window, size, signal.quantile), riseHeldUntil, reasons), quietWindow: [] };
}

/** remeasureBaseline for the tail count, whose quiet window counts transactions. */
function remeasureTailBaseline(
  inUse: boolean,
  baselineMs: number | null,
  floorMs: number | null | undefined,
  quietWindow: TailWindow,
  fresh: TailChunk | null,
  size: number,
  riseHeldUntil: string | null,
  reasons: string[],
): { baselineMs: number | null; quietWindow: TailWindow } {
  if (!inUse || baselineMs === null) return { baselineMs, quietWindow };
  const window = fresh === null ? quietWindow : addToTail(quietWindow, fresh.count, fresh.durations, tailKeep(size), fresh.spread, fresh.sightings);
  if (window.count < size) return { baselineMs, quietWindow: window };
  const idle = tailReadable(window, tailKeep(size)) ? tailQuantile(window) : 0;
  return { baselineMs: settleBaseline('foreground tail', baselineMs, floorMs, idle > 0 ? idle : null, riseHeldUntil, reasons), quietWindow: emptyTail() };
}

/**
 * The baseline after a quiet window read `idle`: that reading, never below the pre-step floor,
 * and no higher than the baseline it replaces while a rise is held (`riseHeldUntil`: what it waits for).
 */
function settleBaseline(source: string, baselineMs: number, floorMs: number | null | undefined, idle: number | null, riseHeldUntil: string | null, reasons: string[]): number {
  const floor = floorMs ?? baselineMs;
  if (idle !== null && idle > baselineMs && riseHeldUntil !== null) {
    reasons.push(`${source} quiet window read ${fmt(idle)} ms, over its baseline ${fmt(baselineMs)} ms: kept until the step has backed off to ${riseHeldUntil} (the slowness may be its own, outliving its batches)`);
    return baselineMs;
  }
  const next = idle === null ? baselineMs : Math.min(Math.max(idle, floor), MAX_MS);
  if (next !== baselineMs) reasons.push(`${source} baseline re-measured with no batch running: ${fmt(baselineMs)} → ${fmt(next)} ms${next === floor ? ' (the pre-step baseline, its floor)' : ''}`);
  return next;
}

/** A latency signal: what it reads and how much evidence it needs (see readCanary and decide). */
interface LatencySignal {
  /** 'canary' or 'foreground' (for reasons). */
  source: string;
  /** The quantile of its window it reads. */
  quantile: number;
  /** Fresh samples that can show the budget exceeded while batches run. */
  overSamples: number;
  /** Fresh samples that can show a critical overshoot. */
  criticalSamples: number;
  /** An "over" reading waits for the next window to confirm it before the step slows down. */
  confirm: boolean;
}

/** The canary: a lookup's tail is short, and a blocked table turns it into a run of timeouts. */
const CANARY_SIGNAL: LatencySignal = { source: 'canary', quantile: CANARY_QUANTILE, overSamples: CANARY_OVER_SAMPLES, criticalSamples: CANARY_MIN_SAMPLES, confirm: true };

/**
 * The foreground's own transactions. "Over" needs the full window, the same evidence as any other
 * judgement (see LATENCY_TARGET): their windowed p95 is steady enough to act on at once, without a
 * confirming window, but only if slowing down and speeding up are judged on equal footing. Confirmation let
 * harm that comes in bursts (a checkpoint our WAL brought forward, a commit queue behind a batch's
 * flush) through: bursts rarely read over twice in a row, and B2's foreground sat at 2× its p99.
 * Judging "over" on 100 transactions and "comfortable" on 300 tilted it the other way: the
 * noisier short reading crossed the budget more often than the long one came in under 0.8 of it,
 * and the step drifted down to 500 rows/s at 1.4×. (Those runs read the window's p99; see
 * FOREGROUND_QUANTILE.) Critical needs the full window too: on 100 transactions the p95 is the
 * fifth largest, and two stalls of B2's four clients in one window paused the step at 4.5× its
 * baseline while pgbench's p99 read 1.5×. A foreground blocked outright is the canary's to catch
 * (its critical level, decide).
 */
const foregroundSignalOf = (b: Bounds): LatencySignal => ({ source: 'foreground', quantile: FOREGROUND_QUANTILE, overSamples: b.foregroundWindow, criticalSamples: b.foregroundWindow, confirm: false });

/**
 * The tail count: over budget, like the p95 reading, only on a full window (see foregroundSignalOf),
 * and it reads the quantile the budget is about.
 */
const tailSignalOf = (b: Bounds): LatencySignal => ({ source: 'foreground', quantile: TAIL_QUANTILE, overSamples: b.tailWindow, criticalSamples: b.tailWindow, confirm: false });

/** What a latency signal's window holds toward its size, and its reading (computed only when needed). */
interface WindowView {
  samples: number;
  value: () => number;
  /** False: its samples cannot be read, whatever their number ('gathering'). */
  ready?: boolean;
  /** False: they cannot show harm yet (neither over budget nor critical). */
  conclusive?: boolean;
}

const windowView = (window: readonly number[], q: number): WindowView => ({ samples: window.length, value: () => quantile(window, q) });

function readCanary(signal: LatencySignal, view: WindowView, baseline: number | null, c: LoadControlConfig, size: number, holding: boolean): CanaryReading {
  const samples = view.samples;
  const { source, confirm } = signal;
  const statistic = `p${Math.round(signal.quantile * 100)}`;
  if (baseline === null) return { source, samples, size, confirm, baselineMs: 0, status: 'unmeasured', statistic, value: 0, limitMs: 0, overshoot: 0, critical: false };
  // Relative to the baseline, but never below an absolute p99 (latencyBudgetMinMs): below a few
  // milliseconds a ratio measures noise, not harm, and a ratio alone drove the controller to its
  // floor on a quiet 2-core machine (idle lookups 0.4 ms, lookups during a batch 0.5–1.7 ms).
  // A floor on the limit, not on the headroom above the baseline: as headroom, 2 ms on a
  // foreground whose canary reads 2 ms allowed 2× — and B2's foreground went to 2.2× its p99.
  const floorMs = Math.max(0, c.latencyBudgetMinMs);
  const limitMs = Math.max(c.latencyBudget * baseline, floorMs);
  if (samples < Math.min(CANARY_MIN_SAMPLES, size) || view.ready === false) return { source, samples, size, confirm, baselineMs: baseline, status: 'gathering', statistic, value: 0, limitMs, overshoot: 0, critical: false };
  const value = view.value();
  const overshoot = value / limitMs;
  const critical = view.conclusive !== false && samples >= Math.min(signal.criticalSamples, size) && value > Math.max(c.canaryCritical * baseline, CANARY_CRITICAL_PER_BUDGET * floorMs);
  // Over budget is proven by fewer samples (a smaller window's p99 only reads lower); room to
  // speed up needs the full window, which also spaces increases out after every decrease.
  // While paused, a few samples over budget keep the pause going (CANARY_MIN_SAMPLES); while
  // running, shrinking needs CANARY_OVER_SAMPLES, unless the overshoot is critical.
  const overEvidence = view.conclusive !== false && (holding || critical || samples >= Math.min(signal.overSamples, size));
  let status: CanaryStatus = 'within';
  if (overshoot > 1 && overEvidence) status = 'over';
  return { source, samples, size, confirm, baselineMs: baseline, status, statistic, value, limitMs, overshoot, critical };
}

/** A reading that a budget rule acted on or could have: over budget, or a full window. */
const judged = (r: CanaryReading): boolean => r.status === 'over' || (r.status === 'within' && r.samples >= r.size);

/** To 10 µs, like the observer's samples: it is shown and exported, and travels in workflow state. */
function readingOf(r: CanaryReading): LatencyReading {
  const ms = (v: number) => to10Micros(Math.min(v, MAX_MS));
  return { source: r.source, statistic: r.statistic, valueMs: ms(r.value), limitMs: ms(r.limitMs), baselineMs: ms(r.baselineMs) };
}

/** Signals still over their normal threshold (what keeps a pause going). */
function aboveNormal(x: CleanSample, c: LoadControlConfig, canary: CanaryReading, canaryInUse: boolean): string[] {
  const out: string[] = [];
  if (!canaryInUse && x.cpu !== null && x.cpu > c.cpuThreshold) out.push(`cpu ${fmt(x.cpu)} % over ${c.cpuThreshold} %`);
  if (x.memory !== null && x.memory > c.memoryThreshold) out.push(`memory ${fmt(x.memory)} % over ${c.memoryThreshold} %`);
  if (x.activeBackends !== null && x.activeBackends > c.activeBackendsThreshold) out.push(`${x.activeBackends} active backends over ${c.activeBackendsThreshold}`);
  if (x.lockWaiters !== null && x.lockWaiters > c.lockWaitersThreshold) out.push(`${x.lockWaiters} lock waiters over ${c.lockWaitersThreshold}`);
  if (x.replicaLagMs !== null && x.replicaLagMs > c.replicaLagThresholdMs) out.push(`replica lag ${fmt(x.replicaLagMs)} ms over ${c.replicaLagThresholdMs} ms`);
  if (canaryInUse) {
    if (canary.status === 'over') out.push(`${canary.source} ${canary.statistic} ${fmt(canary.value)} ms over budget ${fmt(canary.limitMs)} ms`);
    if (canary.status === 'gathering') out.push(`gathering ${canary.source} samples`);
  }
  return out;
}

interface Bounds {
  minBatch: number;
  maxBatch: number;
  minSleep: number;
  maxSleep: number;
  factor: number;
  window: number;
  foregroundWindow: number;
  tailWindow: number;
}

/** The canary window in force: whole, 1–1000, the default when unusable. */
function canaryWindowOf(config: Pick<LoadControlConfig, 'canaryWindow'>): number {
  return Math.min(1000, Math.max(1, Math.floor(finiteOr(config.canaryWindow, DEFAULT_LOAD_CONTROL.canaryWindow))));
}

/** Bounds that hold even for a config validateLoadControl would reject (repaired, never thrown). */
function boundsOf(config: LoadControlConfig): Bounds {
  const d = DEFAULT_LOAD_CONTROL;
  const minBatch = Math.max(1, Math.ceil(finiteOr(config.minBatchSize, d.minBatchSize)));
  const maxBatch = Math.max(minBatch, Math.floor(finiteOr(config.maxBatchSize, d.maxBatchSize)));
  const minSleep = Math.max(0, Math.ceil(finiteOr(config.minSleepMs, d.minSleepMs)));
  const maxSleep = Math.max(minSleep, Math.floor(finiteOr(config.maxSleepMs, d.maxSleepMs)));
  const factor = Math.min(0.9, Math.max(0.01, finiteOr(config.adjustmentFactor, d.adjustmentFactor)));
  const window = canaryWindowOf(config);
  return {
    minBatch: Math.min(minBatch, MAX_COUNT),
    maxBatch: Math.min(maxBatch, MAX_COUNT),
    minSleep: Math.min(minSleep, MAX_MS),
    maxSleep: Math.min(maxSleep, MAX_MS),
    factor,
    window,
    foregroundWindow: window * FOREGROUND_WINDOW_PER_CANARY,
    tailWindow: foregroundTailWindowSize({ canaryWindow: window, foregroundIntervalMs: finiteOr(config.foregroundIntervalMs, d.foregroundIntervalMs) }),
  };
}

/** Thresholds with non-numbers replaced by defaults, so a comparison never silently fails. */
function effectiveConfig(config: LoadControlConfig): LoadControlConfig {
  const out = { ...DEFAULT_LOAD_CONTROL } as LoadControlConfig;
  for (const key of Object.keys(DEFAULT_LOAD_CONTROL) as (keyof LoadControlConfig)[]) {
    const v = config[key];
    if (typeof v === 'number' && Number.isFinite(v)) out[key] = v;
  }
  if (!(out.latencyBudget > 0)) out.latencyBudget = DEFAULT_LOAD_CONTROL.latencyBudget;
  // A config without the setting was resolved before it existed (a run started by an earlier
  // version, replayed or carried across continue-as-new): it keeps the set point it ran with.
  if (!('latencyTarget' in config)) out.latencyTarget = LEGACY_LATENCY_TARGET;
  out.latencyTarget = Math.min(LATENCY_TARGET_RANGE.max, Math.max(LATENCY_TARGET_RANGE.min, out.latencyTarget));
  return out;
}

interface CleanSample {
  batchMs: number | null;
  rows: number | null;
  cpu: number | null;
  memory: number | null;
  activeBackends: number | null;
  lockWaiters: number | null;
  replicaLagMs: number | null;
  canaryMs: number | null;
  canarySamples: number[] | null;
  canaryQuietSamples: number[] | null;
  foregroundSamples: number[] | null;
  foregroundQuietSamples: number[] | null;
  foregroundTail: TailChunk | null;
  foregroundQuietTail: TailChunk | null;
}

/** Unknown (null) for anything that is not a usable number; unknown signals neither throttle nor block a resume. */
function sanitizeSample(sample: Partial<LoadSample> | null | undefined): CleanSample {
  const s = sample ?? {};
  const nonNegative = (v: unknown, cap: number): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.min(v, cap) : null);
  const percent = (v: unknown): number | null => nonNegative(v, 100);
  const msList = (v: unknown): number[] | null => (Array.isArray(v) ? v.map((x) => nonNegative(x, MAX_MS)).filter((x): x is number => x !== null) : null);
  const count = (v: unknown): number | null => {
    const n = nonNegative(v, MAX_COUNT);
    return n === null ? null : Math.floor(n);
  };
  return {
    batchMs: nonNegative(s.batchMs, MAX_MS),
    rows: count(s.rows),
    cpu: percent(s.cpuPercent),
    memory: percent(s.memoryPercent),
    activeBackends: count(s.activeBackends),
    lockWaiters: count(s.lockWaiters),
    replicaLagMs: nonNegative(s.replicaLagMs, MAX_MS),
    canaryMs: nonNegative(s.canaryMs, MAX_MS),
    canarySamples: msList(s.canarySamples),
    canaryQuietSamples: msList(s.canaryQuietSamples),
    foregroundSamples: msList(s.foregroundSamples),
    foregroundQuietSamples: msList(s.foregroundQuietSamples),
    foregroundTail: tailChunk(s.foregroundTail),
    foregroundQuietTail: tailChunk(s.foregroundQuietTail),
  };
  function tailChunk(v: unknown): TailChunk | null {
    if (typeof v !== 'object' || v === null) return null;
    const t = v as Partial<TailChunk>;
    // The count may dip below 0 in one sample (our xids are counted a moment before they are
    // spent) but not be absurd; a window's count is kept ≥ 0 (addToTail).
    const count = typeof t.count === 'number' && Number.isFinite(t.count) ? Math.max(-MAX_COUNT, Math.min(t.count, MAX_COUNT)) : null;
    const spread = msList(t.spread);
    const seen = sightingsOf(t.sightings);
    return count === null ? null : { count, durations: msList(t.durations) ?? [], ...(spread !== null ? { spread } : {}), ...(seen !== null ? { sightings: seen } : {}) };
  }
}

/** A state that went through JSON, an old version or a bug still yields in-bounds decisions. */
function sanitizeState(state: Partial<ControllerState> | null | undefined, b: Bounds): ControllerState {
  const s = state ?? {};
  const ms = msOrNull;
  const positive = (v: unknown): number | null => {
    const value = ms(v);
    return value !== null && value > 0 ? value : null;
  };
  const window = (v: unknown, size = b.window): number[] => (Array.isArray(v) ? v.map(ms).filter((x): x is number => x !== null).slice(-size) : []);
  return {
    batchSize: clampInt(finiteOr(s.batchSize, b.minBatch), b.minBatch, b.maxBatch),
    sleepMs: clampInt(finiteOr(s.sleepMs, b.minSleep), b.minSleep, b.maxSleep),
    smoothedBatchMs: ms(s.smoothedBatchMs),
    smoothedRowMs: ms(s.smoothedRowMs),
    canaryBaselineMs: positive(s.canaryBaselineMs),
    canaryWindow: window(s.canaryWindow),
    paused: s.paused === true,
    pauseReasons: Array.isArray(s.pauseReasons) ? s.pauseReasons.filter((r): r is string => typeof r === 'string') : [],
    calmSamples: clampInt(finiteOr(s.calmSamples, 0), 0, RESUME_AFTER_CALM_SAMPLES),
    // States from before the step baseline was kept: the baseline they hold is the floor.
    canaryStepBaselineMs: positive(s.canaryStepBaselineMs) ?? positive(s.canaryBaselineMs),
    canaryQuietWindow: window(s.canaryQuietWindow),
    canaryOverPending: s.canaryOverPending === true,
    foregroundBaselineMs: positive(s.foregroundBaselineMs),
    foregroundStepBaselineMs: positive(s.foregroundStepBaselineMs) ?? positive(s.foregroundBaselineMs),
    foregroundWindow: window(s.foregroundWindow, b.foregroundWindow),
    foregroundQuietWindow: window(s.foregroundQuietWindow, b.foregroundWindow),
    foregroundTailBaselineMs: positive(s.foregroundTailBaselineMs),
    foregroundTailStepBaselineMs: positive(s.foregroundTailStepBaselineMs) ?? positive(s.foregroundTailBaselineMs),
    foregroundTail: tailWindowOrEmpty(s.foregroundTail, b.tailWindow),
    foregroundQuietTail: tailWindowOrEmpty(s.foregroundQuietTail, b.tailWindow),
    lastReading: sanitizeReading(s.lastReading),
    rateGain: sanitizeRateGain(s.rateGain),
  };
}

/** A stored tail window, repaired: a count ≥ 0 and its longest durations, longest first. */
function tailWindowOrEmpty(v: unknown, size: number): TailWindow {
  if (typeof v !== 'object' || v === null) return emptyTail();
  const t = v as Partial<TailWindow>;
  const count = typeof t.count === 'number' && Number.isFinite(t.count) && t.count > 0 ? Math.min(t.count, MAX_COUNT) : 0;
  const longest = Array.isArray(t.longest) ? t.longest.map(msOrNull).filter((x): x is number => x !== null) : [];
  // Its spread durations only if every one of them survived: addToTail drops a partial list.
  const spread = Array.isArray(t.spreadLongest) ? t.spreadLongest.map(msOrNull) : [];
  return addToTail(emptyTail(), count, longest, tailKeep(size), spread.includes(null) ? undefined : (spread as number[]), sightingsOf(t.sightings) ?? undefined);
}

/** Stored or sampled sightings, repaired; null when absent or not whole (a window then reads by its count). */
function sightingsOf(v: unknown): Sightings | null {
  if (typeof v !== 'object' || v === null) return null;
  const t = v as Partial<Sightings>;
  const ages = Array.isArray(t.agesMs) ? t.agesMs.map(msOrNull) : null;
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  if (ages === null || ages.includes(null) || !whole(t.snapshots) || !whole(t.spanMs)) return null;
  return { agesMs: ages as number[], snapshots: Math.min(t.snapshots, MAX_COUNT), spanMs: Math.min(t.spanMs, MAX_MS) };
}

/** A stored duration: a finite, non-negative number (capped), else null. */
function msOrNull(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.min(v, MAX_MS) : null;
}

function sanitizeReading(v: unknown): LatencyReading | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Partial<LatencyReading>;
  const [valueMs, limitMs, baselineMs] = [msOrNull(r.valueMs), msOrNull(r.limitMs), msOrNull(r.baselineMs)];
  if (typeof r.source !== 'string' || typeof r.statistic !== 'string' || valueMs === null || limitMs === null || baselineMs === null) return null;
  return { source: r.source, statistic: r.statistic, valueMs, limitMs, baselineMs };
}

function ewma(previous: number | null, value: number): number {
  return previous === null ? value : EWMA_ALPHA * value + (1 - EWMA_ALPHA) * previous;
}

function finiteOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function clampInt(value: number, min: number, max: number): number {
  const v = Number.isNaN(value) ? min : Math.round(value);
  return Math.min(max, Math.max(min, v));
}

function fmt(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 0);
}
