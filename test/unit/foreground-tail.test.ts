// The tail count: the foreground's p99 as the duration 1 % of its writing transactions exceeded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addToTail, emptyTail, MAX_SPREAD_CORRECTION, plainTailQuantile, SPREAD_POINTS, spreadDurations, tailBaseline, tailKeep, tailQuantile, tailReadable, tailWindowsOf } from '../../src/core/foreground-tail';

test('the p99 is the (1 % × count)-th longest observed, whatever the short ones are', () => {
  const longest = [40, 30, 25, 21, 20, 19, 18, 17, 16, 15, 14];
  let w = addToTail(emptyTail(), 1000, longest, tailKeep(1000));
  assert.equal(tailQuantile(w), 15, 'rank 10 of 1000');
  w = addToTail(w, 0, [0.5, 0.7, 1], tailKeep(1000));
  assert.equal(tailQuantile(w), 15, 'short transactions observed change nothing');
  assert.equal(tailQuantile(addToTail(emptyTail(), 2000, longest, tailKeep(2000))), 14, 'twice the transactions: rank 20, past the observed; the shortest bounds it');
  assert.equal(tailQuantile(addToTail(emptyTail(), 200, longest, tailKeep(200))), 30, 'rank 2');
  assert.equal(tailQuantile(emptyTail()), 0);
});

test('a window keeps only the durations its reading can need, and joins drains exactly', () => {
  const keep = tailKeep(1000);
  assert.equal(keep, 40);
  let w = emptyTail();
  for (let i = 0; i < 100; i++) w = addToTail(w, 10, [i, Number.NaN, -1], keep);
  assert.equal(w.count, 1000);
  assert.equal(w.longest.length, keep);
  assert.deepEqual(w.longest.slice(0, 3), [99, 98, 97]);
  assert.equal(tailQuantile(w), 90);
  assert.equal(addToTail(w, -5000, [], keep).count, 0, 'never negative');
});

test('windows split a stream of drains; the baseline is the median window p99, with enough windows', () => {
  const drain = (count: number, durations: number[]) => ({ count, durations });
  const drains = [drain(60, [9]), drain(60, [5]), drain(100, [7, 6]), drain(50, [4]), drain(150, [3])];
  const windows = tailWindowsOf(drains, 100);
  assert.deepEqual(windows.map((w) => w.count), [120, 100, 200]);
  assert.deepEqual(windows.map((w) => tailQuantile(w)), [9, 7, 3], 'ranks 1, 1 and 2');
  assert.equal(tailBaseline(drains, 100, 3), 7);
  assert.equal(tailBaseline(drains, 100, 4), null, 'too few windows');
  assert.equal(tailBaseline([drain(5000, [])], 1000, 1), null, 'nothing observed: no baseline');
});

test('a window that counted more transactions than it observed up to its rank is not readable, nor part of a baseline', () => {
  const keep = tailKeep(1000);
  assert.equal(tailReadable(addToTail(emptyTail(), 1000, [9, 8, 7, 6, 5, 4, 3, 2, 1, 1], keep), keep), true, 'rank 10, ten observed');
  assert.equal(tailReadable(addToTail(emptyTail(), 1000, [9, 8, 7], keep), keep), false, 'another writer\'s xids, three of ours observed');
  assert.equal(tailReadable(addToTail(emptyTail(), 100_000, Array.from({ length: 100 }, (_, i) => i), keep), keep), true, 'past four windows the kept ones suffice');
  assert.equal(tailReadable(addToTail(emptyTail(), 99, [9, 8, 7], keep), keep), false, 'a p99 of 99 transactions would be their longest');
  const unseen = { count: 1000, durations: [] };
  const seen = { count: 1000, durations: Array.from({ length: 20 }, () => 6) };
  assert.equal(tailBaseline([unseen, seen, unseen, seen, seen], 1000, 3), 6);
  assert.equal(tailBaseline([unseen, seen, unseen, seen], 1000, 3), null);
});

