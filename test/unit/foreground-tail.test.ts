// The tail count: the foreground's p99 as the duration 1 % of its writing transactions exceeded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addToTail, emptyTail, tailBaseline, tailKeep, tailQuantile, tailReadable, tailWindowsOf } from '../../src/core/foreground-tail';

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
