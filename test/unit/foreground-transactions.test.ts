// The bookkeeping that turns pg_stat_activity snapshots into finished foreground transactions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimateDuration, type OpenTransactions, trackTransactions } from '../../src/core/foreground-transactions';

/** The fields these tests are about (pid and start name the transaction). */
const about = (xs: Iterable<{ ageMs: number; quiet: boolean; writer: boolean; here: boolean }>) => [...xs].map(({ ageMs, quiet, writer, here }) => ({ ageMs, quiet, writer, here }));

const tx = (pid: number, startedAt: number, ageMs: number) => ({ pid, startedAt, ageMs });

test('a transaction gone from the next snapshot has ended; its sample is the largest age seen', () => {
  let open: OpenTransactions = new Map();
  let r = trackTransactions(open, [tx(1, 100, 2), tx(2, 100, 5)], true);
  assert.deepEqual(about(r.finished), []);
  open = r.open;
  r = trackTransactions(open, [tx(1, 100, 22)], true);
  assert.deepEqual(about(r.finished), [{ ageMs: 5, quiet: true, writer: false, here: true }]);
  open = r.open;
  // Same backend, a new transaction: the old one ended.
  r = trackTransactions(open, [tx(1, 130, 1)], true);
  assert.deepEqual(about(r.finished), [{ ageMs: 22, quiet: true, writer: false, here: true }]);
  assert.deepEqual(about(r.open.values()), [{ ageMs: 1, quiet: true, writer: false, here: true }]);
});

test('a transaction is quiet only if every snapshot that saw it, and the one that found it gone, was', () => {
  let r = trackTransactions(new Map(), [tx(1, 1, 1), tx(2, 1, 1), tx(3, 1, 1)], true);
  r = trackTransactions(r.open, [tx(1, 1, 20), tx(3, 1, 20)], true);
  assert.deepEqual(about(r.finished), [{ ageMs: 1, quiet: true, writer: false, here: true }]);
  r = trackTransactions(r.open, [tx(3, 1, 40)], false);
  assert.deepEqual(about(r.finished), [{ ageMs: 20, quiet: false, writer: false, here: true }], 'found gone in a busy snapshot');
  r = trackTransactions(r.open, [], true);
  assert.deepEqual(about(r.finished), [{ ageMs: 40, quiet: false, writer: false, here: true }], 'seen busy once');
});

test('unusable ages are ignored; a snapshot repeating a transaction keeps one entry', () => {
  const r = trackTransactions(new Map(), [tx(1, 1, Number.NaN), tx(2, 1, -3), tx(3, 1, 2), tx(3, 1, 4)], true);
  assert.deepEqual([...r.open.keys()], ['3:1']);
  assert.deepEqual(about(r.open.values()), [{ ageMs: 4, quiet: true, writer: false, here: true }]);
});

test('a transaction is a writer once any snapshot saw it hold an xid; other databases are marked', () => {
  let r = trackTransactions(new Map(), [{ pid: 1, startedAt: 1, ageMs: 1 }, { pid: 2, startedAt: 1, ageMs: 1, writer: true, here: false }], true);
  r = trackTransactions(r.open, [{ pid: 1, startedAt: 1, ageMs: 6, writer: true }], true);
  assert.deepEqual(about(r.finished), [{ ageMs: 1, quiet: true, writer: true, here: false }]);
  r = trackTransactions(r.open, [{ pid: 1, startedAt: 1, ageMs: 11, writer: false }], true);
  r = trackTransactions(r.open, [], true);
  assert.deepEqual(about(r.finished), [{ ageMs: 11, quiet: true, writer: true, here: true }], 'an xid, once held, is held to the end');
});

test('a duration is the last seen age plus half the gap to the snapshot that found it gone', () => {
  assert.equal(estimateDuration({ ageMs: 4 }, 5), 6.5);
  assert.equal(estimateDuration({ ageMs: 4 }, 13), 10.5);
  assert.equal(estimateDuration({ ageMs: 4 }, -1), 4, 'a clock step back adds nothing');
});
