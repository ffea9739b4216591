// The load controller is pure, so every rule, the bounds and the pause hysteresis are tested with
// hand-made samples; a seeded generator stands in for "whatever the inputs".
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_LOAD_CONTROL,
  type LoadControlConfig,
  parseLoadControlAssignments,
  resolveLoadControl,
  validateLoadControl,
} from '../../src/core/load-control-config';
import { mulberry32, quietSample as quiet } from '../helpers/controller-inputs';
import { addToTail, emptyTail, spreadDurations, tailKeep } from '../../src/core/foreground-tail';
import {
  applyConfigChange,
  canaryBaseline,
  CANARY_OVER_SAMPLES,
  canaryP99,
  type ControllerState,
  decide,
  type Decision,
  initialControllerState,
  type LoadSample,
  PAUSED_POLL_MS,
  RESUME_AFTER_CALM_SAMPLES,
  withCanaryBaseline,
  foregroundBaseline,
  foregroundReading,
  foregroundWindowSize,
  LATENCY_TARGET,
  MAX_RATE_STEP,
  MIN_RATE_STEP,
  paceAt,
  rateStepFor,
  withForegroundBaseline,
  foregroundTailWindowSize,
  withForegroundTailBaseline,
} from '../../src/core/load-controller';

// The ratio rules are tested on their own (no absolute headroom floor); the floor has its own test.
// The set point these tests' numbers were worked out at; the default's own is tested by name.
const config = resolveLoadControl({ latencyBudgetMinMs: 0, latencyTarget: 0.8 });

const start = (over: Partial<ControllerState> = {}, c: LoadControlConfig = config): ControllerState => ({ ...initialControllerState(c), ...over });

/** The longest pause the bounds allow (at the smallest batch): where a quiet window may raise a baseline. */
const floorPace: Partial<ControllerState> = { batchSize: config.minBatchSize, sleepMs: config.maxSleepMs };

/** Feeds the same sample n times; returns the last decision. */
function run(state: ControllerState, n: number, sample: LoadSample | ((s: ControllerState, i: number) => LoadSample), c: LoadControlConfig = config): Decision {
  let d: Decision | undefined;
  let s = state;
  for (let i = 0; i < n; i++) {
    d = decide(s, typeof sample === 'function' ? sample(s, i) : sample, c);
    s = d.state;
  }
  return d!;
}

/** A state whose canary window is full of `ms` against a baseline of 1 ms (budget 1.5 ms). */
// An "over budget" reading waiting for confirmation, so the magnitude tests see the action itself
// (the confirmation has its own test).
const withCanary = (ms: number, over: Partial<ControllerState> = {}): ControllerState => ({
  ...withCanaryBaseline(start({ canaryOverPending: true, ...over }), 1),
  canaryWindow: Array.from({ length: config.canaryWindow }, () => ms),
});

/** Uniform in [0, 1) from a seed (mulberry32), the same on every run. */
function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

describe('config', () => {
  test('defaults are the seed values plus ours, and they validate', () => {
    assert.deepEqual(
      {
        initialBatchSize: config.initialBatchSize,
        minBatchSize: config.minBatchSize,
        maxBatchSize: config.maxBatchSize,
        cpuThreshold: config.cpuThreshold,
        memoryThreshold: config.memoryThreshold,
        queryTimeThresholdMs: config.queryTimeThresholdMs,
        adjustmentFactor: config.adjustmentFactor,
        sleepMs: config.sleepMs,
        minSleepMs: config.minSleepMs,
        maxSleepMs: config.maxSleepMs,
      },
      { initialBatchSize: 1000, minBatchSize: 100, maxBatchSize: 10_000, cpuThreshold: 70, memoryThreshold: 80, queryTimeThresholdMs: 5000, adjustmentFactor: 0.2, sleepMs: 100, minSleepMs: 0, maxSleepMs: 10_000 },
    );
    assert.equal(config.targetBatchMs, 500);
    assert.equal(config.latencyBudget, 1.5);
    assert.equal(config.canaryCritical, 4.5);
    assert.equal(config.cpuCritical, 95);
    assert.equal(config.replicaLagCriticalMs, 30_000);
    assert.deepEqual(validateLoadControl(config), []);
  });

  test('resolve: overrides win, undefined means default, canaryCritical follows the budget unless set', () => {
    const r = resolveLoadControl({ initialBatchSize: 500, cpuThreshold: undefined, latencyBudget: 2 });
    assert.equal(r.initialBatchSize, 500);
    assert.equal(r.cpuThreshold, 70);
    assert.equal(r.canaryCritical, 6);
    assert.equal(resolveLoadControl({ latencyBudget: 2, canaryCritical: 2.5 }).canaryCritical, 2.5);
    // A plan's loadControl is a Record<string, number>.
    const fromPlan: Record<string, number> = { cpuThreshold: 60 };
    assert.equal(resolveLoadControl(fromPlan).cpuThreshold, 60);
  });

  test('validate: every problem names the setting and what to change', () => {
    const problems = (partial: Record<string, unknown>) => validateLoadControl(resolveLoadControl(partial));
    assert.deepEqual(problems({ initialBatchSize: 50 }), ['initialBatchSize (50) is below minBatchSize (100): raise initialBatchSize to at least 100 or lower minBatchSize']);
    assert.deepEqual(problems({ initialBatchSize: 20_000 }), ['initialBatchSize (20000) is above maxBatchSize (10000): lower initialBatchSize to at most 10000 or raise maxBatchSize']);
    assert.ok(problems({ minBatchSize: 5000, maxBatchSize: 2000, initialBatchSize: 3000 }).includes('minBatchSize (5000) is above maxBatchSize (2000): lower minBatchSize or raise maxBatchSize'));
    assert.deepEqual(problems({ cpuThreshold: 0 }), ['cpuThreshold is a percentage: set it between 1 and 100, got 0']);
    assert.deepEqual(problems({ memoryThreshold: 120, memoryCritical: 130 }), [
      'memoryThreshold is a percentage: set it between 1 and 100, got 120',
      'memoryCritical is a percentage: set it between 1 and 100, got 130',
    ]);
    assert.deepEqual(problems({ cpuThreshold: 96 }), [
      'cpuCritical (95) must be above cpuThreshold (96) so that a pause can end once load is back under the normal threshold: raise cpuCritical or lower cpuThreshold',
    ]);
    assert.deepEqual(problems({ lockWaitersCritical: 2 }), [
      'lockWaitersCritical (2) must be above lockWaitersThreshold (2) so that a pause can end once load is back under the normal threshold: raise lockWaitersCritical or lower lockWaitersThreshold',
    ]);
    assert.deepEqual(problems({ adjustmentFactor: 1 }), ['adjustmentFactor is the fraction a batch grows or shrinks per decision: set it strictly between 0 and 1 (e.g. 0.2), got 1']);
    assert.deepEqual(problems({ adjustmentFactor: 0 }).length, 1);
    assert.deepEqual(problems({ sleepMs: 20_000 }), ['sleepMs (20000) is above maxSleepMs (10000): lower sleepMs to at most 10000 or raise maxSleepMs']);
    assert.deepEqual(problems({ minSleepMs: 200 }), ['sleepMs (100) is below minSleepMs (200): raise sleepMs to at least 200 or lower minSleepMs']);
    assert.ok(problems({ minSleepMs: 500, maxSleepMs: 400, sleepMs: 450 }).includes('minSleepMs (500) is above maxSleepMs (400): lower minSleepMs or raise maxSleepMs'));
    assert.deepEqual(problems({ minSleepMs: -1, sleepMs: 0 }), ['minSleepMs must be ≥ 0, got -1']);
    assert.deepEqual(problems({ latencyBudget: 1, canaryCritical: 3 }), ["latencyBudget is a multiple of the canary's baseline latency: set it above 1 (1.5 allows the foreground 50 % slower), or to 0 to switch the canary off, got 1"]);
    assert.deepEqual(problems({ latencyBudget: 0 }), [], 'latencyBudget 0 switches the canary off');
    assert.deepEqual(problems({ baselineRiseSleepFraction: 1.5 }), [
      'baselineRiseSleepFraction is how far toward maxSleepMs the pause must be before a quiet window may raise a latency baseline: set it from 0 (any quiet window) to 1 (only at the longest pause, the default), got 1.5',
    ]);
    assert.equal(problems({ baselineRiseSleepFraction: -0.1 }).length, 1);
    assert.deepEqual(problems({ baselineRiseSleepFraction: 0 }), []);
    assert.deepEqual(problems({ canaryCritical: 1.2 }), ['canaryCritical (1.2) must be above latencyBudget (1.5) (both are multiples of the canary baseline): raise canaryCritical or lower latencyBudget']);
    assert.match(problems({ targetBatchMs: 6000 })[0]!, /^targetBatchMs \(6000\) is above queryTimeThresholdMs \(5000\).*lower targetBatchMs or raise queryTimeThresholdMs$/);
    assert.deepEqual(problems({ canaryIntervalMs: 0 }), ['canaryIntervalMs must be a whole number ≥ 1, got 0']);
    assert.deepEqual(problems({ canaryIntervalMs: 60_000 }), ['canaryIntervalMs must be at most 10000 ms (a window of lookups must fill within minutes), got 60000']);
    assert.deepEqual(problems({ canaryIntervalMs: 50 }), []);
    assert.match(problems({ latencyTarget: 1.2 })[0]!, /^latencyTarget is the fraction of the latency budget the controller aims at: set it from 0\.5 to 1 .*got 1\.2$/);
    assert.equal(problems({ latencyTarget: 0.4 }).length, 1);
    assert.deepEqual(problems({ latencyTarget: 0.95 }), []);
    assert.deepEqual(problems({ foregroundIntervalMs: 0 }), [], '0: the canary alone');
    assert.deepEqual(problems({ foregroundIntervalMs: -5 }), ['foregroundIntervalMs must be a whole number ≥ 0, got -5']);
    assert.deepEqual(problems({ foregroundIntervalMs: 20_000 }), ['foregroundIntervalMs must be at most 10000 ms (or 0 to rely on the canary alone), got 20000']);
    assert.deepEqual(problems({ maxBatchSize: 1500.5 }), ['maxBatchSize must be a whole number ≥ 1, got 1500.5']);
    assert.deepEqual(problems({ cpuThreshold: Number.NaN }), ['cpuThreshold must be a finite number, got NaN']);
    assert.deepEqual(problems({ cpuThreshold: '60' }), ['cpuThreshold must be a finite number, got "60"']);
    assert.deepEqual(problems({ initialBatchsize: 500 }), ['unknown load-control setting "initialBatchsize": did you mean initialBatchSize?']);
    assert.match(problems({ colour: 1 })[0]!, /^unknown load-control setting "colour"; known settings: initialBatchSize, .*cpuThreshold/);
  });

  test('assignments: names, aliases and number forms people type', () => {
    assert.deepEqual(parseLoadControlAssignments(['batchSize=500', 'cpuThreshold=60']), { changes: { initialBatchSize: 500, cpuThreshold: 60 }, errors: [] });
    assert.deepEqual(parseLoadControlAssignments(['max_batch_size=10_000', 'memoryThreshold=75%', 'adjustmentFactor=0.1']), {
      changes: { maxBatchSize: 10_000, memoryThreshold: 75, adjustmentFactor: 0.1 },
      errors: [],
    });
  });

  test('assignments: clear errors for unknown keys, non-numbers and bad syntax', () => {
    const { errors } = parseLoadControlAssignments(['cputhreshold=60', 'queryTimeThreshold=5', 'sleepMs=fast', 'sleepMs=', 'frobnicate=1', 'cpuThreshold', '=5', 'minBatchSize=10', 'minBatchSize=20']);
    assert.deepEqual(errors.slice(0, 4), [
      'unknown load-control setting "cputhreshold": did you mean cpuThreshold?',
      'unknown load-control setting "queryTimeThreshold": did you mean queryTimeThresholdMs?',
      'sleepMs: "fast" is not a number',
      'sleepMs: "" is not a number',
    ]);
    assert.match(errors[4]!, /^unknown load-control setting "frobnicate"; known settings: /);
    assert.deepEqual(errors.slice(5), ['"cpuThreshold" is not key=value (e.g. cpuThreshold=60)', '"=5" is not key=value (e.g. cpuThreshold=60)', 'minBatchSize is given twice: keep one']);
    assert.deepEqual(parseLoadControlAssignments([]).errors, ['nothing to set: give one or more key=value pairs, e.g. batchSize=500 cpuThreshold=60']);
  });
});

