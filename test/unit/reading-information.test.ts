// The B2 trace analysis (bench/lib/reading-information.ts) on hand-made traces: the rows/s it
// pairs with each judgement, and the fit it reports.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fit, judgementsOf } from '../../bench/lib/reading-information';

describe('B2 reading information', () => {
  test('each judgement gets the rows/s moved since the one before it, at the batch size in effect', () => {
    const trace = [
      '20.0s 10 batches → batch 1000 pause 100 ms canary …: holding: gathering foreground samples (10/8000)',
      '22.0s 8 batches → batch 1000 pause 100 ms canary …: holding: gathering foreground samples (900/8000)',
      '22.5s   judged → batch 1500 pause 90 ms: foreground p99 2.69 ms under budget 4.14 ms (0.65×, target 0.80×): rate ×1.50',
      '24.5s 6 batches → batch 1500 pause 90 ms canary …: holding: gathering foreground samples (10/8000)',
      '25.5s   judged → batch 1500 pause 200 ms: foreground p99 4.54 ms against budget 4.14 ms (1.10×, target 0.80×): rate ×0.53',
    ];
    const js = judgementsOf(trace);
    // The first line sets the size; its own batches are before the count starts.
    assert.deepEqual(js, [
      { rowsPerSecond: 8000 / 2.5, overshoot: 0.65 },
      { rowsPerSecond: 9000 / 3, overshoot: 1.1 },
    ]);
  });

  test('the fit recovers a known slope and scatter', () => {
    const xs = Array.from({ length: 200 }, (_, i) => Math.log(100 + i * 50));
    // Alternating ±0.1 around 0.2·x: slope 0.2, residuals of 0.1.
    const ys = xs.map((x, i) => 0.2 * x + (i % 2 === 0 ? 0.1 : -0.1));
    const f = fit(xs, ys);
    assert.ok(Math.abs(f.slope - 0.2) < 0.01, `slope ${f.slope}`);
    assert.ok(Math.abs(f.residualSd - 0.1) < 0.01, `residual sd ${f.residualSd}`);
    assert.ok(f.slopeSe > 0 && f.slopeSe < 0.05);
  });
});
