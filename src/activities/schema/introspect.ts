// Small catalog look-ups the steps need at run time, always on the step's own connection so they
// see the step's transaction.
import { sql } from 'kysely';
import { type ColumnDefinition } from '../../core/compensation';
import { type QualifiedName } from '../../core/identifiers';
import { type Db } from '../../db/connect';

export async function indexState(conn: Db, index: QualifiedName): Promise<{ valid: boolean; definition: string; constraintBacked: boolean } | null> {
  const { rows } = await sql<{ valid: boolean; definition: string; constraint_backed: boolean }>`
    SELECT i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS definition,
           EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p','u','x')) AS constraint_backed
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${index.schema} AND c.relname = ${index.name}`.execute(conn);
  const row = rows[0];
  return row ? { valid: row.valid, definition: row.definition, constraintBacked: row.constraint_backed } : null;
}

export async function tableExists(conn: Db, table: QualifiedName): Promise<boolean> {
  const { rows } = await sql<{ present: boolean }>`
    SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = ${table.schema} AND c.relname = ${table.name} AND c.relkind IN ('r','p')) AS present`.execute(conn);
  return rows[0]?.present === true;
}

export async function columnDefinition(conn: Db, table: QualifiedName, column: string): Promise<ColumnDefinition | null> {
  const { rows } = await sql<{ type: string; not_null: boolean; expression: string | null; generated: boolean; identity: string }>`
    SELECT format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS expression,
           a.attgenerated = 's' AS generated, a.attidentity AS identity
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = ${table.schema} AND c.relname = ${table.name} AND a.attname = ${column} AND a.attnum > 0 AND NOT a.attisdropped`.execute(conn);
  const row = rows[0];
  if (!row) return null;
  // A stored generated column's expression lives where a default would; keep them apart.
  return {
    type: row.type,
    notNull: row.not_null,
    defaultExpression: row.generated ? null : row.expression,
    generatedExpression: row.generated ? row.expression : null,
    identity: row.identity === 'a' ? 'always' : row.identity === 'd' ? 'by default' : null,
  };
}

export async function primaryKeyColumns(conn: Db, table: QualifiedName): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT a.attname AS name
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN unnest(k.conkey) WITH ORDINALITY u(attnum, ord) ON true
    JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
    WHERE n.nspname = ${table.schema} AND c.relname = ${table.name} AND k.contype = 'p'
    ORDER BY u.ord`.execute(conn);
  return rows.map((r) => r.name);
}

/**
 * Indexes (not constraint-backed) and constraints that Postgres drops together with a column.
 * Which indexes use the column (keys, expressions, predicate) is read from pg_depend, where Postgres
 * itself looks: matching the name in the expression text would also catch a string literal, e.g.
 * WHERE status = 'active' when dropping a column `active`, and the undo would then try to
 * create an index that still exists.
 */
export async function objectsOnColumn(conn: Db, table: QualifiedName, column: string): Promise<{ indexes: string[]; constraints: { name: string; definition: string }[] }> {
  const indexes = await sql<{ definition: string }>`
    SELECT pg_get_indexdef(i.indexrelid) AS definition
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = ${column}
    WHERE n.nspname = ${table.schema} AND c.relname = ${table.name}
      AND (a.attnum = ANY (i.indkey::int2[])
           OR EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                        AND d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid AND d.refobjsubid = a.attnum))
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`.execute(conn);
  const constraints = await sql<{ name: string; definition: string }>`
    SELECT k.conname AS name, pg_get_constraintdef(k.oid) AS definition
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = ${column}
    WHERE n.nspname = ${table.schema} AND c.relname = ${table.name} AND a.attnum = ANY (k.conkey)
      AND k.contype IN ('c','u','f','x')
    ORDER BY k.conname`.execute(conn);
  return { indexes: indexes.rows.map((r) => r.definition), constraints: constraints.rows };
}

/** Foreign keys from other tables and views that would stop a DROP TABLE. */
export async function dependentsOfTable(conn: Db, table: QualifiedName): Promise<string[]> {
  const { rows } = await sql<{ what: string }>`
    WITH target AS (
      SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${table.schema} AND c.relname = ${table.name})
    SELECT format('foreign key %s on %s', k.conname, k.conrelid::regclass) AS what
    FROM pg_constraint k, target WHERE k.contype = 'f' AND k.confrelid = target.oid AND k.conrelid <> target.oid
    UNION ALL
    SELECT DISTINCT format('view %s', r.ev_class::regclass)
    FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid, target
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = target.oid AND r.ev_class <> target.oid`.execute(conn);
  return rows.map((r) => r.what);
}
