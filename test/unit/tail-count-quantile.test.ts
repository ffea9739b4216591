// B2's server-side p99 by tail count (bench/lib/multi-interval-observer.ts): pure arithmetic.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tailCountQuantile } from '../../bench/lib/multi-interval-observer';

test('the p99 is the duration exceeded by 1 % of all transactions, seen or not, plus half an interval', () => {
  // 1000 transactions, of which the observer saw 30: the 10th longest seen is the p99.
  const seen = Array.from({ length: 30 }, (_, i) => i + 1); // ages 1 … 30 ms
  assert.equal(tailCountQuantile(seen, 5, 1000, 0.99), 21 + 2.5);
  // Seeing more short transactions does not move it: only the count of all transactions does.
  assert.equal(tailCountQuantile([...seen, 0.5, 0.5, 0.7], 5, 1000, 0.99), 23.5);
  assert.equal(tailCountQuantile(seen, 5, 2000, 0.99), 11 + 2.5);
});

test('too few sightings for the rank give NaN, not a made-up number', () => {
  assert.ok(Number.isNaN(tailCountQuantile([3, 4], 5, 1000, 0.99)));
  assert.equal(tailCountQuantile([3], 5, 10, 0.99), 5.5, 'the rank is at least 1');
});
