import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AnomalyState, DEFAULT_ANOMALY_CONFIG, evaluateAnomalies, type Observation, RATE_WARMUP_MS, resolveAll } from '../../src/core/anomaly-rules';

const calm = (at: number, extra: Partial<Observation> = {}): Observation => ({
  at,
  rowsProcessed: 10_000,
  rowErrors: 0,
  smoothedRowsPerSecond: 1000,
  recentRowsPerSecond: 1000,
  expectingProgress: true,
  lastProgressAt: at,
  cpuPercent: 30,
  memoryPercent: 40,
  lastBatchMs: 200,
  ...extra,
});

function run(observations: Observation[], start = 0) {
  let state: AnomalyState = {};
  const notices = [];
  for (const o of observations) {
    const result = evaluateAnomalies(state, o, DEFAULT_ANOMALY_CONFIG, start);
    state = result.state;
    notices.push(...result.notices);
  }
  return { state, notices };
}

test('calm observations raise nothing', () => {
  assert.deepEqual(run([calm(RATE_WARMUP_MS), calm(RATE_WARMUP_MS + 1000)]).notices, []);
});

test('each rule fires once per episode and resolves once, with the seed thresholds', () => {
  const t = RATE_WARMUP_MS + 1000;
  const cases: [string, Partial<Observation>, string][] = [
    ['error_rate', { rowsProcessed: 1000, rowErrors: 60 }, 'critical'],
    ['stalled', { lastProgressAt: t - 301_000 }, 'critical'],
    ['slow_progress', { smoothedRowsPerSecond: 0.5, recentRowsPerSecond: 0.5 }, 'warning'],
    ['rate_drop', { recentRowsPerSecond: 400 }, 'warning'],
    ['high_cpu', { cpuPercent: 81 }, 'warning'],
    ['high_memory', { memoryPercent: 86 }, 'warning'],
    ['slow_batch', { lastBatchMs: 61_000 }, 'warning'],
  ];
  for (const [rule, bad, severity] of cases) {
    const { notices, state } = run([calm(t), calm(t + 1, bad), calm(t + 2, bad), calm(t + 3, bad), calm(t + 4), calm(t + 5)]);
    assert.deepEqual(notices.map((n) => [n.rule, n.state]), [[rule, 'firing'], [rule, 'resolved']], rule);
    assert.equal(notices[0]!.severity, severity);
    assert.equal(notices[1]!.since, notices[0]!.since, 'the resolved notice names the same episode');
    assert.deepEqual(state, {});
  }
});

test('thresholds are strict: exactly at the threshold does not fire', () => {
  const t = RATE_WARMUP_MS;
  assert.deepEqual(run([calm(t, { cpuPercent: 80, memoryPercent: 85, lastBatchMs: 60_000, rowsProcessed: 1000, rowErrors: 50 })]).notices, []);
});

test('error rate waits for enough rows; rate rules wait for warm-up and expected progress', () => {
  assert.deepEqual(run([calm(RATE_WARMUP_MS, { rowsProcessed: 10, rowErrors: 5 })]).notices, []);
  assert.deepEqual(run([calm(1000, { smoothedRowsPerSecond: 0.1, recentRowsPerSecond: 0.1 })]).notices, []);
  assert.deepEqual(run([calm(RATE_WARMUP_MS, { expectingProgress: false, smoothedRowsPerSecond: 0, lastProgressAt: 0 })]).notices, []);
});

test('unknown values never fire, and resolveAll closes every open episode', () => {
  assert.deepEqual(run([calm(RATE_WARMUP_MS, { cpuPercent: null, memoryPercent: Number.NaN, lastBatchMs: null })]).notices, []);
  const { state } = run([calm(RATE_WARMUP_MS, { cpuPercent: 99, memoryPercent: 99 })]);
  const closed = resolveAll(state, RATE_WARMUP_MS + 10);
  assert.deepEqual(closed.notices.map((n) => [n.rule, n.state]).sort(), [['high_cpu', 'resolved'], ['high_memory', 'resolved']]);
  assert.deepEqual(closed.state, {});
});

test('an unknown value neither fires nor resolves: an open episode waits for a known value', () => {
  const t = RATE_WARMUP_MS + 1000;
  const slowAndDropping = { lastBatchMs: 61_000, recentRowsPerSecond: 400 };
  // What the watchdog knows while a slice runs: no batch time, no recent rate.
  const watchdog = { lastBatchMs: null, recentRowsPerSecond: null };
  const { notices, state } = run([calm(t, slowAndDropping), calm(t + 1, watchdog), calm(t + 2, slowAndDropping), calm(t + 3, watchdog), calm(t + 4)]);
  assert.deepEqual(notices.map((n) => [n.rule, n.state, n.since]), [
    ['rate_drop', 'firing', t],
    ['slow_batch', 'firing', t],
    ['rate_drop', 'resolved', t],
    ['slow_batch', 'resolved', t],
  ]);
  assert.equal(notices[2]!.at, t + 4, 'resolved by the first known calm value');
  assert.deepEqual(state, {});
});
