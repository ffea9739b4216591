// The load controller's settings: the seed's ten (defaults.ts) plus the ones the seed lacked — a
// target batch time, database-side load, the foreground latency budget and critical thresholds.
// One resolved object travels in the workflow input, so every worker runs a step with the same
// numbers and the history shows them. Validation runs at plan time and in the workflow's
// `setLoadControl` update validator, so each message names the setting and what to change.
import { MIN_RATE_GAIN, MIN_RATE_GAIN_RANGE, RATE_GAIN } from './rate-gain';
import { LOAD_CONTROL_DEFAULTS } from './defaults';

export interface LoadControlConfig {
  /** Rows in the first batch; also where a live `set batchSize=…` jumps to. */
  initialBatchSize: number;
  minBatchSize: number;
  maxBatchSize: number;
  /** Host CPU % above which batches shrink and pauses grow (advisory while a canary is measured). */
  cpuThreshold: number;
  /** Host memory % above which batches shrink and pauses grow. */
  memoryThreshold: number;
  /** A batch slower than this shrinks the batch and adds 500 ms of pause (seed rule). */
  queryTimeThresholdMs: number;
  /** Fraction by which one decision grows or shrinks the batch (seed: 0.2). */
  adjustmentFactor: number;
  /** Pause between batches at the start; also where a live `set sleepMs=…` jumps to. */
  sleepMs: number;
  minSleepMs: number;
  maxSleepMs: number;

  /** The batch time the controller steers toward: long enough to amortise a commit, short enough
   *  that row locks and the transaction's snapshot are held only briefly. */
  targetBatchMs: number;
  /** Foreground latency budget: the canary's recent p99 may reach this multiple of its baseline.
   *  0 switches the canary off (no baseline, no lookups, no budget or critical canary pause): for
   *  a run paced by hand (batch and pause pinned) or a database where a lookup every 15 ms and a
   *  transaction id per lookup are unwelcome. */
  latencyBudget: number;
  /** The budget always allows the canary's p99 to reach this, ms, whatever the baseline: a
   *  primary-key lookup going from 0.4 to 1.2 ms is 3× but harms nobody, and on a small idle host
   *  that much is scheduler jitter. Above it the ratio rules. The critical level is at least 3×
   *  this. */
  latencyBudgetMinMs: number;
  /** Where in the budget the controller holds the foreground's reading: the fraction of the
   *  budget's limit its rate steps aim at (load-controller.ts: rateStepFor). Under 1 because one
   *  window's reading varies by 10–20 % at a steady setting, and a minute's pooled p99 sits a
   *  little above the median window's; how far under is the trade between margin and rows/s
   *  (see the default's note, DEFAULT_LATENCY_TARGET). */
  latencyTarget: number;
  /** The narrowest the rate law's gain gets once readings cross latencyTarget (rate-gain.ts):
   *  near the set point a window's noise is answered this softly. 2 (the full gain) switches the
   *  narrowing off. */
  minRateGain: number;
  /** How far the step must have backed off before a window of quiet samples (no batch running)
   *  may raise a latency baseline, as a fraction of maxSleepMs: the pause must have reached
   *  this × maxSleepMs (a paused step always may). 1, the default: only at the longest pause — a
   *  step's harm outlives its batches, and absorbed into the baseline it loosens the budget by as
   *  much (load-controller.ts, decide). 0: any quiet window may raise it (the rule until session
   *  20), for a foreground whose own latency drifts up while the step runs. Lower readings bring a
   *  raised baseline down whatever this is. */
  baselineRiseSleepFraction: number;
  /** Canary samples in the sliding window whose p99 is compared with the budget. */
  canaryWindow: number;
  /** The canary is timed this often, ms, through batches and pauses (and so is its baseline).
   *  Each lookup commits a transaction id: a write-heavy foreground pays for every one of them at
   *  its WAL flush, and a longer interval costs it less but fills the window more slowly. */
  canaryIntervalMs: number;
  /** The foreground's own transactions are read from pg_stat_activity this often, ms
   *  (foreground-observer.ts); while they are visible, their p99 by tail count (foreground-tail.ts)
   *  or, on a foreground that writes little, their p95 (FOREGROUND_QUANTILE in load-controller.ts)
   *  is what the budget holds, and the canary stands in when they are not. 0: never look (the
   *  canary alone). The tail count's sightings read the p99 whatever the gap (over the same 10 s
   *  beside B2's foreground: 0.96×, 1.02× and 1.04× of pgbench's at 10, 20 and 40 ms), and its
   *  window widens with the gap to hold the same evidence (load-controller.ts:
   *  TAIL_WINDOW_PER_CANARY). The poll's price falls with the gap: the foreground's mean rose
   *  1.11× at 10 ms, 1.04× at 20 ms and 1.00× at 40 ms, its p99 1.21×, 1.11× and 1.11×
   *  (bench/b2-observer-cost.ts; BENCHMARKS.md, session 15). 20 ms, not 40: the same p99 for
   *  windows half as long, so a step is judged every three seconds, not six. The step's baseline
   *  is read at the same poll as the step, so what the poll costs is in both and not counted as
   *  the migration's harm (the set point's margin, LATENCY_TARGET, covers what remains). */
  foregroundIntervalMs: number;
  /** Active client backends (server-wide) above which batches shrink: beyond ~2-3 per core,
   *  queries queue for CPU. 20 suits the 4-8 core servers this usually runs against. */
  activeBackendsThreshold: number;
  /** Sessions waiting on a heavyweight lock above which batches shrink. Not 0: a busy OLTP
   *  workload has a waiter or two of its own at any instant, and that is not ours to fix. */
  lockWaitersThreshold: number;
  /** Replica replay lag above which batches shrink (apps reading replicas see stale data). */
  replicaLagThresholdMs: number;

