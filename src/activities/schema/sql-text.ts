// SQL text we build ourselves (kysely has no CONCURRENTLY or NOT VALID builders). Identifiers were
// validated as plain names at plan time and are still quoted here.
import { createHash } from 'node:crypto';
import { boundedName, quoteIdent, quoteQualified, type QualifiedName } from '../../core/identifiers';
import { type AddForeignKeyStep, type AddIndexStep } from '../../core/plan';

export function createIndexSql(step: AddIndexStep, concurrently: boolean): string {
  const columns = step.columns.map(quoteIdent).join(', ');
  const where = step.where ? ` WHERE ${step.where}` : '';
  return `CREATE ${step.unique ? 'UNIQUE ' : ''}INDEX ${concurrently ? 'CONCURRENTLY ' : ''}${quoteIdent(step.name)} ON ${quoteQualified(step.table)} (${columns})${where}`;
}

/** `pg_get_indexdef` output made concurrent: it always starts with `CREATE [UNIQUE] INDEX name`. */
export function concurrentIndexDefinition(definition: string): string {
  return definition.replace(/^CREATE (UNIQUE )?INDEX /, 'CREATE $1INDEX CONCURRENTLY ');
}

export function addForeignKeySql(step: AddForeignKeyStep): string {
  return (
    `ALTER TABLE ${quoteQualified(step.table)} ADD CONSTRAINT ${quoteIdent(step.name)} ` +
    `FOREIGN KEY (${quoteIdent(step.column)}) REFERENCES ${quoteQualified(step.refTable)} (${quoteIdent(step.refColumn)}) ` +
    `ON DELETE ${step.onDelete.toUpperCase()} ON UPDATE ${step.onUpdate.toUpperCase()} NOT VALID`
  );
}

/**
 * Name of a backup object for one step of one migration, stable across retries so a re-run finds
 * what an earlier attempt created. The hash of the full migration id keeps two migrations with
 * the same table apart.
 */
export function backupName(prefix: string, migrationId: string, stepIndex: number, table: string): QualifiedName {
  const hash = (text: string) => createHash('sha256').update(text).digest('hex');
  return {
    schema: 'stockrx_migrate_backup',
    name: boundedName(`${prefix}_${hash(migrationId).slice(0, 10)}_${stepIndex}_${table}`, hash),
  };
}
