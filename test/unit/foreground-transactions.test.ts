// The bookkeeping that turns pg_stat_activity snapshots into finished foreground transactions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type OpenTransactions, trackTransactions } from '../../src/core/foreground-transactions';

const tx = (pid: number, startedAt: number, ageMs: number) => ({ pid, startedAt, ageMs });

test('a transaction gone from the next snapshot has ended; its sample is the largest age seen', () => {
  let open: OpenTransactions = new Map();
  let r = trackTransactions(open, [tx(1, 100, 2), tx(2, 100, 5)], true);
  assert.deepEqual(r.finished, []);
  open = r.open;
  r = trackTransactions(open, [tx(1, 100, 22)], true);
  assert.deepEqual(r.finished, [{ ageMs: 5, quiet: true }]);
  open = r.open;
  // Same backend, a new transaction: the old one ended.
  r = trackTransactions(open, [tx(1, 130, 1)], true);
  assert.deepEqual(r.finished, [{ ageMs: 22, quiet: true }]);
  assert.deepEqual([...r.open.values()], [{ ageMs: 1, quiet: true }]);
});

test('a transaction is quiet only if every snapshot that saw it, and the one that found it gone, was', () => {
  let r = trackTransactions(new Map(), [tx(1, 1, 1), tx(2, 1, 1), tx(3, 1, 1)], true);
  r = trackTransactions(r.open, [tx(1, 1, 20), tx(3, 1, 20)], true);
  assert.deepEqual(r.finished, [{ ageMs: 1, quiet: true }]);
  r = trackTransactions(r.open, [tx(3, 1, 40)], false);
  assert.deepEqual(r.finished, [{ ageMs: 20, quiet: false }], 'found gone in a busy snapshot');
  r = trackTransactions(r.open, [], true);
  assert.deepEqual(r.finished, [{ ageMs: 40, quiet: false }], 'seen busy once');
});

test('unusable ages are ignored; a snapshot repeating a transaction keeps one entry', () => {
  const r = trackTransactions(new Map(), [tx(1, 1, Number.NaN), tx(2, 1, -3), tx(3, 1, 2), tx(3, 1, 4)], true);
  assert.deepEqual([...r.open.entries()], [['3:1', { ageMs: 4, quiet: true }]]);
});
