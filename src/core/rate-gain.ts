// How hard the latency budget's rate law answers a reading: its exponent (load-controller.ts:
// rateStepFor), and how that exponent narrows once the step has found its set point.
//
// Why it narrows. The foreground's harm answers the migration's rate shallowly (B2: 3× the rate
// for 1.2× the p99), so the law answers the reading steeply (gain 2) to get there in a few windows.
// Once there, the readings go on varying by 10–20 % a window at a steady setting, and every one of
// them is answered with that same gain: the rate became a random walk around its set point, held
// back only by the shallow curve. In a closed-loop model of B2's shape (the whole controller;
// reading ∝ rate^0.17, each window ×e^N(0, 0.15); test/unit/rate-gain.test.ts, 24 seeded runs)
// the log of the rate spread with a standard deviation of 0.36 at gain 2 (a rate from 0.7× to
// 1.43× its set point, ±1σ) and 0.19 with this schedule (0.83–1.21×). B2's repetitions of the
// adaptive point ranged 850–7,207 rows/s in session 17. The minute's p99 pools the windows at the
// high end of that walk, and rows/s averages over its low end: the spread costs on both targets.
//
// The schedule is the classic one for finding a root from noisy readings (Kesten's): keep the
// gain while readings stay on one side of the target (still on the way), halve it each time they
// cross (the crossings are noise around the set point), down to MIN_RATE_GAIN. It goes back to the
// full gain whenever the readings say the ground moved: over the budget in two judgements running
// (the foreground got heavier: answered as hard as ever), far under the target or at the
// foreground-alone level twice running (it eased, or the step is far below its set point: see
// judgeRateGain), an unreadable window, or a change of settings or a pause's end (decide and
// applyConfigChange).
//
// Why not the full gain on every window over the budget: at a steady setting 7 % of windows read
// over it by noise alone (at 0.8 of the limit, ×e^N(0, 0.15)), and answering those hard while the
// windows under it were answered softly walked the rate down to 0.84 of its set point in the closed
// loop; answering them at the narrowed gain left it at 0.98. The cost is the response to a
// foreground that gets heavier: up to three more windows (at 1.4× harm, a median of 7 windows to
// come down against 4 at the fixed gain; at 2×, none more), and a slower climb when the foreground
// eases a little at a time (at gain 0.5 a window at 0.7 of the limit against 0.8 raises the rate 7 %
// instead of 31 %). A foreground hurt past the critical level is paused for, whatever the gain.
//
// Nor on one window far over the budget (until session 19: over 1.2× the limit, then taken for
// 2.7σ of a window's noise). B2's windows are noisier than that and skewed to the right, a stall now
// and then: session 19's adaptive readings sat −0.35 and +0.5 (log) from their median at the 5th
// and 95th percentiles, and 10 % read over 1.2× at rates that barely moved the foreground. Each
// such window halved the rate. In a closed loop with windows like those (test/unit/rate-gain.test.ts)
// the rate settled at 0.87 of where the mean log reading meets the target (0.61 of the set point
// against 0.70); answering a stall's single window as any other crossing, at 0.97 of it.

/** The rate law's exponent: the full gain, at the start and after every reset. */
export const RATE_GAIN = 2;
/** The narrowest the gain gets by default (LoadControlConfig.minRateGain). */
export const MIN_RATE_GAIN = 0.5;
/** minRateGain's range: under 0.25 the rate barely follows a foreground that eases; over the full gain it would not narrow. */
export const MIN_RATE_GAIN_RANGE = { min: 0.25, max: RATE_GAIN } as const;
/** Each crossing of the target multiplies the gain by this. */
export const RATE_GAIN_DECAY = 0.5;
/** A reading under this fraction of the target is the ground moving, not noise: full gain again. */
export const RATE_GAIN_FAR_UNDER = 2 / 3;

/** The schedule's state: the gain the last judgement used and which side of the target it read. */
export interface RateGainState {
  gain: number;
  /** 1: under the target (rate up), −1: over it, 0: none yet (or exactly at it). */
  side: -1 | 0 | 1;
  /** The last judgement read over the budget's limit itself (a second in a row resets the gain). */
  over: boolean;
  /** The last judgement read no more than the foreground alone (its baseline's share of the limit):
   *  a second in a row resets the gain. Absent when false (and in states from before it). */
  calm?: true;
}

