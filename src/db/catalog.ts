// A read-only view of the user's schema: what the plan checker simulates steps against, and what
// tests compare before and after a migration. Our own schemas are excluded.
import { sql } from 'kysely';
import { type Db } from './connect';

export interface CatalogColumn {
  name: string;
  type: string;
  notNull: boolean;
  defaultExpression: string | null;
}

export interface CatalogIndex {
  schema: string;
  name: string;
  table: string;
  definition: string;
  valid: boolean;
  /** True when the index backs a primary key, unique or exclusion constraint. */
  constraintBacked: boolean;
}

export interface CatalogConstraint {
  name: string;
  type: 'p' | 'u' | 'f' | 'c' | 'x' | 't' | 'n';
  definition: string;
  validated: boolean;
}

export interface CatalogTable {
  schema: string;
  name: string;
  columns: CatalogColumn[];
  constraints: CatalogConstraint[];
  primaryKey: string[];
  estimatedRows: number;
}

export interface Catalog {
  tables: CatalogTable[];
  indexes: CatalogIndex[];
}

const EXCLUDED_SCHEMAS = sql`('pg_catalog','information_schema','pg_toast','stockrx_migrate','stockrx_migrate_backup')`;

export async function readCatalog(db: Db): Promise<Catalog> {
  const tables = await sql<{ schema: string; name: string; oid: number; estimated_rows: number }>`
    SELECT n.nspname AS schema, c.relname AS name, c.oid::int AS oid, greatest(c.reltuples, 0)::float8 AS estimated_rows
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ${EXCLUDED_SCHEMAS} AND n.nspname NOT LIKE 'pg_temp%'
    ORDER BY 1, 2`.execute(db);

  const columns = await sql<{ oid: number; name: string; type: string; not_null: boolean; default_expression: string | null }>`
    SELECT a.attrelid::int AS oid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
           a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default_expression
    FROM pg_attribute a
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r','p') AND n.nspname NOT IN ${EXCLUDED_SCHEMAS}
    ORDER BY a.attrelid, a.attnum`.execute(db);

  const constraints = await sql<{ oid: number; name: string; type: CatalogConstraint['type']; definition: string; validated: boolean; key_columns: string[] | null }>`
    SELECT k.conrelid::int AS oid, k.conname AS name, k.contype AS type, pg_get_constraintdef(k.oid) AS definition,
           k.convalidated AS validated,
           (SELECT array_agg(a.attname ORDER BY u.ord) FROM unnest(k.conkey) WITH ORDINALITY u(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum) AS key_columns
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ${EXCLUDED_SCHEMAS}
    ORDER BY k.conrelid, k.conname`.execute(db);

  const indexes = await sql<{ schema: string; name: string; table: string; definition: string; valid: boolean; constraint_backed: boolean }>`
    SELECT n.nspname AS schema, ic.relname AS name, tc.relname AS "table", pg_get_indexdef(i.indexrelid) AS definition,
           i.indisvalid AS valid, EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p','u','x')) AS constraint_backed
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = ic.relnamespace
    WHERE n.nspname NOT IN ${EXCLUDED_SCHEMAS}
    ORDER BY 1, 2`.execute(db);

  return {
    tables: tables.rows.map((t) => {
      const own = constraints.rows.filter((k) => k.oid === t.oid);
      return {
        schema: t.schema,
        name: t.name,
        estimatedRows: Number(t.estimated_rows),
        columns: columns.rows
          .filter((c) => c.oid === t.oid)
          .map((c) => ({ name: c.name, type: c.type, notNull: c.not_null, defaultExpression: c.default_expression })),
        constraints: own.map((k) => ({ name: k.name, type: k.type, definition: k.definition, validated: k.validated })),
        primaryKey: own.find((k) => k.type === 'p')?.key_columns ?? [],
      };
    }),
    indexes: indexes.rows.map((i) => ({
      schema: i.schema,
      name: i.name,
      table: i.table,
      definition: i.definition,
      valid: i.valid,
      constraintBacked: i.constraint_backed,
    })),
  };
}
