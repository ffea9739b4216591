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
  // Started at 100, last seen at age 4 (at 104), found gone at 109 or 117.
  assert.deepEqual(estimateDuration({ startedAt: 100, ageMs: 4 }, 5, 109), { durationMs: 6.5, windowMs: 5 });
  assert.deepEqual(estimateDuration({ startedAt: 100, ageMs: 4 }, 13, 117), { durationMs: 10.5, windowMs: 13 });
  assert.deepEqual(estimateDuration({ startedAt: 100, ageMs: 4 }, -1, 103), { durationMs: 4, windowMs: 0 }, 'a clock step back adds nothing');
});

test("its session's next transaction narrows the window: ours ended before that began", () => {
  assert.deepEqual(estimateDuration({ startedAt: 100, ageMs: 4 }, 10, 114, { inTransactionSinceMs: 106 }), { durationMs: 5, windowMs: 2 });
  assert.deepEqual(estimateDuration({ startedAt: 100, ageMs: 4 }, 10, 114, { inTransactionSinceMs: 120 }), { durationMs: 9, windowMs: 10 }, 'never wider than the gap');
  assert.deepEqual(estimateDuration({ startedAt: 100, ageMs: 4 }, 10, 114, { inTransactionSinceMs: 103 }), { durationMs: 9, windowMs: 10 }, 'a start before the sighting tells nothing');
});

test('its session gone idle after the statement the sighting saw: the end is known', () => {
  const t = { startedAt: 100, ageMs: 4, queryStartedAt: 101 };
  assert.deepEqual(estimateDuration(t, 10, 114, { idleSinceMs: 105.5, lastQueryStartedAtMs: 101 }), { durationMs: 5.5, windowMs: 0 });
  // Idle after a later statement (a COMMIT sent after the sighting, or whole transactions since):
  // ours ended no later than that, but maybe much earlier.
  assert.deepEqual(estimateDuration(t, 10, 114, { idleSinceMs: 108, lastQueryStartedAtMs: 106 }), { durationMs: 6, windowMs: 4 });
  assert.deepEqual(estimateDuration({ startedAt: 100, ageMs: 4 }, 10, 114, { idleSinceMs: 108 }), { durationMs: 6, windowMs: 4 }, 'no statement start seen: a bound only');
  // Idle since before the sighting, or after the snapshot (clocks): not this transaction's end.
  assert.deepEqual(estimateDuration(t, 10, 114, { idleSinceMs: 103, lastQueryStartedAtMs: 101 }), { durationMs: 9, windowMs: 10 });
  assert.deepEqual(estimateDuration(t, 10, 114, { idleSinceMs: 115, lastQueryStartedAtMs: 101 }), { durationMs: 9, windowMs: 10 });
});

test('the statement a transaction was last seen running travels to its finished record', () => {
  let r = trackTransactions(new Map(), [{ pid: 1, startedAt: 1, ageMs: 1, queryStartedAt: 1 }], true);
  r = trackTransactions(r.open, [{ pid: 1, startedAt: 1, ageMs: 6, queryStartedAt: 5 }], true);
  r = trackTransactions(r.open, [], true);
  assert.equal(r.finished[0]!.queryStartedAt, 5);
});
