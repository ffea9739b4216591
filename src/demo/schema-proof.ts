// "The database is as it was before": what the demo shows around its failing migration. A
// fingerprint of the user schema (tables, columns, indexes with validity, constraints; column
// order ignored, estimated row counts ignored) and of the inventories rows.
import { sql } from 'kysely';
import { readCatalog } from '../db/catalog';
import { type Db } from '../db/connect';

export interface SchemaProof {
  tables: string[];
  /** inventories columns in table order. */
  columns: string[];
  /** inventories indexes; an INVALID one (a failed CONCURRENTLY build) is marked. */
  indexes: string[];
  constraints: string[];
  rows: number;
  /** md5 over every inventories row in id order. */
  dataChecksum: string;
  /** Everything compared, as one canonical string. */
  fingerprint: string;
}

export async function readSchemaProof(db: Db, table = 'inventories'): Promise<SchemaProof> {
  const catalog = await readCatalog(db);
  const tables = catalog.tables.map((t) => `${t.schema === 'public' ? '' : `${t.schema}.`}${t.name}`);
  const target = catalog.tables.find((t) => t.schema === 'public' && t.name === table);
  const indexes = catalog.indexes
    .filter((i) => i.schema === 'public' && i.table === table)
    .map((i) => `${i.name}${i.valid ? '' : ' (INVALID)'}`);
  const { rows } = await sql<{ n: string; md5: string | null }>`
    SELECT count(*) AS n, md5(string_agg(t::text, E'\n' ORDER BY t.id)) AS md5 FROM ${sql.table(table)} AS t`.execute(db);
  const canonical = {
    tables: catalog.tables.map((t) => ({
      schema: t.schema,
      name: t.name,
      columns: [...t.columns].sort((a, b) => a.name.localeCompare(b.name)),
      constraints: t.constraints,
      primaryKey: t.primaryKey,
    })),
    indexes: catalog.indexes,
  };
  return {
    tables,
    columns: target?.columns.map((c) => c.name) ?? [],
    indexes,
    constraints: target?.constraints.map((c) => c.name) ?? [],
    rows: Number(rows[0]?.n ?? 0),
    dataChecksum: rows[0]?.md5 ?? 'empty',
    fingerprint: JSON.stringify(canonical),
  };
}

export function describeProof(proof: SchemaProof, table = 'inventories'): string[] {
  return [
    `tables:  ${proof.tables.join(', ')}`,
    `${table} columns: ${proof.columns.join(', ')}`,
    `${table} indexes: ${proof.indexes.join(', ')}`,
    `${table} rows:    ${proof.rows} (data md5 ${proof.dataChecksum.slice(0, 12)}…)`,
  ];
}

export function sameProof(a: SchemaProof, b: SchemaProof): boolean {
  return a.fingerprint === b.fingerprint && a.rows === b.rows && a.dataChecksum === b.dataChecksum;
}
