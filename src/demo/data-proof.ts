// What the demo shows around the example data migrations: the rows they were meant to change,
// counted before and after, and the rows the per-record migration could not process (recorded in
// stockrx_migrate.row_errors, never silently dropped). Read with plain SQL, independent of the
// framework's own progress figures, so the numbers check the framework rather than repeat it.
import { sql } from 'kysely';
import { columnDefinition, tableExists } from '../activities/schema/introspect';
import { type Db } from '../db/connect';

export interface DataProof {
  nullPrices: number;
  discontinued: number;
  /** Discontinued rows per disposition; empty before the migration added the column. */
  dispositions: Record<string, number>;
  warehouses: number;
  /** Rows eachBatch recorded as failed, for the given migration. */
  rowErrors: number;
  /** One recorded error, to show what an operator sees. */
  sampleError: string | null;
}

export async function readDataProof(db: Db, eachBatchMigrationId: string): Promise<DataProof> {
  const { rows: [counts] } = await sql<{ null_prices: number; discontinued: number }>`
    SELECT count(*) FILTER (WHERE price IS NULL)::int AS null_prices, count(*) FILTER (WHERE status = 'discontinued')::int AS discontinued
    FROM inventories`.execute(db);
  const dispositions: Record<string, number> = {};
  if ((await columnDefinition(db, { schema: 'public', name: 'inventories' }, 'disposition')) !== null) {
    const { rows } = await sql<{ disposition: string | null; n: number }>`
      SELECT disposition, count(*)::int AS n FROM inventories WHERE status = 'discontinued' GROUP BY 1 ORDER BY 1 NULLS LAST`.execute(db);
    for (const row of rows) dispositions[row.disposition ?? '(none)'] = row.n;
  }
  const warehouses = (await tableExists(db, { schema: 'public', name: 'warehouses' }))
    ? Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM warehouses`.execute(db)).rows[0]?.n ?? 0)
    : 0;
  let rowErrors = 0;
  let sampleError: string | null = null;
  if (await tableExists(db, { schema: 'stockrx_migrate', name: 'row_errors' })) {
    const { rows } = await sql<{ n: number; sample: string | null }>`
      SELECT count(*)::int AS n, min(row_key::text || ': ' || error) AS sample FROM stockrx_migrate.row_errors WHERE migration_id = ${eachBatchMigrationId}`.execute(db);
    rowErrors = rows[0]?.n ?? 0;
    sampleError = rows[0]?.sample ?? null;
  }
  return { nullPrices: counts?.null_prices ?? 0, discontinued: counts?.discontinued ?? 0, dispositions, warehouses, rowErrors, sampleError };
}
