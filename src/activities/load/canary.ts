// The canary behind the foreground latency budget: a primary-key lookup on the migrated table,
// the cheapest query live traffic runs against it, timed the way a client sees it. Its latency
// rises when our batches compete for CPU, I/O, WAL flushes, buffer pins or row locks, which is
// exactly the harm host CPU and memory cannot show.
import { sql } from 'kysely';
import { type Db } from '../../db/connect';
import { SQLSTATE, sqlstateOf } from '../../db/sqlstate';
import { DEFAULT_LOAD_CONTROL } from '../../core/load-control-config';
import { canaryBaseline } from '../../core/load-controller';
import { type OwnXids } from './own-xids';

export interface CanaryTable {
  schema: string;
  name: string;
}

export interface CanaryOptions {
  /** How many existing keys to rotate through (default 8). */
  keys?: number;
  /** A lookup slower than this is cut off and reported as taking this long (default 5 s), so a
   *  canary stuck behind a table lock reads as "very slow" instead of hanging the batch. */
  timeoutMs?: number;
  /**
   * `db` is one connection (`db.connection().execute`) that only this canary uses: the timeout is
   * set on the session once and each lookup is a single round trip, instead of BEGIN, SET LOCAL,
   * the lookup and COMMIT on a pooled connection: at a lookup every 15 ms (canary-sampler.ts)
   * those round trips would cost more than the lookup itself. Call `release()` when done.
   */
  dedicated?: boolean;
  /**
   * Each lookup also commits a transaction id (`pg_current_xact_id()`), so it ends with a commit
   * record and waits for the WAL flush like every writing foreground transaction does. A read
   * alone cannot see the commit queue, which is where a write-heavy foreground pays for our
   * batches' WAL: beside a backfill whose foreground p99 was 1.9× its baseline, a read-only
   * canary read comfortable. Costs one xid and one tiny commit per lookup.
   */
  commits?: boolean;
  /** Told of every xid a committing lookup spends (own-xids.ts), before it runs. */
  ownXids?: OwnXids;
}

export interface Canary {
  /** The keys (as text) the lookups use; empty for an empty table. */
  readonly keys: readonly string[];
  /** One lookup, ms. Connection checkout is not timed: our pool's queue is not the foreground's. */
  measure(): Promise<number>;
  /** n lookups, intervalMs apart (default 0). */
  measureMany(n: number, options?: { intervalMs?: number }): Promise<number[]>;
  /**
   * The baseline for withCanaryBaseline, from n lookups intervalMs apart (default 10 ms, so they
   * cover a stretch of the foreground's rhythm rather than one instant): the typical p99 of a
   * `window`-sample window (default: the controller's default canaryWindow), i.e. the statistic the
   * controller compares with the budget. `window: 1` gives the plain median. Take n ≥ 3 × window.
   */
  baseline(n: number, options?: { window?: number; intervalMs?: number }): Promise<number>;
  /** Undoes the session setting of a dedicated canary, so its connection goes back to the pool clean. */
  release(): Promise<void>;
}

