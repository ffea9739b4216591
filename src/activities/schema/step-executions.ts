// What each schema step does and how it is undone. A step runs either inside one transaction with
// its journal record (so it is applied exactly once, whatever crashes), or — for statements
// Postgres refuses in a transaction, like CREATE INDEX CONCURRENTLY — as an idempotent statement
// preceded by an "intent" record holding its compensation, so even a half-done step is undone.
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { type CompensationAction } from '../../core/compensation';
import { formatQualifiedName, quoteIdent, quoteQualified } from '../../core/identifiers';
import { type SchemaStep } from '../../core/plan';
import { type Db } from '../../db/connect';
import { addForeignKeySql, backupName, concurrentIndexDefinition, createIndexSql } from './sql-text';
import { columnDefinition, dependentsOfTable, indexState, objectsOnColumn, primaryKeyColumns, tableExists } from './introspect';

export type StepExecution =
  | {
      mode: 'transaction';
      apply(trx: Db): Promise<CompensationAction>;
      /** Idempotent follow-up outside the transaction (e.g. VALIDATE CONSTRAINT), run on every attempt. */
      finish?(conn: Db): Promise<void>;
    }
  | {
      mode: 'outside';
      /** Captures the compensation before anything changes. */
      prepare(conn: Db): Promise<CompensationAction>;
      /** Must be idempotent: it may run again after a crash. */
      execute(conn: Db): Promise<void>;
      /** False for statements whose lock does not block traffic (CONCURRENTLY). */
      useLockTimeout: boolean;
    };

function refuse(message: string): never {
  throw ApplicationFailure.create({ message, type: 'StepRefused', nonRetryable: true });
}

async function exec(conn: Db, text: string): Promise<void> {
  await sql.raw(text).execute(conn);
}

/** Builds a concurrent index idempotently: a valid one is kept, an INVALID leftover rebuilt. */
export async function buildIndexConcurrently(conn: Db, index: { schema: string; name: string }, createSql: string): Promise<void> {
  const state = await indexState(conn, index);
  if (state?.valid) return;
  if (state) await exec(conn, `DROP INDEX CONCURRENTLY IF EXISTS ${quoteQualified(index)}`);
  await exec(conn, createSql);
}