describe('seed rules', () => {
  test('initial state: initial batch size and sleep, running', () => {
    const s = initialControllerState(config);
    assert.equal(s.batchSize, 1000);
    assert.equal(s.sleepMs, 100);
    assert.equal(s.paused, false);
    assert.deepEqual(s.canaryWindow, []);
  });

  test('a batch slower than queryTimeThreshold shrinks by adjustmentFactor and adds 500 ms', () => {
    const d = decide(start(), quiet({ batchMs: 6000 }), config);
    assert.equal(d.batchSize, 800);
    assert.equal(d.sleepMs, 600);
    assert.equal(d.action, 'continue');
    assert.match(d.reasons[0]!, /batch took 6000 ms, over queryTimeThreshold 5000 ms/);
  });

  test('a fast batch grows by adjustmentFactor and removes 100 ms', () => {
    const d = decide(start({ sleepMs: 300 }), quiet({ batchMs: 100 }), config);
    assert.equal(d.batchSize, 1200);
    assert.equal(d.sleepMs, 200);
  });

  test('growth stops at the size the target batch time allows', () => {
    // 450 ms per 1000 rows → the target of 500 ms allows 1111 rows, not 1200.
    assert.equal(decide(start(), quiet({ batchMs: 450 }), config).batchSize, 1111);
  });

  test('a batch that is fast by the seed rule but over the target is steered down, without extra pause', () => {
    const d = decide(start(), quiet({ batchMs: 600 }), config);
    assert.equal(d.batchSize, 833); // 500 / 600 of it; the −100 ms of a fast batch still applies
    assert.equal(d.sleepMs, 0);
    const slowish = decide(start(), quiet({ batchMs: 3000 }), config); // neither slow nor fast
    assert.equal(slowish.batchSize, 800); // steering is limited to adjustmentFactor per decision
    assert.equal(slowish.sleepMs, 100);
  });

  test('the smoothed batch time, not one batch, decides steering and growth', () => {
    // One 100 ms batch after a history at 700 ms/1000 rows does not make the batch grow.
    const d = decide(start({ smoothedRowMs: 0.7, smoothedBatchMs: 700 }), quiet({ batchMs: 100 }), config);
    assert.ok(d.state.smoothedRowMs! > 0.5 && d.state.smoothedRowMs! < 0.7);
    assert.ok(d.batchSize < 1000, `expected steering down, got ${d.batchSize}`);
  });

  test('CPU over threshold shrinks and doubles the pause (at least +100 ms)', () => {
    const d = decide(start(), quiet({ cpuPercent: 85, batchMs: 100 }), config);
    assert.equal(d.batchSize, 800);
    assert.equal(d.sleepMs, 200);
    assert.equal(decide(start({ sleepMs: 0 }), quiet({ cpuPercent: 85 }), config).sleepMs, 100);
  });

  test('memory over threshold shrinks and pauses', () => {
    const d = decide(start(), quiet({ memoryPercent: 85 }), config);
    assert.equal(d.batchSize, 800);
    assert.equal(d.sleepMs, 200);
  });

  test('no batch ran (rows 0): batch-time rules are skipped', () => {
    const d = decide(start(), quiet({ rows: 0, batchMs: 60_000 }), config);
    assert.equal(d.batchSize, 1000);
    assert.equal(d.sleepMs, 100);
    assert.equal(d.state.smoothedBatchMs, null);
  });
});

describe('database load', () => {
  for (const [name, sample] of [
    ['active backends', { activeBackends: 25 }],
    ['lock waiters', { lockWaiters: 3 }],
    ['replica lag', { replicaLagMs: 8000 }],
  ] as const) {
    test(`${name} over threshold shrink and pause`, () => {
      const d = decide(start(), quiet({ batchMs: 100, ...sample }), config);
      assert.equal(d.batchSize, 800);
      assert.equal(d.sleepMs, 200);
      assert.equal(d.action, 'continue');
    });
  }

  test('at the threshold is not over it; no replicas (null) is no signal', () => {
    const d = decide(start(), quiet({ batchMs: 100, activeBackends: 20, lockWaiters: 2, replicaLagMs: null }), config);
    assert.equal(d.batchSize, 1200);
  });

  test('several signals at once: the strongest rule wins, they do not compound', () => {
    const d = decide(start(), quiet({ batchMs: 6000, cpuPercent: 90, lockWaiters: 4 }), config);
    assert.equal(d.batchSize, 800); // not 1000 × 0.8 × 0.8 × 0.8
    assert.equal(d.sleepMs, 600); // the slow batch's +500 beats doubling 100
    assert.equal(d.reasons.length, 3);
  });
});

