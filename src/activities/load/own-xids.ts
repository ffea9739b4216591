// The transaction ids this slice spends itself: one per canary lookup (it commits one, canary.ts),
// one per batch, and for eachBatch one more per row (each row's savepoint writes in a
// subtransaction of its own). The foreground observer subtracts them from the xid horizon's
// advance to count the foreground's writing transactions exactly (foreground-tail.ts).
// Counted before the statement that spends them runs, so a snapshot taken meanwhile is not left
// owing; an estimate made before a batch (its row count) is corrected after it.

export interface OwnXids {
  spend(n: number): void;
  /** Every xid counted so far. */
  total(): number;
}

export function createOwnXids(): OwnXids {
  let total = 0;
  return {
    spend(n) {
      if (Number.isFinite(n)) total += n;
    },
    total: () => total,
  };
}
