// What a data step needs to know about its table: the primary key (keyset pagination and the
// backup's key) and the columns with their exact types (typed backups restore exactly).
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { formatQualifiedName, type QualifiedName } from '../../core/identifiers';
import { type Db } from '../../db/connect';

export interface ColumnShape {
  name: string;
  type: string;
  /** GENERATED ALWAYS AS (…) STORED: never written, never restored. */
  generated: boolean;
  /** GENERATED ALWAYS AS IDENTITY: restoring needs OVERRIDING SYSTEM VALUE. */
  identityAlways: boolean;
}

export interface TableShape {
  key: ColumnShape[];
  columns: ColumnShape[];
}

export async function readTableShape(conn: Db, table: QualifiedName): Promise<TableShape> {
  const { rows } = await sql<{ name: string; type: string; generated: boolean; identity_always: boolean; key_position: number | null }>`
    SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attgenerated <> '' AS generated,
           a.attidentity = 'a' AS identity_always,
           (SELECT u.ord::int FROM pg_constraint k, unnest(k.conkey) WITH ORDINALITY u(attnum, ord)
             WHERE k.conrelid = c.oid AND k.contype = 'p' AND u.attnum = a.attnum) AS key_position
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${table.schema} AND c.relname = ${table.name} AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum`.execute(conn);
  if (rows.length === 0) {
    throw ApplicationFailure.create({ message: `table ${formatQualifiedName(table)} does not exist`, type: 'StepRefused', nonRetryable: true });
  }
  const columns = rows.map((r) => ({ name: r.name, type: r.type, generated: r.generated, identityAlways: r.identity_always }));
  const key = rows
    .filter((r) => r.key_position !== null)
    .sort((a, b) => a.key_position! - b.key_position!)
    .map((r) => columns.find((c) => c.name === r.name)!);
  if (key.length === 0) {
    throw ApplicationFailure.create({
      message: `table ${formatQualifiedName(table)} has no primary key: batches page by primary key and backups are keyed by it; add one first`,
      type: 'StepRefused',
      nonRetryable: true,
    });
  }
  return { key, columns };
}

/** Columns that can be written back (not generated). */
export function writableColumns(shape: TableShape): ColumnShape[] {
  return shape.columns.filter((c) => !c.generated);
}
