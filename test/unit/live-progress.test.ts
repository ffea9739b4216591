import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLiveProgress, PLAIN_EVERY_MS } from '../../src/cli/live-progress';
import { type Output } from '../../src/cli/output';
import { DEFAULT_LOAD_CONTROL } from '../../src/core/load-control-config';
import { type MigrationProgress } from '../../src/workflows/definitions';

const schemaStep: MigrationProgress = {
  migrationId: '20250104000000_update_inventory_prices',
  mode: 'up',
  status: 'running',
  stepCount: 1,
  stepsDone: 0,
  current: { stepIndex: 0, label: 'updateRecords inventories set price' },
  compensationsLeft: 0,
  error: null,
  startedAt: '2025-01-01T00:00:00Z',
  updatedAt: '2025-01-01T00:00:10Z',
  data: null,
  runs: 1,
};
const dataStep = (rowsDone: number): MigrationProgress => ({
  ...schemaStep,
  data: {
    stepIndex: 0, rowsDone, rowsTotal: 25_000, batches: 10, rowErrors: 0, batchSize: 500, sleepMs: 0, rowsPerSecond: 5000, etaSeconds: 3,
    paused: false, throttled: false, reasons: [], lastSample: null, loadControl: DEFAULT_LOAD_CONTROL,
  },
});

function capture(json = false) {
  const lines: string[] = [];
  const out: Output = { json, info: (m) => lines.push(m), warn: () => undefined, error: () => undefined, data: () => undefined };
  return { out, lines };
}

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, columns: 120, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WriteStream, writes };
}

test('on a terminal the bar is redrawn in place and cleared before a change line and at the end', () => {
  const { out, lines } = capture();
  const { stream, writes } = fakeStream(true);
  const live = createLiveProgress(out, stream);
  live.change(schemaStep);
  live.poll(schemaStep); // a schema step has no bar
  assert.equal(writes.length, 0);
  live.poll(dataStep(5000));
  live.poll(dataStep(10_000));
  assert.equal(writes.length, 2);
  assert.ok(writes.every((w) => w.startsWith('\r\x1b[2K')), 'each redraw clears the line first');
  assert.match(writes[1]!, /10k\/25k/);
  live.change({ ...dataStep(25_000), status: 'validating' });
  assert.equal(writes[2], '\r\x1b[2K', 'the bar is cleared before the change line');
  assert.equal(lines.length, 2);
  live.done();
  assert.equal(writes.length, 3, 'nothing left to clear');
});

test('off a terminal the bar is a plain line at most every 10 s; --json prints nothing', () => {
  const { out, lines } = capture();
  const { stream, writes } = fakeStream(false);
  let now = 100_000;
  const live = createLiveProgress(out, stream, () => now);
  live.poll(dataStep(1000));
  live.poll(dataStep(2000));
  now += PLAIN_EVERY_MS - 1;
  live.poll(dataStep(3000));
  now += 1;
  live.poll(dataStep(4000));
  assert.equal(writes.length, 0, 'no control characters in a log');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /1000\/25k/);
  assert.match(lines[1]!, /4000\/25k/);

  const quiet = capture(true);
  const silent = createLiveProgress(quiet.out, fakeStream(true).stream);
  silent.change(schemaStep);
  silent.poll(dataStep(1));
  assert.deepEqual(quiet.lines, []);
});
