// Post-conditions of a migration (the seed's run_custom_validations). All are checked and every
// failure is reported at once, then the migration fails and is compensated.
import { ApplicationFailure } from '@temporalio/common';
import { CompiledQuery, sql } from 'kysely';
import { formatQualifiedName, quoteQualified } from '../core/identifiers';
import { type MigrationPlan, type ValidationPlan } from '../core/plan';
import { type Db } from '../db/connect';
import { type MigrationRegistry } from './migration-registry';

async function failureOf(db: Db, plan: MigrationPlan, validation: ValidationPlan, registry: MigrationRegistry, log: (m: string, f?: Record<string, unknown>) => void): Promise<string | null> {
  switch (validation.kind) {
    case 'foreignKeyExists': {
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM pg_constraint k
        WHERE k.contype = 'f' AND k.conrelid = to_regclass(${quoteQualified(validation.table)})
          AND k.confrelid = to_regclass(${quoteQualified(validation.refTable)})
          AND (${validation.column}::text IS NULL OR EXISTS (
            SELECT 1 FROM pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) AND a.attname = ${validation.column}))`.execute(db);
      return rows[0]!.n > 0 ? null : `no foreign key from ${formatQualifiedName(validation.table)} to ${formatQualifiedName(validation.refTable)}`;
    }
    case 'indexExists': {
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = to_regclass(${quoteQualified(validation.table)}) AND i.indisvalid
          AND (${validation.name}::text IS NULL OR c.relname = ${validation.name})
          AND (${validation.columns === null}::boolean OR ARRAY(
            SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY u(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum ORDER BY u.ord) = ${validation.columns ?? []}::text[])`.execute(db);
      return rows[0]!.n > 0 ? null : `no valid index on ${formatQualifiedName(validation.table)}(${validation.columns?.join(', ') ?? validation.name})`;
    }
    case 'noRows': {
      // `where` is authored SQL from the migration file; its values are bound parameters.
      const { rows } = await db.executeQuery(
        CompiledQuery.raw(`SELECT count(*)::int AS n FROM ${quoteQualified(validation.table)} WHERE ${validation.where}`, validation.parameters),
      );
      const n = (rows[0] as { n: number }).n;
      return n === 0 ? null : `found ${n} rows in ${formatQualifiedName(validation.table)} where ${validation.where}`;
    }
    case 'check': {
      const migration = await registry.load(plan.file);
      const handler = migration.handlers?.[validation.handler];
      if (typeof handler !== 'function') return `handler ${validation.handler} is missing`;
      try {
        const result = await handler({ db, log }, { db, log });
        if (result === false) return `check ${validation.handler} returned false`;
        if (typeof result === 'string') return `check ${validation.handler}: ${result}`;
        return null;
      } catch (error) {
        return `check ${validation.handler} threw: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
  }
}

export async function runValidations(db: Db, plan: MigrationPlan, registry: MigrationRegistry, log: (m: string, f?: Record<string, unknown>) => void): Promise<void> {
  const failures: string[] = [];
  for (const validation of plan.validations) {
    const failure = await failureOf(db, plan, validation, registry, log);
    if (failure) failures.push(failure);
  }
  if (failures.length > 0) {
    throw ApplicationFailure.create({
      message: `validation failed for ${plan.id}: ${failures.join('; ')}`,
      type: 'ValidationFailed',
      nonRetryable: true,
    });
  }
}