  // Critical thresholds pause the migration (action 'pause', with an alert) until every signal is
  // back under its normal threshold above: the gap between the two is the hysteresis.
  /** A host this busy is about to stop answering heartbeats; advisory while a canary is measured. */
  cpuCritical: number;
  /** Memory is a cliff (swap, OOM killer), not a slope, and latency does not warn before it. */
  memoryCritical: number;
  /** Canary p99 over this multiple of the baseline: the foreground is clearly hurting.
   *  Defaults to 3 × latencyBudget. */
  canaryCritical: number;
  /** The database is saturated: adding our batches only deepens the queue. */
  activeBackendsCritical: number;
  /** A lock queue is forming: the classic prelude to an outage; stay out until it drains. */
  lockWaitersCritical: number;
  /** Replicas this far behind risk failover data loss and wrong reads; the WAL we write is the lag. */
  replicaLagCriticalMs: number;
}

export type LoadControlKey = keyof LoadControlConfig;

/** How many times the budget the canary may reach before the migration pauses. */
export const CANARY_CRITICAL_PER_BUDGET = 3;

/**
 * The default set point, as a fraction of the budget's limit (LoadControlConfig.latencyTarget).
 * 0.8: B2's adaptive step then holds its reading at 1.2× its baseline. Session 17 tried 0.87 and
 * 0.95 beside it in one full B2 run (BENCHMARKS.md): the rate rose (0.59× → 0.89× and 1.14× the
 * oracle's rows/s) but the steps' own readings, over their windows, went from 1.23× to 1.56× their
 * baselines, over the budget, and the foreground's p99 from 1.53× to 1.63× and 1.65×: on B2's
 * steep curve (the fixed settings' rate triples between 1.23× and 1.49×) a window's 10–20 % noise
 * near the budget is a rate swing that overshoots it. The budget is the promise to the
 * foreground; rows per second are what a higher setting buys where that margin is not needed.
 */
export const DEFAULT_LATENCY_TARGET = 0.8;
/** latencyTarget's range: under half the budget the margin is wasted; over 1 the set point is past the budget. */
export const LATENCY_TARGET_RANGE = { min: 0.5, max: 1 } as const;
/** The set point of runs whose config predates latencyTarget: a history replays as it ran. */
export const LEGACY_LATENCY_TARGET = 0.8;

