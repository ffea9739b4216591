// The benchmark table: a deterministic `inventories` of N rows where every second row (even ids)
// has `price IS NULL`, i.e. matches the migration's `where`. Recreated before every variant by
// the same generator, then vacuumed, analysed and checkpointed, so each variant starts from the
// same physical state (hint bits set, visibility map current, no pending full-page writes).
import pg from 'pg';

export const TABLE = 'inventories';

/** B2's foreground: pgbench's tpcb-like plus a read and an update of a random inventories row (run with -D scale=…). */
export const inventoryForegroundScript = (inventoryRows: number): string => `\\set aid random(1, 100000 * :scale)
\\set bid random(1, 1 * :scale)
\\set tid random(1, 10 * :scale)
\\set iid random(1, ${inventoryRows})
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
SELECT quantity FROM ${TABLE} WHERE id = :iid;
UPDATE ${TABLE} SET quantity = quantity + 1 WHERE id = :iid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
`;

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Drops the table, the framework's journal rows and backups, and regenerates the table. */
export async function resetInventories(url: string, rows: number): Promise<void> {
  await withClient(url, async (c) => {
    // The journal schema stays (a running worker remembers it created it); its rows and the
    // backups of earlier variants go.
    const { rows: backups } = await c.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = 'stockrx_migrate_backup'`,
    );
    for (const b of backups) await c.query(`DROP TABLE ${b.name}`);
    const { rows: journal } = await c.query(`SELECT 1 FROM pg_tables WHERE schemaname = 'stockrx_migrate' AND tablename = 'migrations'`);
    if (journal.length > 0) {
      await c.query('DELETE FROM stockrx_migrate.row_errors');
      await c.query('DELETE FROM stockrx_migrate.migrations');
    }
    await c.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await c.query(`
      CREATE TABLE ${TABLE} (
        id bigint PRIMARY KEY,
        name text NOT NULL,
        status text NOT NULL,
        price numeric(12,2),
        quantity integer NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await c.query(
      `INSERT INTO ${TABLE} (id, name, status, price, quantity, updated_at)
       SELECT g, 'item ' || g, CASE WHEN g % 3 = 0 THEN 'archived' ELSE 'active' END,
              CASE WHEN g % 2 = 0 THEN NULL ELSE (g % 10000) / 100.0 END,
              g % 500, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second'
       FROM generate_series(1, $1::bigint) g`,
      [rows],
    );
  });
  await settle(url);
}

/** VACUUM cannot run in a transaction block; CHECKPOINT makes the next writes pay the same FPIs. */
export async function settle(url: string): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(`VACUUM (ANALYZE) ${TABLE}`);
    await c.query(`VACUUM`); // the journal's dead rows too
    await c.query('CHECKPOINT');
  });
}

export interface TableCheck {
  nullPrices: number;
  zeroPrices: number;
}

export async function checkInventories(url: string): Promise<TableCheck> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ nulls: string; zeros: string }>(
      `SELECT count(*) FILTER (WHERE price IS NULL) AS nulls, count(*) FILTER (WHERE price = 0) AS zeros FROM ${TABLE}`,
    );
    return { nullPrices: Number(rows[0]!.nulls), zeroPrices: Number(rows[0]!.zeros) };
  });
}

/** Load-control settings that keep every signal from pausing the step or changing its pace. */
export const NO_CRITICAL_PAUSE = {
  latencyBudget: 1000,
  canaryCritical: 1e9,
  cpuThreshold: 99,
  cpuCritical: 100,
  memoryCritical: 100,
  activeBackendsThreshold: 1e6,
  activeBackendsCritical: 1e9,
  lockWaitersThreshold: 1e6,
  lockWaitersCritical: 1e9,
  queryTimeThresholdMs: 1e9,
  targetBatchMs: 1e8,
} as const;

/** Source of the benchmark migration: `updateRecords` with batch size and pause pinned. */
export function updateMigrationSource(opts: { batchSize: number; backup: boolean; canary?: boolean; extraLoadControl?: Record<string, number> }): string {
  const loadControl = {
    initialBatchSize: opts.batchSize,
    minBatchSize: opts.batchSize,
    maxBatchSize: opts.batchSize,
    sleepMs: 0,
    minSleepMs: 0,
    maxSleepMs: 0,
    // Pinned means pinned: no critical pause either (the canary, host and database thresholds
    // stay measured and reported, but cannot stop the step). B1 measures the batch machinery's
    // throughput at a fixed setting; what the controller does under load is B2's subject.
    ...NO_CRITICAL_PAUSE,
    // With batch and pause pinned and no critical pause, nothing reads the canary: latencyBudget 0
    // switches it off, as a user pacing a run by hand would (canary: true keeps it measuring).
    ...(opts.canary ? {} : { latencyBudget: 0 }),
    ...opts.extraLoadControl,
  };
  return `import { defineMigration } from 'stockrx-migrate';

export default defineMigration({
  description: 'benchmark: set missing prices to 0',
  loadControl: ${JSON.stringify(loadControl)},
  steps: (m) => [m.updateRecords('${TABLE}', { where: { price: null }, set: { price: 0 }${opts.backup ? '' : ', backup: false'} })],
});
`;
}

/** Source with the controller's defaults (B2, B3): only what the caller passes. */
export function adaptiveMigrationSource(opts: { loadControl?: Record<string, number>; backup?: boolean }): string {
  return `import { defineMigration } from 'stockrx-migrate';

export default defineMigration({
  description: 'benchmark: set missing prices to 0',
  ${opts.loadControl ? `loadControl: ${JSON.stringify(opts.loadControl)},` : ''}
  steps: (m) => [m.updateRecords('${TABLE}', { where: { price: null }, set: { price: 0 }${opts.backup === false ? ', backup: false' : ''} })],
});
`;
}

/** Rows in the framework's backup tables (the updateRecords backup: one row per changed row). */
export async function backupRows(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ name: string }>(`SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = 'stockrx_migrate_backup'`);
    let total = 0;
    for (const r of rows) total += Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${r.name}`)).rows[0]!.n);
    return total;
  });
}
