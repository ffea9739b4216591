// The foreground's transactions read at several snapshot intervals at once, for B2's --observe:
// one pg_stat_activity snapshot every `finest` ms, and for each interval k × finest the stream an
// observer polling at that interval would have produced (the same tracker, fed every k-th
// snapshot). Comparing intervals inside one point keeps the VM's drift between points out of it.
import { sql } from 'kysely';
import { type Db } from '../../src/db/connect';
import { inFlightTransactions } from '../../src/activities/load/foreground-observer';
import { type OpenTransactions, trackTransactions } from '../../src/core/foreground-transactions';

export interface MultiIntervalObserver {
  /** Stops polling and returns each interval's samples (last seen ages of finished transactions, ms), in the order seen. */
  stop(): Promise<Map<number, number[]>>;
  /** After stop(): how far the xid horizon moved while polling, i.e. how many transactions that
   *  wrote (ours included) completed: a candidate for the tail count's denominator. */
  xidsCompleted(): number;
}

/** One past the newest completed xid (`pg_snapshot_xmax`); reading it assigns no xid. */
async function xidHorizon(db: Db): Promise<number> {
  const { rows } = await sql<{ xmax: string }>`SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax`.execute(db);
  return Number(rows[0]!.xmax);
}

/** Why these intervals cannot be read from one poll, or null if they can (check before a run starts). */
export function intervalsProblem(intervalsMs: readonly number[]): string | null {
  if (intervalsMs.length === 0 || intervalsMs.some((n) => !Number.isInteger(n) || n < 1)) return 'whole milliseconds, e.g. 5,20';
  const finest = Math.min(...intervalsMs);
  const bad = intervalsMs.filter((ms) => ms % finest !== 0);
  return bad.length > 0 ? `every interval must be a multiple of the finest (${finest} ms); ${bad.join(', ')} is not` : null;
}

/** `intervalsMs` must pass intervalsProblem. */
export function startMultiIntervalObserver(db: Db, intervalsMs: readonly number[]): MultiIntervalObserver {
  const finest = Math.min(...intervalsMs);
  const streams = intervalsMs.map((ms) => ({ ms, every: ms / finest, open: new Map() as OpenTransactions, samples: [] as number[] }));
  let stopped = false;
  let xids = Number.NaN;
  const loop = (async () => {
    const first = await xidHorizon(db);
    for (let n = 0; !stopped; n++) {
      const snapshot = await inFlightTransactions(db);
      for (const s of streams) {
        if (n % s.every !== 0) continue;
        const tracked = trackTransactions(s.open, snapshot, true);
        s.open = tracked.open;
        for (const t of tracked.finished) s.samples.push(t.ageMs);
      }
      await new Promise((r) => setTimeout(r, finest));
    }
    xids = (await xidHorizon(db)) - first;
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return new Map(streams.map((s) => [s.ms, s.samples]));
    },
    xidsCompleted: () => xids,
  };
}

/**
 * The foreground's q-quantile duration estimated by counting its tail: each observed transaction's
 * duration is taken as its last seen age plus half the interval (it ended somewhere before the next
 * snapshot), and the estimate is the duration exceeded by (1 − q) × `transactions` of them. Every
 * transaction longer than the interval is seen, so the count is complete for durations above it;
 * unlike a quantile of the samples, no length bias. It needs the true number of transactions in
 * the window (`transactions`: here pgbench's own count, which the controller does not have).
 */
export function tailCountQuantile(lastSeenAges: readonly number[], intervalMs: number, transactions: number, q: number): number {
  const rank = Math.max(1, Math.round((1 - q) * transactions));
  if (lastSeenAges.length < rank) return Number.NaN;
  const longestFirst = [...lastSeenAges].sort((a, b) => b - a);
  return longestFirst[rank - 1]! + intervalMs / 2;
}
