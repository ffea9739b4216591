// The tail count: the foreground's p99 as the duration 1 % of its writing transactions exceeded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addToTail, countedTailQuantile, emptyTail, MAX_SPREAD_CORRECTION, plainTailQuantile, sightingTailQuantile, SPREAD_POINTS, spreadDurations, tailBaseline, tailKeep, tailQuantile, tailReadable, tailWindowsOf, completeTailWindows } from '../../src/core/foreground-tail';

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

test('completeTailWindows counts the windows tailWindowsOf builds, from the counts alone', () => {
  const drain = (count: number) => ({ count, durations: [1] });
  assert.equal(completeTailWindows([drain(60), drain(60), drain(100), drain(50), drain(150)], 100), 3);
  assert.equal(completeTailWindows([], 100), 0);
  assert.equal(completeTailWindows([drain(99)], 100), 0, 'a partial window is not counted');
  // Random streams, with the garbage addToTail tolerates (NaN and negative counts).
  let seed = 7;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 200; i++) {
    const drains = Array.from({ length: Math.floor(next() * 60) }, () => drain(next() < 0.05 ? Number.NaN : next() < 0.05 ? -40 : Math.floor(next() * 300)));
    const size = 50 + Math.floor(next() * 500);
    assert.equal(completeTailWindows(drains, size), tailWindowsOf(drains, size).length, `stream ${i}`);
  }
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

/**
 * A foreground as the observer meets it: `clients` sessions running transactions back to back
 * (0.2 ms between them) for `seconds`, each lasting what `stretch` × a draw from the distribution
 * above gives, and a snapshot every `gapMs` that sees each session's transaction in flight, if any.
 * Returns the true p99 of the transactions that ended, their count, every sighting's age, and the
 * tail count's estimates (last seen age + half the gap, with their spread), as the observer makes them.
 */
function stream(options: { clients: number; seconds: number; gapMs: number; stretch: number; seed: number }) {
  let x = options.seed;
  const random = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const endMs = options.seconds * 1000;
  const durations: number[] = [];
  const sightings: number[] = [];
  const estimates: number[] = [];
  const spread: number[] = [];
  const phase = random() * options.gapMs;
  for (let c = 0; c < options.clients; c++) {
    let start = random() * 3;
    while (start < endMs) {
      const d = options.stretch * (1 + 2 * random() + (random() < 0.05 ? 5 * random() : 0));
      const end = start + d;
      if (end <= endMs) durations.push(d);
      // Snapshots inside [start, end): phase + k × gap.
      let lastAge = -1;
      for (let k = Math.ceil((start - phase) / options.gapMs); phase + k * options.gapMs < end; k++) {
        const age = phase + k * options.gapMs - start;
        sightings.push(age);
        lastAge = age;
      }
      if (lastAge >= 0 && end <= endMs) {
        estimates.push(lastAge + options.gapMs / 2);
        spread.push(...spreadDurations(lastAge + options.gapMs / 2, options.gapMs));
      }
      start = end + 0.2;
    }
  }
  const sorted = [...durations].sort((a, b) => b - a);
  const count = durations.length;
  const tail = addToTail(emptyTail(), count, estimates, tailKeep(count), spread);
  return { truth: sorted[Math.round(count * 0.01) - 1]!, count, sightings, tail };
}

test('sightings read the p99 of a tail shorter than the gap, and its ratio when the foreground slows', () => {
  const gapMs = 11;
  for (const seed of [1, 2, 3]) {
    const before = stream({ clients: 4, seconds: 60, gapMs, stretch: 1, seed });
    const during = stream({ clients: 4, seconds: 60, gapMs, stretch: 1.6, seed: seed + 10 });
    const read = (s: typeof before) => sightingTailQuantile(s.sightings, s.count, gapMs, 2);
    assert.ok(Math.abs(read(before) / before.truth - 1) < 0.1, `sightings read ${read(before)} for ${before.truth}`);
    const trueRatio = during.truth / before.truth;
    const sightingRatio = read(during) / read(before);
    assert.ok(Math.abs(sightingRatio / trueRatio - 1) < 0.1, `sightings' ratio ${sightingRatio} for ${trueRatio}`);
    // The count of those seen ending sees a transaction shorter than the gap only in proportion to
    // its length, and each at an age uniform over it: its level and its ratio both come out wrong
    // (here 0.8 of the level and 1.76–1.82 for 1.6; beside B2's real pgbench the ratio came out
    // compressed instead, BENCHMARKS.md session 13). What the sightings read does not depend on it.
    const counted = (s: typeof before) => countedTailQuantile(s.tail);
    assert.ok(Math.abs(counted(before) / before.truth - 1) > 0.1, `the count read ${counted(before)} for ${before.truth}`);
    assert.ok(Math.abs(counted(during) / counted(before) / trueRatio - 1) > 0.05, `the count's ratio ${counted(during) / counted(before)} for ${trueRatio}`);
  }
});

test('sightings: no band holds enough of them, or nothing to read', () => {
  assert.ok(Number.isNaN(sightingTailQuantile([], 1000, 10, 2)));
  assert.ok(Number.isNaN(sightingTailQuantile([5, 6], 0, 10, 2)));
  // 1 % of 10,000 transactions over a 2 ms band, snapshots 10 ms apart: 20 sightings wanted.
  assert.ok(Number.isNaN(sightingTailQuantile(Array.from({ length: 19 }, (_, i) => 4 + i * 0.01), 10_000, 10, 2)));
  assert.equal(sightingTailQuantile([...Array.from({ length: 20 }, (_, i) => 4 + i * 0.01), 50, 40], 10_000, 10, 2), 5);
});