describe('foreground latency budget (canary)', () => {
  /** Rows per ms at a decision's settings, where a 1000-row batch takes 100 ms. */
  const rateOf = (d: { batchSize: number; sleepMs: number }) => d.batchSize / (d.batchSize * 0.1 + d.sleepMs);

  test('over budget: the rate falls by (target ÷ reading)², through the pause; far over, the batch shrinks too; window restarts', () => {
    // 1.6 ms against 1.5: 1.07× the limit → rate × (0.8 / 1.07)² = 0.56, as a longer pause.
    const mild = decide(withCanary(1.6, { sleepMs: 100 }), quiet({ batchMs: 100, canaryMs: 1.6 }), config);
    assert.equal(mild.batchSize, 1000);
    assert.equal(mild.sleepMs, 256); // 200 ms a cycle / 0.5625 − 100 ms of batch
    assert.ok(Math.abs(rateOf(mild) / rateOf({ batchSize: 1000, sleepMs: 100 }) - rateStepFor(1.6 / 1.5, config.latencyTarget)) < 0.01);
    assert.deepEqual(mild.state.canaryWindow, []);
    // 4 ms: 2.7× → the step's floor, half the rate; over 1.2× the limit the batch shrinks too.
    const severe = decide(withCanary(4, { sleepMs: 100 }), quiet({ batchMs: 100, canaryMs: 4 }), config);
    assert.equal(severe.batchSize, 800);
    assert.equal(severe.sleepMs, 240);
    assert.ok(Math.abs(rateOf(severe) / rateOf({ batchSize: 1000, sleepMs: 100 }) - MIN_RATE_STEP) < 0.01);
    // From no pause at all, a small step still makes one: 1.4 ms is 0.93×, step 0.73.
    assert.equal(decide(withCanary(1.4, { sleepMs: 0 }), quiet({ batchMs: 100, canaryMs: 1.4 }), config).sleepMs, 37);
  });

  test('at the target (a step within ±5 %): hold, and judge the next window afresh', () => {
    // 1.22 ms against 1.5 ms is 0.81× the limit, step 0.97: within the dead band.
    const d = decide(withCanary(1.22, { sleepMs: 100 }), quiet({ batchMs: 100, canaryMs: 1.22 }), config);
    assert.equal(d.batchSize, 1000);
    assert.equal(d.sleepMs, 100);
    assert.match(d.reasons.join('\n'), /holding: canary p99 1\.22 ms against budget 1\.50 ms \(0\.81×, target 0\.80×\), at its target/);
    assert.deepEqual(d.state.canaryWindow, []);
  });

  test('under the target: the batch grows by the rate step and the pause is set to match; at its bounds, the pause alone moves', () => {
    // 0.9 ms against 1.5: 0.6× → step (0.8 / 0.6)² = 1.78, capped at 1.5.
    const d = decide(withCanary(0.9, { sleepMs: 1000 }), quiet({ batchMs: 100, canaryMs: 0.9 }), config);
    assert.deepEqual([d.batchSize, d.sleepMs], [1500, 950]); // 1100 ms a cycle → 1500 rows in 733 ms
    assert.ok(Math.abs(rateOf(d) / rateOf({ batchSize: 1000, sleepMs: 1000 }) - 1.5) < 0.01);
    const near = decide(withCanary(0.9, { sleepMs: 100 }), quiet({ batchMs: 100, canaryMs: 0.9 }), config);
    assert.deepEqual([near.batchSize, near.sleepMs], [1500, 50]);
    // Far under it (0.7 ms < half of 1.5 ms): the seed's fixed −100 ms too, which here reaches no pause.
    const far = decide(withCanary(0.7, { sleepMs: 100 }), quiet({ batchMs: 100, canaryMs: 0.7 }), config);
    assert.deepEqual([far.batchSize, far.sleepMs], [1500, 0]);
    // At maxBatchSize (10000 rows in 100 ms): the pause shrinks by the step instead.
    const atMax = decide(withCanary(0.9, { sleepMs: 1000, batchSize: 10_000 }), quiet({ batchMs: 100, rows: 10_000, canaryMs: 0.9 }), config);
    assert.deepEqual([atMax.batchSize, atMax.sleepMs], [10_000, 633]);
    // Over the target batch time (450 ms per 1000 rows allows 1111): only that far, and the pause makes up the rest.
    const slowRows = decide(withCanary(0.9, { sleepMs: 1000 }), quiet({ batchMs: 450, canaryMs: 0.9 }), config);
    assert.equal(slowRows.batchSize, 1111);
    assert.equal(slowRows.sleepMs, 574); // 1111 rows in 500 ms + 574: 1.5 × the rate of 1000 in 450 + 1000
    assert.ok(Math.abs(1111 / (1111 * 0.45 + slowRows.sleepMs) / (1000 / (1000 * 0.45 + 1000)) - 1.5) < 0.01);
  });

  test('rateStepFor and paceAt: the step law and the pause that realises it', () => {
    assert.equal(rateStepFor(LATENCY_TARGET), 1);
    assert.equal(rateStepFor(0.1), MAX_RATE_STEP);
    assert.equal(rateStepFor(5), MIN_RATE_STEP);
    assert.equal(rateStepFor(Number.NaN), MAX_RATE_STEP);
    assert.ok(rateStepFor(LATENCY_TARGET + 0.05) < 1 && rateStepFor(LATENCY_TARGET - 0.05) > 1);
    assert.equal(paceAt(2, 1000, 100, 100), 0, 'the pause is not negative');
    assert.equal(paceAt(0.5, 1000, 100, 100), 300);
    assert.equal(paceAt(0.5, 1000, 100, 100, 0.5), 150, 'half the batch, half the rate: the same pause');
    assert.equal(paceAt(Number.NaN, 1000, 100, 100), 100);
  });

  /** The median reading (× the limit) and the share of windows over it, windows 100–199 of a noisy closed loop. */
  function closedLoop(c: LoadControlConfig): { middle: number; overShare: number } {
    // A foreground whose reading grows with the log of the rate (B2's shape: 3× the rate for
    // 1.2× the p99), with ±10 % noise per window. From the initial 1000 rows every 100 ms.
    const random = rng(7);
    let s = withCanaryBaseline(start({}, c), 1);
    const readings: number[] = [];
    for (let window = 0; window < 200; window++) {
      const rate = s.batchSize / (s.batchSize * 0.1 + s.sleepMs);
      const ms = 1.5 * Math.max(0.3, 0.6 + 0.18 * Math.log(rate / 2)) * (1 + 0.2 * (random() - 0.5));
      if (window >= 100) readings.push(ms / 1.5);
      s = decide(s, quiet({ batchMs: s.batchSize * 0.1, rows: s.batchSize, canaryMs: ms, canarySamples: Array.from({ length: c.canaryWindow }, () => ms) }), c).state;
    }
    const sorted = readings.sort((a, b) => a - b);
    return { middle: sorted[Math.floor(sorted.length / 2)]!, overShare: sorted.filter((r) => r > 1).length / sorted.length };
  }

  test('closed loop: with a noisy foreground it settles around the target instead of anywhere under the budget', () => {
    const { middle, overShare } = closedLoop(resolveLoadControl({ latencyBudgetMinMs: 0 }));
    assert.ok(Math.abs(middle - LATENCY_TARGET) < 0.05, `median reading ${middle.toFixed(3)} × the limit`);
    assert.ok(overShare < 0.15, `few windows over the budget (${overShare})`);
  });

  test('closed loop: latencyTarget moves where it settles', () => {
    for (const latencyTarget of [0.7, 0.8, 0.9]) {
      const { middle } = closedLoop({ ...config, latencyTarget });
      assert.ok(Math.abs(middle - latencyTarget) < 0.05, `target ${latencyTarget}: median reading ${middle.toFixed(3)} × the limit`);
    }
  });

  test('a config from before latencyTarget existed keeps the set point it ran with (0.8), so its history replays', () => {
    // A window at 0.84 of the limit: over 0.8 (slow down), under 0.9 (speed up).
    const legacy: Record<string, unknown> = { ...config };
    delete legacy.latencyTarget;
    const window = (c: LoadControlConfig) =>
      decide(withCanary(1.26, { batchSize: 1000, sleepMs: 100 }), quiet({ batchMs: 100, canaryMs: 1.26, canarySamples: Array.from({ length: c.canaryWindow }, () => 1.26) }), c);
    assert.ok(window(legacy as unknown as LoadControlConfig).sleepMs > 100, 'no setting: 0.8, slower');
    const higher = window({ ...config, latencyTarget: 0.9 });
    assert.ok(higher.batchSize > 1000 || higher.sleepMs < 100, 'latencyTarget 0.9: faster');
  });

  test('over budget is proven by 20 fresh samples, twice in a row; room to grow needs a full window', () => {
    let s = withCanaryBaseline(start(), 1);
    for (let round = 1; round <= 2; round++) {
      for (let i = 0; i < CANARY_OVER_SAMPLES - 1; i++) {
        const d = decide(s, quiet({ batchMs: 100, canaryMs: 2 }), config);
        assert.equal(d.batchSize, 1000, `sample ${i + 1} is too few to judge`);
        s = d.state;
      }
      const judged = decide(s, quiet({ batchMs: 100, canaryMs: 2 }), config);
      if (round === 1) {
        assert.equal(judged.batchSize, 1000, 'a first window over budget only asks for confirmation');
        assert.equal(judged.state.canaryOverPending, true);
        assert.deepEqual(judged.state.canaryWindow, [], 'confirmed on a fresh window');
      } else assert.ok(judged.sleepMs > 100, 'the confirming window acts');
      s = judged.state;
    }
    // A spike that the next window does not confirm changes nothing.
    const spiky = decide(withCanaryBaseline(start(), 1), quiet({ batchMs: 100, canaryMs: 3, canarySamples: Array.from({ length: CANARY_OVER_SAMPLES }, () => 3) }), config);
    const calm = decide(spiky.state, quiet({ batchMs: 100, canaryMs: 1, canarySamples: Array.from({ length: CANARY_OVER_SAMPLES }, () => 1) }), config);
    assert.equal(calm.batchSize, 1000);
    assert.equal(calm.state.canaryOverPending, false);

    s = withCanaryBaseline(start(), 1);
    const d = run(s, config.canaryWindow - 1, quiet({ batchMs: 100, canaryMs: 0.9 }));
    assert.deepEqual([d.batchSize, d.sleepMs], [1000, 100], 'no speed-up before the window is full');
    assert.equal(decide(d.state, quiet({ batchMs: 100, canaryMs: 0.9 }), config).batchSize, 1500);
  });

  test('one spike in the window is enough to back off (p99 of fewer than 100 samples is the max)', () => {
    const s = { ...withCanary(1.0), canaryWindow: [...Array.from({ length: 19 }, () => 1.0), 1.6] };
    assert.equal(canaryP99(s), 1.6);
    assert.equal(decide(s, quiet({ batchMs: 100, canaryMs: 1.0 }), config).sleepMs, 256);
  });

  test('continuous sampler: lookups arrive in bunches; an empty bunch keeps the canary in charge', () => {
    // 20 fresh lookups over budget in one decision are enough evidence to back off.
    const over = decide(withCanaryBaseline(start({ canaryOverPending: true }), 1), quiet({ batchMs: 100, canaryMs: 2, canarySamples: Array.from({ length: CANARY_OVER_SAMPLES }, () => 2) }), config);
    assert.deepEqual([over.batchSize, over.sleepMs], [800, 240]);
    // No lookup finished during a short batch: CPU over threshold stays advisory (the canary decides).
    const none = decide(withCanary(1.0), quiet({ batchMs: 5, canaryMs: null, canarySamples: [], cpuPercent: 90 }), config);
    assert.ok(none.batchSize >= 1000, none.reasons.join(' | '));
    assert.match(none.reasons.join(' | '), /advisory/);
  });

  test('continuous sampler: each speed-up is judged on a full window of samples taken after it', () => {
    const comfortable = withCanary(1.0, { sleepMs: 1000 });
    const first = decide(comfortable, quiet({ batchMs: 100, canaryMs: 1.0, canarySamples: [1.0] }), config);
    assert.ok(first.sleepMs < 1000, 'a comfortable full window speeds up');
    assert.deepEqual(first.state.canaryWindow, [], 'and is spent on that one step');
    let s = first.state;
    for (let i = 0; i < 50; i++) s = decide(s, quiet({ batchMs: 100, canaryMs: 1.0, canarySamples: [1.0] }), config).state;
    assert.equal(s.sleepMs, first.sleepMs, 'half a window of new samples: no second step yet');
  });

  test('latencyBudget 0: the canary is off; its samples are ignored and host CPU binds again', () => {
    const off = resolveLoadControl({ latencyBudgetMinMs: 0, latencyBudget: 0 });
    const d = decide(withCanary(1.0), quiet({ batchMs: 100, canaryMs: 50, canarySamples: Array.from({ length: 30 }, () => 50), cpuPercent: 90 }), off);
    assert.ok(!d.reasons.some((r) => r.includes('canary')), d.reasons.join(' | '));
    assert.match(d.reasons.join(' | '), /cpu 90 % over 70 %: batch −20 %/);
    assert.equal(d.action, 'continue', 'no critical canary pause either');
  });

  test('while the canary is measured, host CPU is advisory; memory is not', () => {
    const cpu = decide(withCanary(0.9), quiet({ batchMs: 100, canaryMs: 0.9, cpuPercent: 90 }), config);
    assert.deepEqual([cpu.batchSize, cpu.sleepMs], [1500, 50], 'the canary\'s speed-up, not CPU\'s slow-down');
    assert.match(cpu.reasons.join('\n'), /cpu 90 % over 70 % \(advisory/);
    const critical = decide(withCanary(1.0), quiet({ batchMs: 100, canaryMs: 1.0, cpuPercent: 99 }), config);
    assert.equal(critical.action, 'continue');
    const mem = decide(withCanary(1.0), quiet({ batchMs: 100, canaryMs: 1.0, memoryPercent: 90 }), config);
    assert.equal(mem.batchSize, 800);
    // Without a canary sample this time, CPU binds again.
    assert.equal(decide(withCanary(1.0), quiet({ batchMs: 100, cpuPercent: 90 }), config).batchSize, 800);
  });

  test('no baseline: canary samples are collected but do not steer', () => {
    const d = decide(start(), quiet({ batchMs: 100, canaryMs: 50 }), config);
    assert.equal(d.batchSize, 1200);
    assert.deepEqual(d.state.canaryWindow, [50]);
  });

  test('canaryBaseline: the typical windowed p99 of unloaded samples; window 1 is the median', () => {
    assert.equal(canaryBaseline([3, 1, 2], 1), 2);
    assert.equal(canaryBaseline([1, 2, 3, 4], 1), 2.5);
    // Chunks of 4: maxima 4, 9, 5 → median 5 (the lone 9 does not set the budget).
    assert.equal(canaryBaseline([1, 2, 3, 4, 1, 9, 1, 1, 5, 1, 1, 1], 4), 5);
    assert.equal(canaryBaseline([], 20), null);
    assert.equal(canaryBaseline([Number.NaN, -1, 0], 20), null);
    assert.equal(canaryBaseline([2, 3], 20), 3);
  });

  test('withCanaryBaseline rejects nonsense and restarts the window', () => {
    assert.equal(withCanaryBaseline(start({ canaryWindow: [1, 2] }), 0.8).canaryBaselineMs, 0.8);
    assert.deepEqual(withCanaryBaseline(start({ canaryWindow: [1, 2] }), 0.8).canaryWindow, []);
    assert.equal(withCanaryBaseline(start(), Number.NaN).canaryBaselineMs, null);
    assert.equal(withCanaryBaseline(start(), -3).canaryBaselineMs, null);
  });
});

describe('foreground latency budget (the foreground\'s own transactions)', () => {
  const full = (ms: number) => Array.from({ length: config.canaryWindow }, () => ms);
  const fgFull = (ms: number) => Array.from({ length: foregroundWindowSize(config) }, () => ms);
  /** Canary baseline 1 ms, foreground baseline 4 ms (budget 6 ms). */
  const both = (over: Partial<ControllerState> = {}): ControllerState => withForegroundBaseline(withCanaryBaseline(start({ canaryOverPending: true, ...over }), 1), 4);

  test('while a window of foreground transactions can be read, it governs: over budget backs off though the canary reads comfortable', () => {
    const d = decide(both({ sleepMs: 100 }), quiet({ batchMs: 100, canarySamples: full(1), foregroundSamples: fgFull(12) }), config);
    assert.deepEqual([d.batchSize, d.sleepMs], [800, 240], 'foreground 12 ms against a 6 ms budget: half the rate');
    assert.match(d.reasons.join('\n'), /foreground p95 12 ms against budget 6 ms \(2×/);
    assert.deepEqual(d.state.foregroundWindow, [], 'new settings are judged on new samples');
    assert.deepEqual(d.state.canaryWindow, []);
  });

  test('it reads the window\'s p95: a stall that blocks a few transactions is not harm, a slower tenth of them is', () => {
    const size = foregroundWindowSize(config);
    // Four transactions stalled for 100 ms among 296 of 4 ms: the observer sees every stalled
    // transaction but only some of the short ones, so they weigh far more in its sample than in
    // the foreground's own p99 (FOREGROUND_QUANTILE).
    const stall = [...Array.from({ length: size - 4 }, () => 4), 100, 100, 100, 100];
    const d = decide(both({ sleepMs: 100 }), quiet({ batchMs: 100, canarySamples: full(1), foregroundSamples: stall }), config);
    assert.equal(d.batchSize, 1440, 'p95 4 ms against a 6 ms budget: 0.67×, under the target: step (0.8 / 0.67)² = 1.44');
    assert.match(d.reasons.join('\n'), /foreground p95 4 ms under budget 6 ms/);
    const slowTenth = [...Array.from({ length: size - size / 10 }, () => 4), ...Array.from({ length: size / 10 }, () => 12)];
    const over = decide(both({ sleepMs: 100 }), quiet({ batchMs: 100, canarySamples: full(1), foregroundSamples: slowTenth }), config);
    assert.equal(over.batchSize, 800);
    assert.equal(foregroundBaseline([...stall, ...stall], size), 4, 'its baseline reads the same quantile');
    assert.equal(foregroundReading(d.state), null, 'the window starts again under the new settings');
    assert.equal(foregroundReading({ ...d.state, foregroundWindow: stall }), 4);
  });

  test('its last judgement is kept for monitoring until the next full window; a partial window does not replace it', () => {
    const judged = decide(both({ sleepMs: 100 }), quiet({ batchMs: 100, canarySamples: full(1), foregroundSamples: fgFull(4) }), config);
    assert.deepEqual(judged.state.lastReading, { source: 'foreground', statistic: 'p95', valueMs: 4, limitMs: 6, baselineMs: 4 });
    const partial = decide(judged.state, quiet({ batchMs: 100, foregroundSamples: [5.5, 5.5] }), config);
    assert.equal(partial.state.lastReading?.valueMs, 4);
    const canary = decide(withCanaryBaseline(start({ canaryOverPending: true }), 1), quiet({ batchMs: 100, canarySamples: full(4) }), config);
    assert.deepEqual(canary.state.lastReading, { source: 'canary', statistic: 'p99', valueMs: 4, limitMs: 1.5, baselineMs: 1 }, 'the canary\'s when no foreground is measured');
    const precise = decide(withCanaryBaseline(start({ canaryOverPending: true }), 1.0049), quiet({ batchMs: 100, canarySamples: full(4.123456) }), config);
    assert.deepEqual([precise.state.lastReading?.valueMs, precise.state.lastReading?.baselineMs], [4.12, 1], 'to 10 µs');
    const off = decide(judged.state, quiet({ batchMs: 100, foregroundSamples: fgFull(40) }), resolveLoadControl({ latencyBudget: 0 }));
    assert.equal(off.state.lastReading?.valueMs, 4, 'no budget, no new judgement');
    const garbage = decide({ ...judged.state, lastReading: { source: 'foreground', statistic: 'p95', valueMs: Number.NaN } as never }, quiet({ batchMs: 100 }), config);
    assert.equal(garbage.state.lastReading, null);
  });

  test('…and under the target lets it speed up though the canary reads over budget', () => {
    const d = decide(both({ sleepMs: 1000 }), quiet({ batchMs: 100, canarySamples: full(1.6), foregroundSamples: fgFull(4) }), config);
    assert.deepEqual([d.batchSize, d.sleepMs], [1440, 955], '4 ms against 6: rate × 1.44');
  });

  test('the canary stands in while too few foreground transactions arrive (or none was seen before the step)', () => {
    const few = decide(both({ sleepMs: 100 }), quiet({ batchMs: 100, canarySamples: full(4), foregroundSamples: [4, 4] }), config);
    assert.equal(few.batchSize, 800, 'the canary, 4 ms against 1.5 ms');
    assert.match(few.reasons.join('\n'), /canary p99 4 ms against budget/);
    const unseen = decide(withCanaryBaseline(start({ canaryOverPending: true }), 1), quiet({ batchMs: 100, canarySamples: full(4), foregroundSamples: full(40) }), config);
    assert.equal(unseen.batchSize, 800);
    assert.equal(unseen.state.foregroundBaselineMs, null);
  });

  test('the canary\'s critical level still pauses while the foreground governs (a blocked foreground finishes nothing to read), on a full window of lookups instead of 5', () => {
    const d = decide(both(), quiet({ batchMs: 100, canarySamples: full(10), foregroundSamples: full(4) }), config);
    assert.equal(d.action, 'pause');
    assert.match(d.reasons.join('\n'), /canary p99 10 ms over critical/);
    const five = decide(both(), quiet({ batchMs: 100, canarySamples: [10, 10, 10, 10, 10], foregroundSamples: full(4) }), config);
    assert.equal(five.action, 'continue');
    const twenty = decide(both(), quiet({ batchMs: 100, canarySamples: Array.from({ length: 20 }, () => 10), foregroundSamples: full(4) }), config);
    assert.equal(twenty.action, 'continue', 'the maximum of twenty lookups is one hiccup');
    const alone = decide(withCanaryBaseline(start(), 1), quiet({ batchMs: 100, canarySamples: [10, 10, 10, 10, 10] }), config);
    assert.equal(alone.action, 'pause', 'governing alone, five lookups are enough (a blocked table times them out)');
  });

  test('its window is three canary windows; "over" and critical both need a full one', () => {
    assert.equal(foregroundWindowSize(config), 3 * config.canaryWindow);
    const n = (count: number, ms: number) => Array.from({ length: count }, () => ms);
    const partial = decide(both(), quiet({ batchMs: 100, foregroundSamples: n(foregroundWindowSize(config) - 1, 8) }), config);
    assert.equal(partial.batchSize, 1000, 'over budget on 299 transactions: not yet judged');
    assert.match(partial.reasons.join('\n'), /holding: gathering foreground samples \(299\/300\)/);
    const few = decide(both(), quiet({ batchMs: 100, foregroundSamples: n(config.canaryWindow, 40) }), config);
    assert.equal(few.action, 'continue', 'a hundred slow transactions can be two stalls of a few clients, not a crisis');
    assert.equal(few.batchSize, 1000);
    const enough = decide(both(), quiet({ batchMs: 100, foregroundSamples: n(foregroundWindowSize(config), 40) }), config);
    assert.equal(enough.action, 'pause');
    assert.match(enough.reasons.join('\n'), /foreground p95 40 ms over critical/);
  });

  test('an over-budget foreground window slows the step at once (no confirming window, unlike the canary)', () => {
    const fresh = withForegroundBaseline(withCanaryBaseline(start({ sleepMs: 100 }), 1), 4);
    const fg = decide(fresh, quiet({ batchMs: 100, foregroundSamples: fgFull(8) }), config);
    assert.ok(fg.batchSize < 1000, `foreground: batch ${fg.batchSize}`);
    assert.doesNotMatch(fg.reasons.join('\n'), /confirming/);
    const canary = decide(withCanaryBaseline(start({ sleepMs: 100 }), 1), quiet({ batchMs: 100, canarySamples: full(2) }), config);
    assert.equal(canary.batchSize, 1000);
    assert.match(canary.reasons.join('\n'), /canary p99 2 ms over budget 1.50 ms: confirming on the next window/);
  });

  test('its baseline is re-measured from quiet transactions, never below the pre-step one, and rises only at the longest pause', () => {
    const busy = decide(both({ sleepMs: 5000 }), quiet({ batchMs: 0, rows: 0, foregroundSamples: fgFull(9), foregroundQuietSamples: fgFull(9) }), config);
    assert.equal(busy.state.foregroundBaselineMs, 4, 'a step still writing may be the cause: backing off is the cheaper test');
    assert.match(busy.reasons.join('\n'), /foreground quiet window read 9 ms, over its baseline 4 ms: kept until the step has backed off to its longest pause/);
    const up = decide(both(floorPace), quiet({ batchMs: 0, rows: 0, foregroundSamples: fgFull(9), foregroundQuietSamples: fgFull(9) }), config);
    assert.equal(up.state.foregroundBaselineMs, 9);
    assert.equal(up.state.canaryBaselineMs, 1, 'each signal from its own quiet samples');
    assert.match(up.reasons.join('\n'), /foreground baseline re-measured with no batch running: 4 → 9 ms/);
    const down = decide(up.state, quiet({ batchMs: 0, rows: 0, foregroundSamples: fgFull(1), foregroundQuietSamples: fgFull(1) }), config);
    assert.equal(down.state.foregroundBaselineMs, 4);
  });

  test('baselineRiseSleepFraction moves how far the pause must reach before a quiet window may raise a baseline', () => {
    const high = quiet({ batchMs: 0, rows: 0, foregroundSamples: fgFull(9), foregroundQuietSamples: fgFull(9) });
    // 0: any quiet window raises it, at the shortest pause (the rule until session 20).
    const any = { ...config, baselineRiseSleepFraction: 0 };
    assert.equal(decide(both({ sleepMs: 0 }), high, any).state.foregroundBaselineMs, 9);
    // 0.5: held short of half the longest pause, named in the reason, and raised from there on.
    const half = { ...config, baselineRiseSleepFraction: 0.5 };
    const short = decide(both({ sleepMs: config.maxSleepMs / 2 - 1 }), high, half);
    assert.equal(short.state.foregroundBaselineMs, 4);
    assert.match(short.reasons.join('\n'), new RegExp(`kept until the step has backed off to a pause of ${config.maxSleepMs / 2} ms`));
    assert.equal(decide(both({ sleepMs: config.maxSleepMs / 2 }), high, half).state.foregroundBaselineMs, 9);
    // The default (1) holds it anywhere short of the longest pause; a paused step may raise it at any fraction.
    assert.equal(decide(both({ sleepMs: config.maxSleepMs - 1 }), high, config).state.foregroundBaselineMs, 4);
    assert.equal(decide(both({ sleepMs: 0, paused: true }), high, config).state.foregroundBaselineMs, 9);
  });

  test('latencyBudget 0 ignores it; a state from before it existed keeps the canary in charge', () => {
    const off = resolveLoadControl({ latencyBudget: 0, latencyBudgetMinMs: 0 });
    const d = decide(both(), quiet({ batchMs: 100, foregroundSamples: full(40) }), off);
    assert.equal(d.batchSize, 1200);
    const old = { ...withCanaryBaseline(start({ canaryOverPending: true }), 1) } as Partial<ControllerState>;
    for (const k of ['foregroundBaselineMs', 'foregroundStepBaselineMs', 'foregroundWindow', 'foregroundQuietWindow'] as const) delete old[k];
    const o = decide(old as ControllerState, quiet({ batchMs: 100, canarySamples: full(4), foregroundSamples: full(40) }), config);
    assert.equal(o.batchSize, 800);
    assert.match(o.reasons.join('\n'), /canary p99 4 ms against budget/);
  });

  test('withForegroundBaseline: null or nonsense means none was seen', () => {
    for (const bad of [null, 0, -1, Number.NaN]) assert.equal(withForegroundBaseline(start(), bad).foregroundBaselineMs, null);
    assert.equal(withForegroundBaseline(start(), 3).foregroundStepBaselineMs, 3);
  });
});

describe('foreground latency budget (the tail count of its writing transactions)', () => {
  const full = (ms: number) => Array.from({ length: config.canaryWindow }, () => ms);
  const size = foregroundTailWindowSize(config);
  /** `count` writing transactions, of which the 1 % longest took `tailMs`, the rest 3 ms. */
  const tail = (tailMs: number, count = size) => ({ count, durations: [...Array.from({ length: count / 100 }, () => tailMs), ...Array.from({ length: 50 }, () => 3)] });
  /** Canary baseline 1 ms, p95 baseline 4 ms, tail-count baseline 6 ms (budget 9 ms). */
  const three = (over: Partial<ControllerState> = {}): ControllerState => withForegroundTailBaseline(withForegroundBaseline(withCanaryBaseline(start({ canaryOverPending: true, ...over }), 1), 4), 6);

  test('when measured before the step, it governs: over budget backs off though the p95 and the canary read comfortable', () => {
    const d = decide(three({ sleepMs: 100 }), quiet({ batchMs: 100, canarySamples: full(1), foregroundSamples: full(4), foregroundTail: tail(18) }), config);
    assert.deepEqual([d.batchSize, d.sleepMs], [800, 240], '18 ms against a 9 ms budget: half the rate');
    assert.match(d.reasons.join('\n'), /foreground p99 18 ms against budget 9 ms \(2×/);
    assert.deepEqual(d.state.foregroundTail, emptyTail(), 'new settings are judged on new transactions');
    assert.deepEqual(d.state.lastReading, { source: 'foreground', statistic: 'p99', valueMs: 18, limitMs: 9, baselineMs: 6 });
  });

  test('under the target it speeds up, though the p95 of observed transactions reads far over (their length bias)', () => {
    const d = decide(three({ sleepMs: 1000 }), quiet({ batchMs: 100, canarySamples: full(1), foregroundSamples: full(40), foregroundTail: tail(6) }), config);
    assert.deepEqual([d.batchSize, d.sleepMs], [1440, 955], '6 ms against 9: rate × 1.44');
    assert.match(d.reasons.join('\n'), /foreground p99 6 ms under budget 9 ms/);
  });

  test('a window is judged once it counts its transactions, gathered over several samples', () => {
    let d = decide(three({ sleepMs: 100 }), quiet({ batchMs: 100, foregroundTail: tail(18, size / 2) }), config);
    assert.deepEqual([d.batchSize, d.sleepMs], [1000, 100], 'half a window: no judgement');
    assert.equal(d.state.foregroundTail?.count, size / 2);
    d = decide(d.state, quiet({ batchMs: 100, foregroundTail: tail(18, size / 2) }), config);
    assert.deepEqual([d.batchSize, d.sleepMs], [800, 240]);
  });

  test('without a tail baseline, or with no tail counted now, the p95 reading governs', () => {
    const noBaseline = withForegroundBaseline(withCanaryBaseline(start({ canaryOverPending: true, sleepMs: 100 }), 1), 4);
    const d = decide(noBaseline, quiet({ batchMs: 100, canarySamples: full(1), foregroundSamples: Array.from({ length: 300 }, () => 12), foregroundTail: tail(6) }), config);
    assert.match(d.reasons.join('\n'), /foreground p95 12 ms against budget 6 ms/);
    const uncounted = decide(three({ sleepMs: 100 }), quiet({ batchMs: 100, canarySamples: full(1), foregroundSamples: Array.from({ length: 300 }, () => 12), foregroundTail: null }), config);
    assert.match(uncounted.reasons.join('\n'), /foreground p95 12 ms against budget 6 ms/);
  });

  test('its critical level pauses on a full window; its baseline is re-measured from quiet windows, never below the pre-step one', () => {
    const d = decide(three(), quiet({ batchMs: 100, canarySamples: full(1), foregroundTail: tail(60) }), config);
    assert.equal(d.action, 'pause');
    assert.match(d.reasons.join('\n'), /foreground p99 60 ms over critical/);
    const busy = decide(three(), quiet({ batchMs: 100, canarySamples: full(1), foregroundTail: tail(8), foregroundQuietTail: tail(8) }), config);
    assert.equal(busy.state.foregroundTailBaselineMs, 6, 'not raised while the step can still lengthen its pause');
    const up = decide(three(floorPace), quiet({ batchMs: 100, canarySamples: full(1), foregroundTail: tail(8), foregroundQuietTail: tail(8) }), config);
    assert.equal(up.state.foregroundTailBaselineMs, 8);
    assert.match(up.reasons.join('\n'), /foreground tail baseline re-measured with no batch running: 6 → 8 ms/);
    const down = decide(up.state, quiet({ batchMs: 100, canarySamples: full(1), foregroundTail: tail(3), foregroundQuietTail: tail(3) }), config);
    assert.equal(down.state.foregroundTailBaselineMs, 6, 'the pre-step baseline is its floor');
  });

  test('a window that counted writers it did not observe (another migration, a reading foreground) is no reading: the canary judges', () => {
    const d = decide(three({ sleepMs: 100 }), quiet({ batchMs: 100, canarySamples: full(4), foregroundTail: { count: size, durations: [3, 3] } }), config);
    assert.deepEqual([d.batchSize, d.sleepMs], [800, 240], 'the canary, 4 ms against 1.5 ms');
    assert.match(d.reasons.join('\n'), /canary p99 4 ms against budget/);
  });

  test('a partial window, observed or not, holds the canary back until it is full', () => {
    const d = decide(three({ sleepMs: 100 }), quiet({ batchMs: 100, canarySamples: full(4), foregroundTail: { count: size / 2, durations: [] } }), config);
    assert.deepEqual([d.batchSize, d.sleepMs], [1000, 100]);
    assert.match(d.reasons.join('\n'), /holding: gathering foreground samples/);
  });

  test('a paused step is held by an over-budget tail on at least 100 transactions, not by one slow transaction among a few', () => {
    const paused = three({ paused: true, pauseReasons: ['canary p99 over critical'], calmSamples: 0 });
    const few = decide(paused, quiet({ batchMs: 0, rows: 0, canarySamples: full(1), foregroundTail: { count: 50, durations: [60] } }), config);
    assert.match(few.reasons.join('\n'), /still paused: calm 1\/3/);
    const enough = decide(paused, quiet({ batchMs: 0, rows: 0, canarySamples: full(1), foregroundTail: { count: 150, durations: [60, 60] } }), config);
    assert.match(enough.reasons.join('\n'), /still paused \(canary p99 over critical\): foreground p99 60 ms over budget 9 ms/);
  });

  test('a long pause is judged on its latest transactions: a full paused window starts over, so the stall that paused the step does not hold it', () => {
    // The window that paused the step: 5 % of its writers stalled at 60 ms (its kept longest, tailKeep, are all the stall).
    const stalled = addToTail(emptyTail(), size, Array.from({ length: size / 20 }, () => 60), tailKeep(size));
    let state = three({ paused: true, pauseReasons: ['foreground p99 over critical'], calmSamples: 0, foregroundTail: stalled });
    const actions: string[] = [];
    for (let i = 0; i < 3; i++) {
      const d = decide(state, quiet({ batchMs: 0, rows: 0, canarySamples: full(1), foregroundTail: tail(3, (size * 7) / 10) }), config);
      actions.push(d.action);
      state = d.state;
      assert.ok(state.foregroundTail!.count <= 2 * size, `the paused window stays within two windows: ${state.foregroundTail!.count}`);
    }
    // Grown instead, the window would hold the 200 stalled among 3.1 windows of writers: its p99
    // (rank 124) still a stalled one, 60 ms against the 9 ms budget.
    assert.deepEqual(actions, ['pause', 'pause', 'resume'], 'three calm samples resume the step');
  });

  test('the reading is the corrected tail count when the observer hands over spread durations, and stays so through JSON', () => {
    // The longest estimates read 10 ms, and spread a second time the 20th longest transaction's
    // worth (the 80th spread duration) reads 14 ms: the reading is 2 × 10 − 14 = 6 ms.
    const spreadTail = (ms: number) => {
      const t = tail(ms);
      return { ...t, spread: t.durations.flatMap((d) => (d === ms ? [14, 14, 14, 14] : spreadDurations(d, 0))) };
    };
    const half = { ...spreadTail(10), count: size / 2 };
    const partial = decide(three({ sleepMs: 100 }), quiet({ batchMs: 100, foregroundTail: { ...half, durations: half.durations.slice(0, 10), spread: half.spread.slice(0, 40) } }), config);
    const json = JSON.parse(JSON.stringify(partial.state)) as ControllerState;
    assert.ok(json.foregroundTail?.spreadLongest && json.foregroundTail.spreadLongest.length > 0, 'the window keeps its spread durations');
    const d = decide(json, quiet({ batchMs: 100, foregroundTail: { ...half, durations: half.durations.slice(10), spread: half.spread.slice(40) } }), config);
    assert.match(d.reasons.join('\n'), /foreground p99 6 ms under budget 9/, d.reasons.join('\n'));
    const plain = decide(three({ sleepMs: 100 }), quiet({ batchMs: 100, foregroundTail: tail(10) }), config);
    assert.match(plain.reasons.join('\n'), /foreground p99 10 ms against budget 9/, 'without spread durations: the plain count');
    const broken = decide({ ...json, foregroundTail: { ...json.foregroundTail!, spreadLongest: ['x'] as never } }, quiet({ batchMs: 100, foregroundTail: { ...half, durations: half.durations.slice(10), spread: half.spread.slice(40) } }), config);
    assert.match(broken.reasons.join('\n'), /foreground p99 10 ms against budget 9/, 'a damaged spread list: the plain count');
  });

  test('the reading is the sightings\' quantile when the observer hands them over, through JSON; without them, or damaged, the count', () => {
    // 8,000 transactions, snapshots 20 ms apart: a 2 ms band at the p99 wants 0.01 × 8000 × 2 / 20
    // = 8 sightings. The two longest stand alone; the next eight lie within it from 7 ms, so the
    // p99 is the band's middle, 8 ms.
    assert.equal(size, 8000, 'the numbers below are worked for a window of 8,000');
    const sightings = (ages: number[], snapshots: number) => ({ agesMs: ages, snapshots, spanMs: snapshots * 20 });
    const first = { ...tail(18, size / 2), sightings: sightings([7.3, 7.2, 7.15, 7.05, 1, 2], 100) };
    const second = { ...tail(18, size / 2), sightings: sightings([7.1, 7, 7.02, 7.01, 12, 30, 3], 100) };
    const partial = decide(three({ sleepMs: 100 }), quiet({ batchMs: 100, foregroundTail: first }), config);
    const json = JSON.parse(JSON.stringify(partial.state)) as ControllerState;
    assert.equal(json.foregroundTail?.sightings?.snapshots, 100, 'the window keeps its sightings');
    const d = decide(json, quiet({ batchMs: 100, foregroundTail: second }), config);
    assert.match(d.reasons.join('\n'), /foreground p99 8 ms against budget 9/, d.reasons.join('\n'));
    const without = decide(json, quiet({ batchMs: 100, foregroundTail: tail(18, size / 2) }), config);
    assert.match(without.reasons.join('\n'), /foreground p99 18 ms against budget 9/, 'a chunk without sightings: the count');
    const damaged = decide({ ...json, foregroundTail: { ...json.foregroundTail!, sightings: { agesMs: ['x'], snapshots: 1, spanMs: 10 } as never } }, quiet({ batchMs: 100, foregroundTail: second }), config);
    assert.match(damaged.reasons.join('\n'), /foreground p99 18 ms against budget 9/, 'damaged sightings: the count');
  });

  test('the window widens with the poll\'s gap, so a band holds as many sightings at any gap', () => {
    const at = (foregroundIntervalMs: number) => foregroundTailWindowSize({ canaryWindow: 100, foregroundIntervalMs });
    assert.deepEqual([at(5), at(10), at(20), at(40)], [4000, 4000, 8000, 16000], 'writers ÷ gap held at 400 a millisecond from 10 ms up');
    assert.equal(at(0), 4000, 'no poll (the canary alone): the narrowest window');
    assert.equal(at(Number.NaN), 4000);
    assert.equal(size, at(config.foregroundIntervalMs), 'the controller judges the window the slice\'s baseline reads');
    const judged = (foregroundIntervalMs: number) => decide(three({ sleepMs: 100 }), quiet({ batchMs: 100, foregroundTail: tail(18, 4000) }), { ...config, foregroundIntervalMs });
    assert.deepEqual([judged(10).batchSize, judged(40).batchSize], [800, 1000], '4,000 writers fill the window at 10 ms, a quarter of it at 40 ms');
  });

  test('state that went through JSON or holds garbage still decides within bounds', () => {
    const garbage = { ...three(), foregroundTail: { count: Number.NaN, longest: ['x', -1, 5] }, foregroundQuietTail: null, foregroundTailBaselineMs: -2 } as unknown as ControllerState;
    const d = decide(garbage, quiet({ batchMs: 100, foregroundTail: { count: Number.POSITIVE_INFINITY, durations: [Number.NaN] } as never }), config);
    assert.equal(d.state.foregroundTailBaselineMs, null);
    assert.ok(d.batchSize >= config.minBatchSize && d.batchSize <= config.maxBatchSize);
    const json = JSON.parse(JSON.stringify(decide(three(), quiet({ batchMs: 100, foregroundTail: tail(18, size / 2) }), config).state)) as ControllerState;
    assert.equal(decide(json, quiet({ batchMs: 100, foregroundTail: tail(18, size / 2) }), config).batchSize, 800);
  });
});

describe('absolute floor of the budget (latencyBudgetMinMs)', () => {
  test('sub-millisecond jitter is not harm: 0.4 → 1.7 ms stays within the 2 ms floor; a real slowdown is still over', () => {
    const withFloor = resolveLoadControl({});
    assert.equal(withFloor.latencyBudgetMinMs, 2);
    const start04 = { ...withCanaryBaseline(start({}, withFloor), 0.4), canaryWindow: [0.5, 0.9, 1.7, 0.6, ...Array.from({ length: 15 }, () => 0.5)] };
    const jitter = decide(start04, quiet({ canaryMs: 1.2 }), withFloor);
    assert.equal(jitter.action, 'continue');
    assert.ok(!jitter.reasons.some((r) => r.includes('over budget')), jitter.reasons.join(' | '));
    const slow = decide(start04, quiet({ canaryMs: 2.2 }), withFloor); // over the 2 ms floor
    assert.match(slow.reasons.join(' | '), /canary p99 2\.20 ms over budget 2(\.00)? ms/);
    // Critical is at least 3 × the floor: 6 ms.
    assert.equal(decide(start04, quiet({ canaryMs: 5.9 }), withFloor).action, 'continue');
    assert.equal(decide(start04, quiet({ canaryMs: 6.1 }), withFloor).action, 'pause');
  });

  test('the floor is on the limit, not headroom over the baseline: a 2 ms baseline keeps the 1.5× ratio', () => {
    const withFloor = resolveLoadControl({});
    const start2 = { ...withCanaryBaseline(start({}, withFloor), 2), canaryWindow: Array.from({ length: 19 }, () => 2) };
    assert.match(decide(start2, quiet({ canaryMs: 3.2 }), withFloor).reasons.join(' | '), /canary p99 3\.20 ms over budget 3(\.00)? ms/);
    // On a slow baseline likewise.
    const start10 = { ...withCanaryBaseline(start({}, withFloor), 10), canaryWindow: Array.from({ length: 19 }, () => 10) };
    assert.match(decide(start10, quiet({ canaryMs: 15.5 }), withFloor).reasons.join(' | '), /over budget 15(\.00)? ms/);
  });
});

describe('critical thresholds and hysteresis', () => {
  test('critical CPU pauses with a reason; resume needs every signal under normal for several samples', () => {
    const paused = decide(start(), quiet({ cpuPercent: 97 }), config);
    assert.equal(paused.action, 'pause');
    assert.equal(paused.state.paused, true);
    assert.deepEqual(paused.state.pauseReasons, ['cpu 97 % over critical 95 %']);
    assert.match(paused.reasons.join('\n'), /pausing: cpu 97 % over critical 95 %/);
    assert.ok(paused.sleepMs >= PAUSED_POLL_MS);

    // Back under critical but above normal: still paused, however long.
    const between = run(paused.state, 50, quiet({ rows: 0, cpuPercent: 80 }));
    assert.equal(between.action, 'pause');
    assert.match(between.reasons.join('\n'), /still paused \(cpu 97 % over critical 95 %\): cpu 80 % over 70 %/);

    // Under normal: calm samples count up, then one resume.
    let s = between.state;
    for (let i = 1; i < RESUME_AFTER_CALM_SAMPLES; i++) {
      const d = decide(s, quiet({ rows: 0, cpuPercent: 50 }), config);
      assert.equal(d.action, 'pause');
      s = d.state;
    }
    const resumed = decide(s, quiet({ rows: 0, cpuPercent: 50 }), config);
    assert.equal(resumed.action, 'resume');
    assert.equal(resumed.state.paused, false);
    assert.deepEqual(resumed.state.pauseReasons, []);
    assert.equal(decide(resumed.state, quiet({ cpuPercent: 50 }), config).action, 'continue');
  });

  test('no flapping: a signal oscillating across the critical line keeps the pause, and across the normal line resets the count', () => {
    let s = start();
    const actions: string[] = [];
    for (let i = 0; i < 40; i++) {
      const d = decide(s, quiet({ rows: 0, cpuPercent: i % 2 === 0 ? 96 : 60 }), config);
      actions.push(d.action);
      s = d.state;
    }
    assert.ok(actions.every((a) => a === 'pause'), 'one calm sample in between never resumes');
    // After a resume, load between normal and critical throttles but does not pause again.
    s = run(s, RESUME_AFTER_CALM_SAMPLES, quiet({ rows: 0, cpuPercent: 50 })).state;
    assert.equal(s.paused, false);
    const d = run(s, 20, quiet({ cpuPercent: 90 }));
    assert.equal(d.action, 'continue');
    assert.equal(d.batchSize, config.minBatchSize);
  });

  test('every critical signal pauses', () => {
    const cases: Array<[Partial<LoadSample>, RegExp]> = [
      [{ cpuPercent: 96 }, /cpu 96 % over critical 95 %/],
      [{ memoryPercent: 96 }, /memory 96 % over critical 95 %/],
      [{ activeBackends: 51 }, /51 active backends over critical 50/],
      [{ lockWaiters: 6 }, /6 lock waiters over critical 5/],
      [{ replicaLagMs: 31_000 }, /replica lag 31000 ms over critical 30000 ms/],
    ];
    for (const [sample, reason] of cases) {
      const d = decide(start(), quiet(sample), config);
      assert.equal(d.action, 'pause', JSON.stringify(sample));
      assert.match(d.state.pauseReasons.join('; '), reason);
    }
  });

  test('the canary over its critical level pauses; the pause judges only samples taken during it', () => {
    // Two lookups at 5 ms (> 4.5 × 1 ms): with 100 samples in the window p99 is the second largest.
    const d = decide(withCanary(1.0), quiet({ canaryMs: 5, canarySamples: [5, 5] }), config);
    assert.equal(d.action, 'pause');
    assert.match(d.state.pauseReasons[0]!, /canary p99 5 ms over critical 4\.50 × baseline 1 ms/);
    assert.deepEqual(d.state.canaryWindow, []);
    // Calm canary samples: gathering (4), then calm samples count toward the resume.
    const actions = [];
    let s = d.state;
    for (let i = 0; i < 10; i++) {
      const next = decide(s, quiet({ rows: 0, canaryMs: 1.0 }), config);
      actions.push(next.action);
      s = next.state;
    }
    assert.deepEqual(actions.slice(0, 7), ['pause', 'pause', 'pause', 'pause', 'pause', 'pause', 'resume']);
  });

  test('an idle database noisier than the pre-step baseline cannot hold the pause forever: the baseline is re-measured from quiet lookups', () => {
    // Seen on a 5M-row table: baseline 0.78 ms from a warm burst, then idle lookups a second apart
    // read 0.8–3.7 ms. Judged against 0.78 ms, the idle database itself was over budget for good.
    const paused = decide({ ...withCanaryBaseline(start({ sleepMs: 10_000 }), 0.78), canaryWindow: [5.03, 5.03, 5.03, 5.03] }, quiet({ canaryMs: 5.03 }), config);
    assert.equal(paused.action, 'pause');
    assert.equal(paused.sleepMs, PAUSED_POLL_MS, 'a paused controller samples every second, whatever the pause had grown to');
    const idle = [0.78, 3.66, 1.09, 1.69, 0.95, 2.1, 0.81, 1.2, 3.1, 0.9, 1.4, 2.7];
    let s = paused.state;
    const actions: string[] = [];
    let rebased = '';
    // The first seconds of the pause are not quiet yet (the sampler says which lookups are); the
    // baseline is re-measured once a full window of quiet lookups has arrived, not from fewer.
    for (let i = 0; i < 20; i++) {
      const quietSamples = i < 3 ? [] : idle;
      const d = decide(s, quiet({ rows: 0, batchMs: 0, canaryMs: idle.at(-1)!, canarySamples: idle, canaryQuietSamples: quietSamples }), config);
      if ((i - 2) * idle.length < config.canaryWindow) assert.equal(d.state.canaryBaselineMs, 0.78, `not re-measured from ${Math.max(0, i - 2) * idle.length} quiet lookups`);
      actions.push(d.action);
      rebased ||= d.reasons.find((r) => r.startsWith('canary baseline re-measured')) ?? '';
      s = d.state;
    }
    assert.ok(actions.includes('resume'), `the pause ends: ${actions.join(', ')}`);
    assert.match(rebased, /canary baseline re-measured with no batch running: 0\.78 → 3\.66 ms/);
    assert.equal(s.canaryBaselineMs, 3.66);
    assert.equal(s.canaryStepBaselineMs, 0.78, 'the pre-step baseline is kept as the floor');
  });

  test('load the migration does not cause cannot hold it at its floor: quiet lookups raise the baseline and the step speeds up again', () => {
    // A busy neighbour (CI: another test file) slows every lookup alike, batches or not. Judged
    // against the pre-step baseline, the controller backed off to 100 rows every 8 s and stayed.
    // (A baseline rises only at the longest pause, which is where such a neighbour leaves the step.)
    const noisy = Array.from({ length: 50 }, (_, i) => (i % 10 === 0 ? 4 : 2.5));
    let s = { ...withCanaryBaseline(start(floorPace), 1) };
    // Batches at the floor, with quiet lookups (seconds after each batch) reading the same noise.
    const first = run(s, 10, quiet({ batchMs: 5, rows: config.minBatchSize, canarySamples: noisy, canaryQuietSamples: noisy }));
    s = first.state;
    assert.equal(s.canaryBaselineMs, 4, 'the quiet lookups\' windowed p99');
    assert.ok(first.sleepMs < config.maxSleepMs, `the pause shrinks: ${first.sleepMs} ms`);
    // Without quiet lookups (short pauses) the raised baseline stays; the budget is 1.5 × 4 ms.
    const later = run(s, 40, quiet({ batchMs: 5, rows: config.minBatchSize, canarySamples: noisy, canaryQuietSamples: [] }));
    assert.equal(later.state.canaryBaselineMs, 4);
    assert.ok(later.sleepMs < first.sleepMs, `${later.sleepMs} ms`);
  });

  test('a neighbour just over the budget: the pause lengthens to its longest, then quiet lookups raise the baseline and the step speeds up; its own lingering harm does not', () => {
    // Every lookup reads 1.1× the limit whatever the step does. Under 1.2× the rate law slows down
    // by the pause alone (the batch keeps its size), so a baseline that waited for the smallest
    // batch would never rise; it waits for the longest pause. Quiet lookups exist only in pauses
    // longer than the sampler's quiet gap (3 s), as in a real slice.
    const limit = config.latencyBudget * 1;
    const full = (ms: number) => Array.from({ length: config.canaryWindow }, () => ms);
    const neighbour = (level: number) => (st: ControllerState): LoadSample => {
      const lookups = full(level);
      return quiet({ batchMs: 100, rows: st.batchSize, canarySamples: lookups, canaryQuietSamples: st.sleepMs > 3000 ? lookups : [] });
    };
    const trace: { sleepMs: number; baselineMs: number }[] = [];
    let st = withCanaryBaseline(start({ batchSize: 5000, sleepMs: 500 }), 1);
    for (let i = 0; i < 120; i++) {
      st = decide(st, neighbour(1.1 * limit)(st), config).state;
      trace.push({ sleepMs: st.sleepMs, baselineMs: st.canaryBaselineMs! });
    }
    const firstRise = trace.findIndex((t) => t.baselineMs > 1);
    assert.ok(firstRise > 0, 'the baseline rose');
    assert.equal(Math.max(...trace.slice(0, firstRise).map((t) => t.sleepMs)), config.maxSleepMs, 'only after the pause reached its longest');
    assert.equal(st.canaryBaselineMs, 1.1 * limit, 'to what the quiet lookups read');
    assert.ok(st.sleepMs < config.maxSleepMs / 2, `and the step sped up again: pause ${st.sleepMs} ms`);
    assert.ok(st.batchSize >= 5000, 'the batch never had to shrink');

    // Quiet lookups that read high in pauses short of the longest (harm outliving the batches, in
    // the model) are never absorbed, however many windows of them arrive.
    let own = withCanaryBaseline(start({ batchSize: 5000, sleepMs: 500 }), 1);
    for (let i = 0; i < 120; i++) {
      own = decide(own, quiet({ batchMs: 100, rows: own.batchSize, canarySamples: full(1.1 * limit), canaryQuietSamples: own.sleepMs > 3000 && own.sleepMs < config.maxSleepMs ? full(1.3 * limit) : [] }), config).state;
      assert.equal(own.canaryBaselineMs, 1, `quiet lookups read high at pause ${own.sleepMs} ms: not absorbed (decision ${i})`);
    }
  });

  test('a re-measured baseline follows quiet lookups down again, never below the pre-step one', () => {
    const raised = { ...withCanaryBaseline(start(), 2), canaryBaselineMs: 6 };
    const calm = Array.from({ length: config.canaryWindow }, () => 3);
    const down = decide(raised, quiet({ batchMs: 0, rows: 0, canarySamples: calm, canaryQuietSamples: calm }), config);
    assert.equal(down.state.canaryBaselineMs, 3, 'the neighbour went away: the budget tightens again');
    assert.deepEqual(down.state.canaryQuietWindow, [], 'each re-measurement from lookups of its own');
    const fast = Array.from({ length: config.canaryWindow }, () => 0.5);
    const floor = decide(down.state, quiet({ batchMs: 0, rows: 0, canarySamples: fast, canaryQuietSamples: fast }), config);
    assert.equal(floor.state.canaryBaselineMs, 2, 'never tighter than the baseline measured before the step');
    assert.match(floor.reasons.join('\n'), /3 → 2 ms \(the pre-step baseline, its floor\)/);
    // A state from before the pre-step baseline was kept: its baseline is the floor.
    const old = { ...withCanaryBaseline(start(), 5) } as Partial<ControllerState>;
    delete old.canaryStepBaselineMs;
    delete old.canaryQuietWindow;
    assert.equal(decide(old as ControllerState, quiet({ batchMs: 0, rows: 0, canarySamples: fast, canaryQuietSamples: fast }), config).state.canaryBaselineMs, 5);
  });

  test('while paused a noisy canary sample does not restart the count', () => {
    const paused = decide(withCanary(1, {}), quiet({ canaryMs: 9 }), config);
    let s = paused.state;
    for (const canaryMs of [1, 1, 3, 1]) s = decide(s, quiet({ rows: 0, batchMs: 0, canaryMs }), config).state;
    assert.deepEqual(s.canaryWindow, [1, 1, 3, 1], 'the window slides; a sample over budget does not empty it');
  });

  test('a critical signal while paused keeps the pause with fresh reasons; paused decisions never grow', () => {
    const first = decide(start(), quiet({ cpuPercent: 96 }), config);
    const second = decide(first.state, quiet({ batchMs: 10, memoryPercent: 97, cpuPercent: 50 }), config);
    assert.equal(second.action, 'pause');
    assert.deepEqual(second.state.pauseReasons, ['memory 97 % over critical 95 %']);
    assert.ok(second.batchSize <= first.batchSize);
  });
});

describe('convergence', () => {
  test('sustained overload drives the batch to min and the pause up to max', () => {
    const d = run(start(), 60, quiet({ batchMs: 6000, cpuPercent: 90 }));
    assert.equal(d.batchSize, config.minBatchSize);
    assert.equal(d.sleepMs, config.maxSleepMs);
  });

  test('sustained canary overshoot drives the batch to min and the pause up', () => {
    let s = withCanaryBaseline(start({ sleepMs: 0 }), 1);
    let d!: Decision;
    // One lookup per decision: each step down takes a window of 20 to see and one to confirm.
    for (let i = 0; i < 1000; i++) {
      d = decide(s, quiet({ batchMs: 100, canaryMs: 3 }), config);
      s = d.state;
    }
    assert.equal(d.batchSize, config.minBatchSize);
    assert.ok(d.sleepMs >= 5000, `pause ${d.sleepMs}`);
  });

  test('sustained idle drives the batch to max and the pause to min (with and without a canary)', () => {
    const idle = (s: ControllerState) => quiet({ batchMs: s.batchSize * 0.01, rows: s.batchSize, cpuPercent: 5 });
    const plain = run(start({ sleepMs: 5000 }), 200, idle);
    assert.equal(plain.batchSize, config.maxBatchSize);
    assert.equal(plain.sleepMs, config.minSleepMs);
    // The continuous sampler delivers a window's worth of lookups between decisions here.
    const canary = run(withCanaryBaseline(start({ sleepMs: 5000 }), 1), 200, (s) => ({ ...idle(s), canaryMs: 1, canarySamples: Array.from({ length: config.canaryWindow }, () => 1) }));
    assert.equal(canary.batchSize, config.maxBatchSize);
    assert.equal(canary.sleepMs, config.minSleepMs);
  });

  test('the batch settles where its smoothed time meets the target', () => {
    // 2 ms per row: the target of 500 ms is 250 rows.
    const d = run(start(), 100, (s) => quiet({ batchMs: s.batchSize * 2, rows: s.batchSize }));
    assert.ok(Math.abs(d.batchSize - 250) <= 3, `batch ${d.batchSize}`);
  });

  test('load that comes and goes: shrink under it, recover after it', () => {
    const loaded = run(start(), 30, quiet({ batchMs: 100, lockWaiters: 4 }));
    assert.ok(loaded.batchSize < 200 && loaded.sleepMs > 1000);
    const recovered = run(loaded.state, 100, (s) => quiet({ batchMs: s.batchSize * 0.01, rows: s.batchSize }));
    assert.equal(recovered.batchSize, config.maxBatchSize);
    assert.equal(recovered.sleepMs, 0);
  });
});

describe('bounds and determinism', () => {
  const weird = [Number.NaN, -1, -1e308, 0, 1e308, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null, undefined, 0.5, 1e12];
  const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

  function randomConfig(r: () => number): LoadControlConfig {
    const minBatchSize = 1 + Math.floor(r() * 500);
    const maxBatchSize = minBatchSize + Math.floor(r() * 20_000);
    const minSleepMs = Math.floor(r() * 100);
    const maxSleepMs = minSleepMs + Math.floor(r() * 20_000);
    const c = resolveLoadControl({
      minBatchSize,
      maxBatchSize,
      initialBatchSize: minBatchSize + Math.floor(r() * (maxBatchSize - minBatchSize + 1)),
      minSleepMs,
      maxSleepMs,
      sleepMs: minSleepMs + Math.floor(r() * (maxSleepMs - minSleepMs + 1)),
      adjustmentFactor: 0.01 + r() * 0.9,
      canaryWindow: 1 + Math.floor(r() * 50),
    });
    assert.deepEqual(validateLoadControl(c), []);
    return c;
  }

  function randomSample(r: () => number): LoadSample {
    const v = (scale: number) => (r() < 0.2 ? pick(r, weird) : r() * scale);
    return {
      batchMs: v(20_000),
      rows: v(20_000),
      cpuPercent: v(120),
      memoryPercent: v(120),
      activeBackends: v(100),
      lockWaiters: v(12),
      replicaLagMs: r() < 0.3 ? null : v(60_000),
      canaryMs: r() < 0.3 ? null : v(10),
    } as LoadSample;
  }

  test('batch and pause stay whole numbers inside their bounds, whatever the samples; state stays JSON-exact', () => {
    const r = rng(20250301);
    for (let run = 0; run < 200; run++) {
      const c = randomConfig(r);
      let s = r() < 0.5 ? withCanaryBaseline(initialControllerState(c), 0.1 + r() * 5) : initialControllerState(c);
      for (let i = 0; i < 100; i++) {
        const sample = randomSample(r);
        const d = decide(s, sample, c);
        const where = `run ${run} step ${i}: ${JSON.stringify({ sample, c })}`;
        assert.ok(Number.isInteger(d.batchSize) && d.batchSize >= c.minBatchSize && d.batchSize <= c.maxBatchSize, `batch ${d.batchSize} ${where}`);
        assert.ok(Number.isInteger(d.sleepMs) && d.sleepMs >= c.minSleepMs && d.sleepMs <= c.maxSleepMs, `sleep ${d.sleepMs} ${where}`);
        assert.equal(d.state.batchSize, d.batchSize);
        assert.ok(['continue', 'pause', 'resume'].includes(d.action));
        assert.ok(d.state.canaryWindow.length <= c.canaryWindow);
        // Workflow state crosses continue-as-new as JSON: nothing may change on the way.
        assert.deepEqual(JSON.parse(JSON.stringify(d.state)), d.state, where);
        // Deterministic: the same inputs give the same decision (Temporal replays it).
        assert.deepEqual(decide(s, sample, c), d);
        s = d.state;
      }
    }
  });

  test('a corrupted state still yields in-bounds decisions', () => {
    const r = rng(7);
    for (let i = 0; i < 2000; i++) {
      const state = {
        batchSize: pick(r, weird),
        sleepMs: pick(r, weird),
        smoothedBatchMs: pick(r, weird),
        smoothedRowMs: pick(r, weird),
        canaryBaselineMs: pick(r, weird),
        canaryWindow: r() < 0.5 ? [pick(r, weird), pick(r, weird), 1] : pick(r, weird),
        paused: r() < 0.5,
        pauseReasons: r() < 0.5 ? ['x', 3] : null,
        calmSamples: pick(r, weird),
      } as unknown as ControllerState;
      const d = decide(state, randomSample(r), config);
      assert.ok(Number.isInteger(d.batchSize) && d.batchSize >= 100 && d.batchSize <= 10_000, `batch ${d.batchSize} from ${JSON.stringify(state)}`);
      assert.ok(Number.isInteger(d.sleepMs) && d.sleepMs >= 0 && d.sleepMs <= 10_000, `sleep ${d.sleepMs}`);
      assert.deepEqual(JSON.parse(JSON.stringify(d.state)), d.state);
    }
  });

  test('a config validation would reject is repaired, not trusted: bounds still hold', () => {
    const bad = { ...DEFAULT_LOAD_CONTROL, minBatchSize: 500, maxBatchSize: 200, minSleepMs: Number.NaN, maxSleepMs: -5, adjustmentFactor: 7 };
    const d = decide(initialControllerState(bad), quiet({ batchMs: 6000 }), bad);
    assert.equal(d.batchSize, 500);
    assert.ok(d.sleepMs >= 0 && d.sleepMs <= 100);
  });

  test('a sample that went through JSON (NaN → null) is treated as unknown, not as zero', () => {
    const d = decide(start(), JSON.parse(JSON.stringify(quiet({ batchMs: Number.NaN, cpuPercent: Number.NaN }))) as LoadSample, config);
    assert.equal(d.batchSize, 1000);
    assert.equal(d.action, 'continue');
  });
});

describe('live changes (setLoadControl)', () => {
  test('a changed initialBatchSize or sleepMs takes effect now; bounds follow the new config', () => {
    const s = start({ batchSize: 4000, sleepMs: 700, canaryWindow: [1, 2, 3, 4] });
    const next = resolveLoadControl({ initialBatchSize: 500 });
    assert.equal(applyConfigChange(s, config, next).batchSize, 500);
    assert.equal(applyConfigChange(s, config, next).sleepMs, 700);
    const tighter = resolveLoadControl({ maxBatchSize: 2000, sleepMs: 50, canaryWindow: 2 });
    const t = applyConfigChange(s, config, tighter);
    assert.equal(t.batchSize, 2000);
    assert.equal(t.sleepMs, 50);
    assert.deepEqual(t.canaryWindow, [3, 4]);
  });
});