export function executionFor(step: SchemaStep, migrationId: string): StepExecution {
  // Exhaustive over schema steps; data steps run through activities/data.
  switch (step.kind) {
    case 'createTable':
      return {
        mode: 'transaction',
        async apply(trx) {
          await exec(trx, step.sql);
          return { kind: 'dropTable', table: step.table };
        },
      };

    case 'dropTable':
      return {
        mode: 'transaction',
        async apply(trx) {
          if (!(await tableExists(trx, step.table))) refuse(`table ${formatQualifiedName(step.table)} does not exist`);
          const dependents = await dependentsOfTable(trx, step.table);
          if (dependents.length > 0) {
            refuse(`table ${formatQualifiedName(step.table)} is still used by ${dependents.join(', ')}; drop those first in an earlier step`);
          }
          // The table is moved aside, not dropped, so `down` can bring it back with its data,
          // indexes, constraints and owned sequences exactly as they were.
          const archived = backupName('t', migrationId, step.index, step.table.name);
          await exec(trx, `ALTER TABLE ${quoteQualified(step.table)} RENAME TO ${quoteIdent(archived.name)}`);
          await exec(trx, `ALTER TABLE ${quoteQualified({ schema: step.table.schema, name: archived.name })} SET SCHEMA ${quoteIdent(archived.schema)}`);
          return { kind: 'restoreTable', table: step.table, archived };
        },
      };

    case 'addColumn':
      return {
        mode: 'transaction',
        async apply(trx) {
          await exec(trx, step.sql);
          return { kind: 'dropColumn', table: step.table, column: step.column };
        },
      };

    case 'dropColumn':
      return {
        mode: 'transaction',
        async apply(trx) {
          const definition = await columnDefinition(trx, step.table, step.column);
          if (!definition) refuse(`column ${formatQualifiedName(step.table)}.${step.column} does not exist`);
          if (definition.identity) {
            refuse(`column ${formatQualifiedName(step.table)}.${step.column} is an identity column; dropping it could not be undone exactly (its sequence state would be lost). Use an sql step with your own down`);
          }
          const key = await primaryKeyColumns(trx, step.table);
          if (key.length === 0) refuse(`table ${formatQualifiedName(step.table)} has no primary key, so the dropped values could not be put back; add one first`);
          if (key.includes(step.column)) refuse(`column ${step.column} is part of the primary key of ${formatQualifiedName(step.table)}`);
          const { indexes, constraints } = await objectsOnColumn(trx, step.table, step.column);
          const backup = backupName('c', migrationId, step.index, step.table.name);
          const keyList = key.map(quoteIdent).join(', ');
          await exec(trx, `DROP TABLE IF EXISTS ${quoteQualified(backup)}`);
          await exec(trx, `CREATE TABLE ${quoteQualified(backup)} AS SELECT ${keyList}, ${quoteIdent(step.column)} FROM ${quoteQualified(step.table)}`);
          await exec(trx, `ALTER TABLE ${quoteQualified(step.table)} DROP COLUMN ${quoteIdent(step.column)}`);
          return { kind: 'restoreColumn', table: step.table, column: step.column, definition, key, backup, indexes, constraints };
        },
      };

    case 'renameColumn':
      return {
        mode: 'transaction',
        async apply(trx) {
          await exec(trx, `ALTER TABLE ${quoteQualified(step.table)} RENAME COLUMN ${quoteIdent(step.from)} TO ${quoteIdent(step.to)}`);
          return { kind: 'renameColumn', table: step.table, from: step.to, to: step.from };
        },
      };

    case 'addIndex': {
      const index = { schema: step.table.schema, name: step.name };
      if (!step.concurrently) {
        return {
          mode: 'transaction',
          async apply(trx) {
            await exec(trx, createIndexSql(step, false));
            return { kind: 'dropIndex', index, concurrently: false };
          },
        };
      }
      return {
        mode: 'outside',
        useLockTimeout: false,
        async prepare() {
          return { kind: 'dropIndex', index, concurrently: true };
        },
        async execute(conn) {
          await buildIndexConcurrently(conn, index, createIndexSql(step, true));
        },
      };
    }

    case 'dropIndex': {
      const capture = async (conn: Db): Promise<CompensationAction> => {
        const state = await indexState(conn, step.indexName);
        if (!state) refuse(`index ${formatQualifiedName(step.indexName)} does not exist`);
        if (state.constraintBacked) refuse(`index ${formatQualifiedName(step.indexName)} backs a constraint; drop the constraint with an sql step instead`);
        return { kind: 'createIndex', index: step.indexName, definition: state.definition, concurrently: step.concurrently };
      };
      if (!step.concurrently) {
        return {
          mode: 'transaction',
          async apply(trx) {
            const compensation = await capture(trx);
            await exec(trx, `DROP INDEX ${quoteQualified(step.indexName)}`);
            return compensation;
          },
        };
      }
      return {
        mode: 'outside',
        useLockTimeout: false,
        prepare: capture,
        async execute(conn) {
          await exec(conn, `DROP INDEX CONCURRENTLY IF EXISTS ${quoteQualified(step.indexName)}`);
        },
      };
    }

    case 'addForeignKey':
      // NOT VALID takes its lock only briefly; VALIDATE then scans without blocking writes.
      return {
        mode: 'transaction',
        async apply(trx) {
          await exec(trx, addForeignKeySql(step));
          return { kind: 'dropConstraint', table: step.table, name: step.name };
        },
        async finish(conn) {
          await exec(conn, `ALTER TABLE ${quoteQualified(step.table)} VALIDATE CONSTRAINT ${quoteIdent(step.name)}`);
        },
      };

    case 'sql': {
      const compensation: CompensationAction = step.irreversible
        ? { kind: 'irreversible', reason: `step ${step.index + 1} (${step.label}) was declared irreversible` }
        : { kind: 'sql', sql: step.down ?? '', transaction: step.transaction };
      if (step.transaction) {
        return {
          mode: 'transaction',
          async apply(trx) {
            await exec(trx, step.up);
            return compensation;
          },
        };
      }
      return {
        mode: 'outside',
        useLockTimeout: true,
        async prepare() {
          return compensation;
        },
        async execute(conn) {
          await exec(conn, step.up);
        },
      };
    }
  }
}

/** The undo of one compensation action, in the same two modes. */
export type UndoExecution =
  | { mode: 'transaction'; apply(trx: Db): Promise<void> }
  | { mode: 'outside'; execute(conn: Db): Promise<void>; useLockTimeout: boolean }
  /** Data steps: restored batch by batch from their backup table (data/restore-rows.ts). */
  | { mode: 'batched' };