const DEFAULT_KEYS = 8;
const DEFAULT_TIMEOUT_MS = 5000;
/** Enough sampled pages to find a few keys spread over the table, few enough to stay instant. */
const SAMPLE_PAGES = 20;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function createCanary(db: Db, table: CanaryTable, keyColumn: string, options: CanaryOptions = {}): Promise<Canary> {
  const wanted = Math.max(1, Math.floor(options.keys ?? DEFAULT_KEYS));
  const timeoutMs = Math.max(1, Math.floor(options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  const target = sql.id(table.schema, table.name);
  const key = sql.id(keyColumn);
  const keys = await pickKeys(db, table, keyColumn, wanted);
  let next = 0;
  const dedicated = options.dedicated === true;
  if (dedicated) await sql.raw(`SET statement_timeout = ${timeoutMs}`).execute(db);

  const measure = async (): Promise<number> => {
    const value = keys.length > 0 ? keys[next++ % keys.length]! : null;
    // Text in, column type inferred by Postgres: exact for every key type (bigint, uuid, timestamps…).
    const row = value === null ? sql`SELECT 1 FROM ${target} LIMIT 1` : sql`SELECT 1 FROM ${target} WHERE ${key} = ${value}`;
    // EXISTS, not a scalar subquery: on a composite key the canary looks up the first key column
    // only, which matches many rows.
    const lookup = options.commits ? sql`SELECT pg_current_xact_id() AS xid, EXISTS (${row}) AS found` : row;
    let started = 0;
    if (options.commits) options.ownXids?.spend(1);
    try {
      if (dedicated) {
        started = performance.now();
        await lookup.execute(db);
        return performance.now() - started;
      }
      return await db.transaction().execute(async (trx) => {
        // SET LOCAL: the timeout ends with this transaction instead of staying on a pooled session.
        await sql.raw(`SET LOCAL statement_timeout = ${timeoutMs}`).execute(trx);
        started = performance.now();
        await lookup.execute(trx);
        return performance.now() - started;
      });
    } catch (error) {
      if (sqlstateOf(error) === SQLSTATE.QUERY_CANCELED && started > 0) return Math.max(timeoutMs, performance.now() - started);
      throw error;
    }
  };

  const measureMany = async (n: number, opts: { intervalMs?: number } = {}): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      if (i > 0 && opts.intervalMs) await sleep(opts.intervalMs);
      out.push(await measure());
    }
    return out;
  };

  return {
    keys,
    measure,
    measureMany,
    async baseline(n, opts = {}) {
      const samples = await measureMany(Math.max(1, Math.floor(n)), { intervalMs: opts.intervalMs ?? 10 });
      const value = canaryBaseline(samples, opts.window ?? DEFAULT_LOAD_CONTROL.canaryWindow);
      if (value === null) throw new Error(`canary on ${table.schema}.${table.name}: no usable measurement in ${n} lookups`);
      return value;
    },
    async release() {
      if (dedicated) await sql`RESET statement_timeout`.execute(db);
    },
  };
}

/**
 * Runs `work` with a canary on a connection of its own (see CanaryOptions.dedicated), returning
 * that connection to the pool clean afterwards.
 */
export async function withDedicatedCanary<T>(db: Db, table: CanaryTable, keyColumn: string, work: (canary: Canary) => Promise<T>, options: Omit<CanaryOptions, 'dedicated'> = {}): Promise<T> {
  return db.connection().execute(async (conn) => {
    const canary = await createCanary(conn, table, keyColumn, { ...options, dedicated: true });
    try {
      return await work(canary);
    } finally {
      await canary.release().catch(() => undefined);
    }
  });
}

/** A few existing keys from a small random sample of pages: spread over the table, not a scan. */
async function pickKeys(db: Db, table: CanaryTable, keyColumn: string, wanted: number): Promise<string[]> {
  const { rows: size } = await sql<{ pages: number }>`
    SELECT greatest(1, pg_relation_size(format('%I.%I', ${table.schema}::text, ${table.name}::text)::regclass)
                       / current_setting('block_size')::int)::float8 AS pages`.execute(db);
  const percent = Math.min(100, (SAMPLE_PAGES / size[0]!.pages) * 100);
  const target = sql.id(table.schema, table.name);
  const key = sql.id(keyColumn);
  const sampled = await sql<{ key: string }>`
    SELECT ${key}::text AS key FROM ${target} TABLESAMPLE SYSTEM (${sql.lit(percent)})
    WHERE ${key} IS NOT NULL ORDER BY random() LIMIT ${wanted}`.execute(db);
  if (sampled.rows.length > 0) return sampled.rows.map((r) => r.key);
  // Sampled pages can all be empty (a table just bulk-deleted, bad luck on a small one).
  const first = await sql<{ key: string }>`SELECT ${key}::text AS key FROM ${target} WHERE ${key} IS NOT NULL LIMIT ${wanted}`.execute(db);
  return first.rows.map((r) => r.key);
}
