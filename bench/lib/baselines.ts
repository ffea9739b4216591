// What the framework is compared with: hand-written kysely code, no Temporal, no backup, no
// checkpoint, one client, autocommit (each statement its own transaction).
import { performance } from 'node:perf_hooks';
import { Kysely, PostgresDialect, type RawBuilder, sql } from 'kysely';
import pg from 'pg';
import { TABLE } from './inventories';

interface Inventories {
  id: string;
  price: string | null;
}
type Db = Kysely<{ inventories: Inventories }>;

export interface LoopResult {
  seconds: number;
  changed: number;
  batches: number;
}

function open(url: string): { db: Db; close(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: url, max: 1, application_name: 'stockrx bench baseline' });
  const db = new Kysely<{ inventories: Inventories }>({ dialect: new PostgresDialect({ pool }) });
  return { db, close: () => db.destroy() };
}

/**
 * The baseline: keyset pagination over the primary key, `batchSize` keys per batch (the same unit
 * as the framework's batch size: the next n keys, whether or not they match), one statement per
 * batch that updates the matching rows of the range and returns the range's last key. (A key
 * range `id > last AND id <= max(bound)`, as the framework's batch uses: a join with the bound
 * CTE, `id IN (SELECT …)` or `UPDATE … FROM bound`, is planned as a hash join over a sequential
 * scan of the whole table, every batch.)
 */
export async function keysetLoop(url: string, batchSize: number): Promise<LoopResult> {
  return loop(url, batchSize, false);
}

/**
 * For reference: keyset pagination over the MATCHING rows (`WHERE price IS NULL AND id > last
 * ORDER BY id LIMIT n`), as `find_in_batches` on a scope does: n changed rows per batch, so half
 * the transactions of a key-range batch when half the rows match.
 */
export async function matchingKeysetLoop(url: string, batchSize: number): Promise<LoopResult> {
  return loop(url, batchSize, true);
}

// Written with kysely's `sql` tag: the typed builder's nested CTE types overflow typescript-eslint.
async function loop(url: string, batchSize: number, overMatching: boolean): Promise<LoopResult> {
  const { db, close } = open(url);
  const table = sql.table(TABLE);
  try {
    await sql`SELECT 1`.execute(db); // connect outside the timing
    const started = performance.now();
    let last: string | null = null;
    let changed = 0;
    let batches = 0;
    for (;;) {
      const after: RawBuilder<unknown> = last === null ? sql`true` : sql`id > ${last}::bigint`;
      const { rows } = await sql<{ last: string | null; n: number }>`
        WITH bound AS (SELECT id FROM ${table} WHERE ${after} ${overMatching ? sql`AND price IS NULL` : sql``} ORDER BY id LIMIT ${batchSize}),
             upper AS (SELECT max(id) AS m FROM bound),
             changed AS (UPDATE ${table} SET price = 0 WHERE ${after} AND id <= (SELECT m FROM upper) AND price IS NULL RETURNING 1)
        SELECT (SELECT m FROM upper)::text AS last, (SELECT count(*) FROM changed)::int AS n`.execute(db);
      batches += 1;
      const row: { last: string | null; n: number } = rows[0]!;
      if (row.last === null) break;
      last = row.last;
      changed += row.n;
    }
    return { seconds: (performance.now() - started) / 1000, changed, batches };
  } finally {
    await close();
  }
}

/** The ceiling: one UPDATE of every matching row, one transaction. */
export async function plainUpdate(url: string): Promise<LoopResult> {
  const { db, close } = open(url);
  try {
    await sql`SELECT 1`.execute(db);
    const started = performance.now();
    const result = await db.updateTable(TABLE).set({ price: '0' }).where('price', 'is', null).executeTakeFirst();
    return { seconds: (performance.now() - started) / 1000, changed: Number(result.numUpdatedRows), batches: 1 };
  } finally {
    await close();
  }
}