export function undoFor(action: CompensationAction): UndoExecution {
  switch (action.kind) {
    case 'dropTable':
      return { mode: 'transaction', apply: (trx) => exec(trx, `DROP TABLE IF EXISTS ${quoteQualified(action.table)}`) };

    case 'restoreTable':
      return {
        mode: 'transaction',
        async apply(trx) {
          if (!(await tableExists(trx, action.archived))) {
            if (await tableExists(trx, action.table)) return; // already restored
            throw ApplicationFailure.create({ message: `the archived copy ${formatQualifiedName(action.archived)} of ${formatQualifiedName(action.table)} is missing`, nonRetryable: true });
          }
          await exec(trx, `ALTER TABLE ${quoteQualified(action.archived)} SET SCHEMA ${quoteIdent(action.table.schema)}`);
          await exec(trx, `ALTER TABLE ${quoteQualified({ schema: action.table.schema, name: action.archived.name })} RENAME TO ${quoteIdent(action.table.name)}`);
        },
      };

    case 'dropColumn':
      return { mode: 'transaction', apply: (trx) => exec(trx, `ALTER TABLE ${quoteQualified(action.table)} DROP COLUMN IF EXISTS ${quoteIdent(action.column)}`) };

    case 'restoreColumn':
      return {
        mode: 'transaction',
        async apply(trx) {
          const table = quoteQualified(action.table);
          const column = quoteIdent(action.column);
          const { definition } = action;
          if (definition.generatedExpression) {
            // A stored generated column is recomputed from its expression: the same values.
            await exec(trx, `ALTER TABLE ${table} ADD COLUMN ${column} ${definition.type} GENERATED ALWAYS AS (${definition.generatedExpression}) STORED`);
          } else {
            const defaultClause = definition.defaultExpression ? ` DEFAULT ${definition.defaultExpression}` : '';
            await exec(trx, `ALTER TABLE ${table} ADD COLUMN ${column} ${definition.type}${defaultClause}`);
            const match = action.key.map((k) => `t.${quoteIdent(k)} = b.${quoteIdent(k)}`).join(' AND ');
            await exec(trx, `UPDATE ${table} AS t SET ${column} = b.${column} FROM ${quoteQualified(action.backup)} AS b WHERE ${match}`);
          }
          if (definition.notNull) await exec(trx, `ALTER TABLE ${table} ALTER COLUMN ${column} SET NOT NULL`);
          for (const index of action.indexes) await exec(trx, index);
          for (const constraint of action.constraints) {
            await exec(trx, `ALTER TABLE ${table} ADD CONSTRAINT ${quoteIdent(constraint.name)} ${constraint.definition}`);
          }
          await exec(trx, `DROP TABLE ${quoteQualified(action.backup)}`);
        },
      };

    case 'renameColumn':
      return {
        mode: 'transaction',
        async apply(trx) {
          if ((await columnDefinition(trx, action.table, action.from)) === null) return; // already renamed back
          await exec(trx, `ALTER TABLE ${quoteQualified(action.table)} RENAME COLUMN ${quoteIdent(action.from)} TO ${quoteIdent(action.to)}`);
        },
      };

    case 'dropIndex':
      return action.concurrently
        ? { mode: 'outside', useLockTimeout: false, execute: (conn) => exec(conn, `DROP INDEX CONCURRENTLY IF EXISTS ${quoteQualified(action.index)}`) }
        : { mode: 'transaction', apply: (trx) => exec(trx, `DROP INDEX IF EXISTS ${quoteQualified(action.index)}`) };

    case 'createIndex':
      return action.concurrently
        ? { mode: 'outside', useLockTimeout: false, execute: (conn) => buildIndexConcurrently(conn, action.index, concurrentIndexDefinition(action.definition)) }
        : {
            mode: 'transaction',
            async apply(trx) {
              if ((await indexState(trx, action.index)) === null) await exec(trx, action.definition);
            },
          };

    case 'dropConstraint':
      return { mode: 'transaction', apply: (trx) => exec(trx, `ALTER TABLE ${quoteQualified(action.table)} DROP CONSTRAINT IF EXISTS ${quoteIdent(action.name)}`) };

    case 'sql':
      return action.transaction
        ? { mode: 'transaction', apply: (trx) => exec(trx, action.sql) }
        : { mode: 'outside', useLockTimeout: true, execute: (conn) => exec(conn, action.sql) };

    case 'restoreUpdatedRows':
    case 'restoreDeletedRows':
    case 'deleteCreatedRows':
      return { mode: 'batched' };

    case 'irreversible':
      return {
        mode: 'transaction',
        apply: async () => {
          throw ApplicationFailure.create({ message: `cannot undo: ${action.reason}`, type: 'Irreversible', nonRetryable: true });
        },
      };
  }
}