export const DEFAULT_LOAD_CONTROL: Readonly<LoadControlConfig> = Object.freeze({
  ...LOAD_CONTROL_DEFAULTS,
  targetBatchMs: 500,
  latencyBudget: 1.5,
  latencyBudgetMinMs: 2,
  latencyTarget: DEFAULT_LATENCY_TARGET,
  minRateGain: MIN_RATE_GAIN,
  baselineRiseSleepFraction: 1,
  canaryWindow: 100,
  canaryIntervalMs: 15,
  foregroundIntervalMs: 20,
  activeBackendsThreshold: 20,
  lockWaitersThreshold: 2,
  replicaLagThresholdMs: 5000,
  cpuCritical: 95,
  memoryCritical: 95,
  canaryCritical: CANARY_CRITICAL_PER_BUDGET * 1.5,
  activeBackendsCritical: 50,
  lockWaitersCritical: 5,
  replicaLagCriticalMs: 30_000,
});

/** latencyBudget 0 switches the canary off (see LoadControlConfig.latencyBudget). */
export const canaryEnabled = (config: Pick<LoadControlConfig, 'latencyBudget'>): boolean => config.latencyBudget !== 0;

export const LOAD_CONTROL_KEYS = Object.keys(DEFAULT_LOAD_CONTROL) as readonly LoadControlKey[];
const KNOWN = new Set<string>(LOAD_CONTROL_KEYS);

/**
 * Fills in defaults. Unknown keys are kept (not dropped) so that validateLoadControl can name a
 * typo instead of silently running with the default; `undefined` values mean "use the default".
 */
export function resolveLoadControl(partial: Readonly<Partial<LoadControlConfig>> | Readonly<Record<string, unknown>> = {}): LoadControlConfig {
  const given: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(partial)) if (value !== undefined) given[key] = value;
  const resolved = { ...DEFAULT_LOAD_CONTROL, ...given } as LoadControlConfig;
  // The critical canary level follows the budget unless set explicitly, so raising the budget
  // alone never leaves critical at or below it.
  if (given.canaryCritical === undefined && Number.isFinite(resolved.latencyBudget)) {
    resolved.canaryCritical = CANARY_CRITICAL_PER_BUDGET * resolved.latencyBudget;
  }
  return resolved;
}

