import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCount, formatDuration, renderProgress } from '../../src/cli/progress-bar';
import { DEFAULT_LOAD_CONTROL } from '../../src/core/load-control-config';
import { type MigrationProgress } from '../../src/workflows/definitions';

const base: MigrationProgress = {
  migrationId: '20250101000000_update_prices',
  mode: 'up',
  status: 'running',
  stepCount: 2,
  stepsDone: 1,
  current: { stepIndex: 1, label: 'updateRecords inventories set price' },
  compensationsLeft: 0,
  error: null,
  startedAt: '2025-01-01T00:00:00Z',
  updatedAt: '2025-01-01T00:00:10Z',
  data: null,
  runs: 1,
};

test('durations and counts are short and readable', () => {
  assert.equal(formatDuration(null), '?');
  assert.equal(formatDuration(42.4), '42s');
  assert.equal(formatDuration(125), '2m05s');
  assert.equal(formatDuration(7260), '2h01m');
  assert.equal(formatCount(999), '999');
  assert.equal(formatCount(250_000), '250k');
  assert.equal(formatCount(1_500_000), '1.5M');
});

test('a schema step shows the step; a data step shows bar, rows, rate, ETA, batch, pause, load and alerts', () => {
  assert.equal(renderProgress(base), '20250101000000_update_prices running · step 2/2 updateRecords inventories set price');
  const line = renderProgress(
    {
      ...base,
      data: {
        stepIndex: 1, rowsDone: 250_000, rowsTotal: 1_000_000, batches: 250, rowErrors: 0, batchSize: 1000, sleepMs: 50,
        rowsPerSecond: 12_500, etaSeconds: 60, paused: false, throttled: true, reasons: ['memory 96 % over critical 95 %'],
        lastSample: { batchMs: 80, rows: 1000, cpuPercent: 41.2, memoryPercent: 96, activeBackends: 3, lockWaiters: 0, replicaLagMs: null, canaryMs: 0.42 },
        loadControl: DEFAULT_LOAD_CONTROL,
      },
      alerts: [{ rule: 'high_memory', severity: 'warning', state: 'firing', message: 'memory at 96 %', value: 96, threshold: 85, since: 0, at: 0 }],
    },
    20,
  );
  assert.equal(
    line,
    '20250101000000_update_prices running [#####...............] 25.0% 250k/1.0M rows 13k/s ETA 1m00s batch 1000 pause 50ms cpu 41% mem 96% canary 0.4ms THROTTLED (memory 96 % over critical 95 %) ⚠ high_memory',
  );
});

test("the latency budget's last reading follows the load, named by what it read", () => {
  const data = {
    stepIndex: 1, rowsDone: 500, rowsTotal: 1000, batches: 1, rowErrors: 0, batchSize: 500, sleepMs: 120,
    rowsPerSecond: 100, etaSeconds: 5, paused: false, throttled: false, reasons: [], lastSample: null, loadControl: DEFAULT_LOAD_CONTROL,
  };
  const line = renderProgress({ ...base, data: { ...data, latency: { source: 'foreground', statistic: 'p95', valueMs: 3.44, limitMs: 4.26, baselineMs: 2.84 } } }, 10);
  assert.match(line, / batch 500 pause 120ms foreground p95 3\.4\/4\.3ms$/);
  assert.doesNotMatch(renderProgress({ ...base, data: { ...data, latency: null } }, 10), /p95|p99/, 'no reading yet: nothing shown');
});