export const initialRateGain = (): RateGainState => ({ gain: RATE_GAIN, side: 0, over: false });

/**
 * The gain for a judgement reading `overshoot` × the budget's limit against `target`, and the
 * state after it. `baselineShare` is what the foreground alone reads, as a fraction of the limit
 * (its baseline ÷ the limit: 1 ÷ latencyBudget, less where latencyBudgetMinMs sets the limit); a
 * window reading no more than that shows none of the step's harm, and gets the full gain (below).
 * A state without the schedule (a run started before it existed, replayed or carried across
 * continue-as-new) keeps the fixed gain it ran with, and stays without it.
 */
export function judgeRateGain(
  previous: RateGainState | undefined,
  overshoot: number,
  target: number,
  minGain: number = MIN_RATE_GAIN,
  baselineShare: number = 0,
): { gain: number; next: RateGainState | undefined } {
  if (previous === undefined) return { gain: RATE_GAIN, next: undefined };
  const side = overshoot > target ? -1 : overshoot < target ? 1 : 0;
  // Unreadable (NaN, infinite): the safe answer is the full one.
  const over = !(overshoot <= 1);
  // Far under the target, or at the foreground-alone level twice running: the ground moved (it
  // eased), or the step is far below its set point. Why the second (session 21): at the default
  // budget and target the foreground alone reads 0.67 of the limit, over ⅔ of the target (0.53),
  // so a step that had backed off to nothing never read "far under": its own windows' noise
  // crossed the target, narrowed the gain to its floor, and at gain 0.5 a window with no harm in
  // it raised the rate by 10 %, one window per batch, while a stall's window cut it by 20–50 %.
  // B2 (session 21): 58 and 507 rows/s beside a fixed setting at 17,000 within the budget, the
  // windows at the end reading 0.6–0.9 of the limit. Twice running, as "over" is: at the set
  // point one window in nine reads that low by noise alone, and restoring the full gain on each
  // kicked the rate up (in the closed loop it then took 8 windows to come down from a 1.4×
  // heavier foreground, against 4 at the fixed gain); two in a row are rare there (about one
  // window in eighty with ×e^N(0, 0.15) noise) and common at a step whose harm does not show
  // (one in four).
  const calm = baselineShare < target && overshoot <= baselineShare;
  const eased = overshoot < target * RATE_GAIN_FAR_UNDER || (calm && previous.calm === true);
  const moved = !Number.isFinite(overshoot) || (over && previous.over) || eased;
  const calmNote = calm ? { calm } : {};
  if (moved) return { gain: RATE_GAIN, next: { gain: RATE_GAIN, side, over, ...calmNote } };
  const crossed = previous.side !== 0 && side !== 0 && side !== previous.side;
  const floor = Number.isFinite(minGain) ? Math.min(RATE_GAIN, Math.max(MIN_RATE_GAIN_RANGE.min, minGain)) : MIN_RATE_GAIN;
  const held = Number.isFinite(previous.gain) ? Math.min(RATE_GAIN, Math.max(floor, previous.gain)) : RATE_GAIN;
  const gain = crossed ? Math.max(floor, held * RATE_GAIN_DECAY) : held;
  return { gain, next: { gain, side: side === 0 ? previous.side : side, over, ...calmNote } };
}

/** A state's schedule made safe to use: undefined stays undefined (the fixed gain), anything else is clamped (the config's floor applies at the next judgement). */
export function sanitizeRateGain(v: unknown): RateGainState | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Partial<RateGainState>;
  const gain = typeof r.gain === 'number' && Number.isFinite(r.gain) ? Math.min(RATE_GAIN, Math.max(MIN_RATE_GAIN_RANGE.min, r.gain)) : RATE_GAIN;
  const side = r.side === 1 || r.side === -1 ? r.side : 0;
  return { gain, side, over: r.over === true, ...(r.calm === true ? { calm: true as const } : {}) };
}