/** Every problem with a config, each naming the setting and what to change; empty when valid. */
export function validateLoadControl(config: Readonly<LoadControlConfig> | Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  const values = config as Record<string, unknown>;

  for (const key of Object.keys(values)) {
    if (!KNOWN.has(key)) problems.push(unknownKeyMessage(key));
  }
  // Relational checks only run on settings that are numbers; a non-number is reported once.
  const num = (key: LoadControlKey): number | null => {
    const v = values[key];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
  for (const key of LOAD_CONTROL_KEYS) {
    if (num(key) === null) problems.push(`${key} must be a finite number, got ${describe(values[key])}`);
  }

  const whole = (key: LoadControlKey, min: number) => {
    const v = num(key);
    if (v !== null && (!Number.isInteger(v) || v < min)) problems.push(`${key} must be a whole number ≥ ${min}, got ${v}`);
  };
  whole('initialBatchSize', 1);
  whole('minBatchSize', 1);
  whole('maxBatchSize', 1);
  whole('activeBackendsThreshold', 0);
  whole('activeBackendsCritical', 1);
  whole('lockWaitersThreshold', 0);
  whole('lockWaitersCritical', 1);
  whole('canaryWindow', 1);
  whole('canaryIntervalMs', 1);
  whole('foregroundIntervalMs', 0);

  const min = num('minBatchSize');
  const initial = num('initialBatchSize');
  const max = num('maxBatchSize');
  if (min !== null && max !== null && min > max) {
    problems.push(`minBatchSize (${min}) is above maxBatchSize (${max}): lower minBatchSize or raise maxBatchSize`);
  }
  if (min !== null && initial !== null && initial < min) {
    problems.push(`initialBatchSize (${initial}) is below minBatchSize (${min}): raise initialBatchSize to at least ${min} or lower minBatchSize`);
  }
  if (max !== null && initial !== null && initial > max) {
    problems.push(`initialBatchSize (${initial}) is above maxBatchSize (${max}): lower initialBatchSize to at most ${max} or raise maxBatchSize`);
  }

  for (const key of ['cpuThreshold', 'memoryThreshold', 'cpuCritical', 'memoryCritical'] as const) {
    const v = num(key);
    if (v !== null && (v < 1 || v > 100)) problems.push(`${key} is a percentage: set it between 1 and 100, got ${v}`);
  }

  const above = (critical: LoadControlKey, normal: LoadControlKey, why: string) => {
    const c = num(critical);
    const n = num(normal);
    if (c !== null && n !== null && c <= n) {
      problems.push(`${critical} (${c}) must be above ${normal} (${n}) ${why}: raise ${critical} or lower ${normal}`);
    }
  };
  const soPauseEnds = 'so that a pause can end once load is back under the normal threshold';
  above('cpuCritical', 'cpuThreshold', soPauseEnds);
  above('memoryCritical', 'memoryThreshold', soPauseEnds);
  above('activeBackendsCritical', 'activeBackendsThreshold', soPauseEnds);
  above('lockWaitersCritical', 'lockWaitersThreshold', soPauseEnds);
  above('replicaLagCriticalMs', 'replicaLagThresholdMs', soPauseEnds);
  if (num('latencyBudget') !== 0) above('canaryCritical', 'latencyBudget', '(both are multiples of the canary baseline)');

  const factor = num('adjustmentFactor');
  if (factor !== null && (factor <= 0 || factor >= 1)) {
    problems.push(`adjustmentFactor is the fraction a batch grows or shrinks per decision: set it strictly between 0 and 1 (e.g. 0.2), got ${factor}`);
  }

  const minSleep = num('minSleepMs');
  const sleep = num('sleepMs');
  const maxSleep = num('maxSleepMs');
  if (minSleep !== null && minSleep < 0) problems.push(`minSleepMs must be ≥ 0, got ${minSleep}`);
  if (minSleep !== null && maxSleep !== null && minSleep > maxSleep) {
    problems.push(`minSleepMs (${minSleep}) is above maxSleepMs (${maxSleep}): lower minSleepMs or raise maxSleepMs`);
  }
  if (sleep !== null && minSleep !== null && sleep < minSleep) {
    problems.push(`sleepMs (${sleep}) is below minSleepMs (${minSleep}): raise sleepMs to at least ${minSleep} or lower minSleepMs`);
  }
  if (sleep !== null && maxSleep !== null && sleep > maxSleep) {
    problems.push(`sleepMs (${sleep}) is above maxSleepMs (${maxSleep}): lower sleepMs to at most ${maxSleep} or raise maxSleepMs`);
  }

  for (const key of ['queryTimeThresholdMs', 'targetBatchMs', 'replicaLagThresholdMs'] as const) {
    const v = num(key);
    if (v !== null && v <= 0) problems.push(`${key} must be above 0 ms, got ${v}`);
  }
  const target = num('targetBatchMs');
  const slow = num('queryTimeThresholdMs');
  if (target !== null && slow !== null && target > 0 && target > slow) {
    problems.push(`targetBatchMs (${target}) is above queryTimeThresholdMs (${slow}), so the controller would steer toward batches it then punishes as slow: lower targetBatchMs or raise queryTimeThresholdMs`);
  }

  const budget = num('latencyBudget');
  if (budget !== null && budget !== 0 && budget <= 1) {
    problems.push(`latencyBudget is a multiple of the canary's baseline latency: set it above 1 (1.5 allows the foreground 50 % slower), or to 0 to switch the canary off, got ${budget}`);
  }
  const floor = num('latencyBudgetMinMs');
  if (floor !== null && (floor < 0 || floor > 60_000)) {
    problems.push(`latencyBudgetMinMs is the canary p99 (ms) the budget always allows, whatever the baseline: set it from 0 to 60000, got ${floor}`);
  }
  const setPoint = num('latencyTarget');
  if (setPoint !== null && (setPoint < LATENCY_TARGET_RANGE.min || setPoint > LATENCY_TARGET_RANGE.max)) {
    problems.push(`latencyTarget is the fraction of the latency budget the controller aims at: set it from ${LATENCY_TARGET_RANGE.min} to ${LATENCY_TARGET_RANGE.max} (default ${DEFAULT_LATENCY_TARGET}; lower leaves more margin under the budget, higher moves more rows), got ${setPoint}`);
  }
  const gainFloor = num('minRateGain');
  if (gainFloor !== null && (gainFloor < MIN_RATE_GAIN_RANGE.min || gainFloor > MIN_RATE_GAIN_RANGE.max)) {
    problems.push(`minRateGain is how softly the controller answers readings near its set point: set it from ${MIN_RATE_GAIN_RANGE.min} to ${MIN_RATE_GAIN_RANGE.max} (default ${MIN_RATE_GAIN}; ${RATE_GAIN} keeps the full gain throughout), got ${gainFloor}`);
  }
  const rise = num('baselineRiseSleepFraction');
  if (rise !== null && (rise < 0 || rise > 1)) {
    problems.push(`baselineRiseSleepFraction is how far toward maxSleepMs the pause must be before a quiet window may raise a latency baseline: set it from 0 (any quiet window) to 1 (only at the longest pause, the default), got ${rise}`);
  }
  const window = num('canaryWindow');
  if (window !== null && window > 1000) problems.push(`canaryWindow must be at most 1000 samples (it travels in workflow state), got ${window}`);
  const interval = num('canaryIntervalMs');
  if (interval !== null && interval > 10_000) problems.push(`canaryIntervalMs must be at most 10000 ms (a window of lookups must fill within minutes), got ${interval}`);

  const observe = num('foregroundIntervalMs');
  if (observe !== null && observe > 10_000) problems.push(`foregroundIntervalMs must be at most 10000 ms (or 0 to rely on the canary alone), got ${observe}`);

  return problems;
}

export interface LoadControlAssignments {
  /** The settings to change, by their canonical names. */
  changes: Partial<LoadControlConfig>;
  /** One message per bad assignment; when non-empty, apply nothing. */
  errors: string[];
}

/** Names people type for a setting, beyond the canonical camelCase (snake_case is also accepted). */
const ALIASES: Readonly<Record<string, LoadControlKey>> = {
  batchSize: 'initialBatchSize',
};

/**
 * Parses the CLI's `set ID key=value…` arguments. Checks syntax, names and numbers only; whether the
 * values make sense together is validateLoadControl's job on the merged config.
 */
export function parseLoadControlAssignments(args: readonly string[]): LoadControlAssignments {
  const changes: Partial<LoadControlConfig> = {};
  const errors: string[] = [];
  if (args.length === 0) errors.push(`nothing to set: give one or more key=value pairs, e.g. batchSize=500 cpuThreshold=60`);
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) {
      errors.push(`"${arg}" is not key=value (e.g. cpuThreshold=60)`);
      continue;
    }
    const rawKey = arg.slice(0, eq).trim();
    const rawValue = arg.slice(eq + 1).trim();
    const key = canonicalKey(rawKey);
    if (!key) {
      errors.push(unknownKeyMessage(rawKey));
      continue;
    }
    // `10_000` as in code, and `60%` for the percentages, read as people write them.
    const cleaned = rawValue.replace(/_/g, '').replace(/%$/, '');
    const value = cleaned === '' ? Number.NaN : Number(cleaned);
    if (!Number.isFinite(value)) {
      errors.push(`${rawKey}: "${rawValue}" is not a number`);
      continue;
    }
    if (key in changes) {
      errors.push(`${key} is given twice: keep one`);
      continue;
    }
    changes[key] = value;
  }
  return { changes, errors };
}

function canonicalKey(raw: string): LoadControlKey | null {
  const camel = raw.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  if (KNOWN.has(camel)) return camel as LoadControlKey;
  return ALIASES[camel] ?? null;
}

function unknownKeyMessage(key: string): string {
  const suggestion = suggest(key);
  return suggestion
    ? `unknown load-control setting "${key}": did you mean ${suggestion}?`
    : `unknown load-control setting "${key}"; known settings: ${[...LOAD_CONTROL_KEYS, ...Object.keys(ALIASES)].join(', ')}`;
}

/** The closest known name, when it is close enough to be the obvious intent. */
function suggest(key: string): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const name of [...LOAD_CONTROL_KEYS, ...Object.keys(ALIASES)]) {
    const d = name.toLowerCase() === key.toLowerCase() ? 0 : editDistance(name.toLowerCase(), key.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 5)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}
