// "The database equals its pre-up snapshot": the user schema's catalog (tables, columns, indexes,
// constraints; column order ignored, since Postgres cannot put a re-added column back in place)
// plus an md5 of every table's rows in key order.
import pg from 'pg';
import { readCatalog } from '../../src/db/catalog';
import { openTargetDatabase } from '../../src/db/connect';

export interface DatabaseSnapshot {
  catalog: unknown;
  data: Record<string, string>;
}

export async function snapshotDatabase(url: string): Promise<DatabaseSnapshot> {
  const target = openTargetDatabase(url, { max: 2 });
  try {
    const catalog = await readCatalog(target.db);
    const tables = catalog.tables.map((t) => ({
      schema: t.schema,
      name: t.name,
      columns: [...t.columns].sort((a, b) => a.name.localeCompare(b.name)),
      constraints: t.constraints,
      primaryKey: t.primaryKey,
    }));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const data: Record<string, string> = {};
    try {
      for (const t of catalog.tables) {
        const columns = [...t.columns].map((c) => c.name).sort();
        const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
        const rowExpr = `json_build_array(${columns.map(q).join(', ')})::text`;
        const { rows } = await client.query<{ md5: string | null; n: string }>(
          `SELECT md5(string_agg(${rowExpr}, E'\\n' ORDER BY ${rowExpr})) AS md5, count(*) AS n FROM ${q(t.schema)}.${q(t.name)}`,
        );
        data[`${t.schema}.${t.name}`] = `${rows[0]!.n}:${rows[0]!.md5 ?? 'empty'}`;
      }
    } finally {
      await client.end();
    }
    return { catalog: { tables, indexes: catalog.indexes }, data };
  } finally {
    await target.close();
  }
}