test('spread durations move an estimate over its gap, evenly, never below 0', () => {
  assert.deepEqual(spreadDurations(10, 8), [7, 9, 11, 13]);
  assert.equal(spreadDurations(10, 8).length, SPREAD_POINTS);
  assert.deepEqual(spreadDurations(1, 8), [0, 0, 2, 4]);
  assert.deepEqual(spreadDurations(5, -3), [5, 5, 5, 5], 'no gap, no spread');
});

/** A foreground of `n` transactions, the observer's estimates of them, and their true p99. */
function observed(n: number, gapMs: number, seed = 7): { truth: number; durations: number[]; spread: number[] } {
  let x = seed;
  const random = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const durations: number[] = [];
  const spread: number[] = [];
  const truths: number[] = [];
  for (let i = 0; i < n; i++) {
    // Mostly 1–3 ms, a tail out to ~8 ms (like B2's pgbench on a fast machine).
    const d = 1 + 2 * random() + (random() < 0.05 ? 5 * random() : 0);
    truths.push(d);
    // Its end lies uniformly somewhere in the gap after it was last seen; the estimate is the gap's middle.
    const estimate = d - random() * gapMs + gapMs / 2;
    durations.push(estimate);
    spread.push(...spreadDurations(estimate, gapMs));
  }
  truths.sort((a, b) => b - a);
  return { truth: truths[Math.round(n * 0.01) - 1]!, durations, spread };
}

test('the correction takes out what the estimates\' error adds to the p99, where the plain count reads it high', () => {
  for (const seed of [1, 2, 3]) {
    const { truth, durations, spread } = observed(20_000, 7, seed);
    const w = addToTail(emptyTail(), 20_000, durations, tailKeep(20_000), spread);
    const plain = plainTailQuantile(w);
    const corrected = tailQuantile(w);
    // (Here 7.2–7.3 ms for 6.3, and corrected 5.96–6.07.)
    assert.ok(plain > truth * 1.1, `the plain count reads high: ${plain} for ${truth}`);
    assert.ok(Math.abs(corrected / truth - 1) < 0.08, `corrected ${corrected} for ${truth} (plain ${plain})`);
    assert.ok(Math.abs(corrected - truth) < Math.abs(plain - truth) / 2);
  }
});

test('the correction holds across windows, drains and stored state, and only with every spread duration', () => {
  const { durations, spread } = observed(4000, 7);
  const drains = [0, 1, 2, 3].map((i) => ({ count: 1000, durations: durations.slice(i * 1000, (i + 1) * 1000), spread: spread.slice(i * 4000, (i + 1) * 4000) }));
  const [window] = tailWindowsOf(drains, 4000);
  const whole = addToTail(emptyTail(), 4000, durations, tailKeep(4000), spread);
  assert.equal(tailQuantile(window!), tailQuantile(whole), 'drained in pieces or at once');
  assert.notEqual(tailQuantile(whole), plainTailQuantile(whole));
  const missing = addToTail(whole, 10, [3], tailKeep(4000));
  assert.equal(missing.spreadLongest, undefined, 'durations without their spread: no correction from then on');
  assert.equal(tailQuantile(missing), plainTailQuantile(missing));
  const short = addToTail(emptyTail(), 1000, [5, 4], tailKeep(1000), [1, 2, 3]);
  assert.equal(short.spreadLongest, undefined, 'a spread list of the wrong length is not used');
  assert.equal(addToTail(whole, 500, [], tailKeep(4000)).spreadLongest?.length, whole.spreadLongest?.length, 'transactions counted, none observed: still corrected');
});

test('the correction never takes more than half of the plain reading', () => {
  // Two transactions observed among 100, with spread far above them (long gaps beside them).
  const w = addToTail(emptyTail(), 100, [2, 1], tailKeep(100), [...spreadDurations(2, 40), ...spreadDurations(1, 40)]);
  assert.equal(tailQuantile(w), 2 * (1 - MAX_SPREAD_CORRECTION));
  assert.equal(plainTailQuantile(w), 2);
});
