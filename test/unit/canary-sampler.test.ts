// The continuous canary sampler: timing, draining, failure reporting and stopping. A scripted
// canary stands in for the database lookup (the lookup itself is tested in load-sampling.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Canary } from '../../src/activities/load/canary';
import { startCanarySampler } from '../../src/activities/load/canary-sampler';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function scriptedCanary(latencies: () => number, fail?: () => Error | null): Canary & { calls: number; inFlight: number } {
  const canary = {
    keys: ['1'],
    calls: 0,
    inFlight: 0,
    async measure() {
      canary.calls += 1;
      canary.inFlight += 1;
      try {
        const error = fail?.() ?? null;
        if (error) throw error;
        const ms = latencies();
        await sleep(ms);
        return ms;
      } finally {
        canary.inFlight -= 1;
      }
    },
    measureMany: async () => [],
    baseline: async () => 1,
    release: async () => undefined,
  };
  return canary;
}

test('samples keep arriving at about the interval; each drain returns only what is new', async () => {
  const canary = scriptedCanary(() => 1);
  const sampler = startCanarySampler(canary, { intervalMs: 10, quietAfterMs: 0 });
  await sleep(200);
  const first = sampler.drain().samples;
  assert.ok(first.length >= 5 && first.length <= 25, `about 200 / (10 + 1) lookups, got ${first.length}`);
  assert.ok(first.every((ms) => ms === 1));
  assert.ok(sampler.drain().samples.length <= 1, 'a drain right after a drain has at most the lookup that just finished');
  await sampler.stop();
  const calls = canary.calls;
  await sleep(50);
  assert.equal(canary.calls, calls, 'no lookup after stop()');
  assert.equal(canary.inFlight, 0, 'stop() waited for the lookup in flight');
});

test('one lookup at a time: a slow lookup delays the next instead of piling up', async () => {
  let maxInFlight = 0;
  const canary = scriptedCanary(() => {
    maxInFlight = Math.max(maxInFlight, canary.inFlight);
    return 30;
  });
  const sampler = startCanarySampler(canary, { intervalMs: 1, quietAfterMs: 0 });
  await sleep(150);
  await sampler.stop();
  assert.equal(maxInFlight, 1);
  assert.ok(sampler.drain().samples.length <= 6);
});

test('a failing lookup is reported by the next drain, and sampling stops', async () => {
  let n = 0;
  const canary = scriptedCanary(() => 1, () => (++n === 3 ? new Error('connection lost') : null));
  const sampler = startCanarySampler(canary, { intervalMs: 5, quietAfterMs: 0 });
  await sleep(300);
  assert.throws(() => sampler.drain(), /connection lost/);
  assert.equal(canary.calls, 3, 'no lookup after the failure');
  await sampler.stop();
});

test('stop() does not wait for the interval to pass', async () => {
  const sampler = startCanarySampler(scriptedCanary(() => 1), { intervalMs: 60_000, quietAfterMs: 0 });
  await sleep(20);
  const started = Date.now();
  await sampler.stop();
  assert.ok(Date.now() - started < 1000);
});

test('setIntervalMs changes the rhythm at once: a long pause ends, and a long interval reads rarely', async () => {
  const canary = scriptedCanary(() => 1);
  const sampler = startCanarySampler(canary, { intervalMs: 60_000, quietAfterMs: 0 });
  await sleep(50);
  assert.equal(canary.calls, 1, 'one lookup, then the minute-long pause');
  sampler.setIntervalMs(5);
  await sleep(200);
  const fast = sampler.drain().samples.length;
  assert.ok(fast >= 8, `the pause ended and lookups came every ~6 ms: ${fast} in 200 ms`);
  sampler.setIntervalMs(60_000);
  await sleep(20);
  sampler.drain();
  await sleep(200);
  assert.equal(sampler.drain().samples.length, 0, 'back to one a minute: none in the next 200 ms');
  await sampler.stop();
});

test('quiet lookups overlap no batch and begin at least quietAfterMs after the last one ended', async () => {
  // Each lookup records when it began and ended, on the same clock as the batch clock
  // (performance.now()), and returns its index + 1000 so the test can find it. The batch's edges are
  // read just before the synchronous batchStarted()/batchEnded() calls: no lookup can begin or end
  // inside a synchronous call, and the clock reads its own time after ours, so the checks need no
  // timing margin.
  const spans: { begun: number; ended: number }[] = [];
  const canary = scriptedCanary(() => 1);
  canary.measure = async () => {
    const span = { begun: performance.now(), ended: Number.NaN };
    spans.push(span);
    await sleep(1);
    span.ended = performance.now();
    return spans.indexOf(span) + 1000;
  };
  const samplerStart = performance.now();
  const sampler = startCanarySampler(canary, { intervalMs: 5, quietAfterMs: 100 });
  await sleep(150); // no batch yet: quiet from 100 ms after the sampler started
  const batchStart = performance.now();
  sampler.batchStarted();
  await sleep(100);
  const batchEnd = performance.now();
  sampler.batchEnded();
  await sleep(250);
  await sampler.stop();
  const { samples, quiet } = sampler.drain();
  const spansOf = (list: number[]) =>
    list.map((v) => {
      const span = spans[v - 1000];
      assert.ok(span, `sample ${v} names no lookup`);
      return span;
    });
  assert.ok(samples.length > 40, `${samples.length} lookups`);
  assert.ok(quiet.length > 10 && quiet.length < samples.length, `${quiet.length} of ${samples.length} quiet`);
  const ms = (t: number) => (t - samplerStart).toFixed(1);
  for (const { begun, ended } of spansOf(quiet)) {
    const where = `lookup ${ms(begun)}–${ms(ended)} ms is not quiet (batch ${ms(batchStart)}–${ms(batchEnd)} ms)`;
    assert.ok(begun >= samplerStart + 100, `${where}: begun within 100 ms of the sampler's start`);
    assert.ok(ended < batchStart || begun > batchEnd, `${where}: it overlaps the batch`);
    assert.ok(ended < batchStart || begun >= batchEnd + 100, `${where}: begun within 100 ms of the batch's end`);
  }
  assert.ok(spansOf(quiet).some((s) => s.ended < batchStart), 'lookups before the batch, after the gap, are quiet');
  assert.ok(spansOf(quiet).some((s) => s.begun > batchEnd + 100), 'and so are those well after it');
  assert.ok(spansOf(samples).some((s) => s.begun > batchStart && s.ended < batchEnd), 'lookups during the batch are sampled, just not quiet');
});
