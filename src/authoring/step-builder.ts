// The `m` in `steps: (m) => [...]`. Each method returns a step *spec*: the plan step without its
// index, plus any problems found while building it. Problems are collected rather than thrown so
// the planner can report them with the file name and the step number, which the builder
// does not know.
import {
  type ColumnDefinitionBuilder,
  type CreateTableBuilder,
} from 'kysely';
import { createHash } from 'node:crypto';
import {
  boundedName,
  formatQualifiedName,
  identifierProblem,
  parseQualifiedName,
  qualifiedNameProblem,
  type QualifiedName,
} from '../core/identifiers';
import { type ForeignKeyAction, type StepPlan } from '../core/plan';
import { createDataStepBuilder } from './data-step-builder';
import { schemaCompiler } from './schema-compiler';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export type StepSpec = DistributiveOmit<StepPlan, 'index'> & { problems?: string[] };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see AnyKysely
type AnyCreateTableBuilder = CreateTableBuilder<any, any>;
/** A Postgres type name such as 'integer' or 'varchar(255)', or kysely's sql`...` for anything else. */
export type ColumnType = Parameters<ReturnType<ReturnType<typeof schemaCompiler>['schema']['alterTable']>['addColumn']>[1];

export interface AddIndexOptions {
  name?: string;
  unique?: boolean;
  /** Partial index predicate (SQL). */
  where?: string;
  /** Build without blocking writes (default true). Set false only for small or new tables. */
  concurrently?: boolean;
}

export interface AddForeignKeyOptions {
  /** Referenced column, default `id`. */
  column?: string;
  name?: string;
  onDelete?: ForeignKeyAction;
  onUpdate?: ForeignKeyAction;
}

export interface SqlStepOptions {
  up: string;
  /** The statement that undoes `up`. Required unless `irreversible: true`. */
  down?: string;
  irreversible?: boolean;
  /** Default true. Set false for statements Postgres refuses inside a transaction. */
  transaction?: boolean;
  label?: string;
}

const FK_ACTIONS: readonly ForeignKeyAction[] = ['no action', 'restrict', 'cascade', 'set null', 'set default'];

function problemsOf(...checks: (string | null)[]): string[] | undefined {
  const problems = checks.filter((p): p is string => p !== null);
  return problems.length > 0 ? problems : undefined;
}

function safeTable(value: unknown): { name: QualifiedName; problem: string | null } {
  const problem = qualifiedNameProblem(value);
  return { name: parseQualifiedName(typeof value === 'string' ? value : String(value)), problem };
}

/** Derived names are shortened with a stable hash (Postgres would silently truncate them). */
function defaultName(natural: string): string {
  return boundedName(natural, (text) => createHash('sha256').update(text).digest('hex'));
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function createSchemaStepBuilder() {
  return {
    createTable(table: string, build: (t: AnyCreateTableBuilder) => AnyCreateTableBuilder): StepSpec {
      const { name, problem } = safeTable(table);
      const label = `createTable ${formatQualifiedName(name)}`;
      if (problem) return { kind: 'createTable', label, table: name, columns: [], sql: '', problems: [problem] };
      try {
        const builder = build(schemaCompiler().schema.withSchema(name.schema).createTable(name.name));
        const node = builder.toOperationNode();
        const columns = node.columns.map((c) => c.column.column.name);
        const columnProblems = columns.map(identifierProblem);
        return {
          kind: 'createTable',
          label,
          table: name,
          columns,
          sql: builder.compile().sql,
          problems: problemsOf(...columnProblems, columns.length === 0 ? 'the table has no columns' : null),
        };
      } catch (error) {
        return { kind: 'createTable', label, table: name, columns: [], sql: '', problems: [`building the table failed: ${describeError(error)}`] };
      }
    },

    dropTable(table: string): StepSpec {
      const { name, problem } = safeTable(table);
      return { kind: 'dropTable', label: `dropTable ${formatQualifiedName(name)}`, table: name, problems: problemsOf(problem) };
    },

    addColumn(
      table: string,
      column: string,
      type: ColumnType,
      build: (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder = (c) => c,
    ): StepSpec {
      const { name, problem } = safeTable(table);
      const label = `addColumn ${formatQualifiedName(name)}.${String(column)}`;
      const columnProblem = identifierProblem(column);
      if (problem || columnProblem) {
        return { kind: 'addColumn', label, table: name, column, sql: '', problems: problemsOf(problem, columnProblem) };
      }
      try {
        const sql = schemaCompiler()
          .schema.withSchema(name.schema)
          .alterTable(name.name)
          .addColumn(column, type, build)
          .compile().sql;
        return { kind: 'addColumn', label, table: name, column, sql };
      } catch (error) {
        return { kind: 'addColumn', label, table: name, column, sql: '', problems: [`building the column failed: ${describeError(error)}`] };
      }
    },

    dropColumn(table: string, column: string): StepSpec {
      const { name, problem } = safeTable(table);
      return {
        kind: 'dropColumn',
        label: `dropColumn ${formatQualifiedName(name)}.${String(column)}`,
        table: name,
        column,
        problems: problemsOf(problem, identifierProblem(column)),
      };
    },

    renameColumn(table: string, from: string, to: string): StepSpec {
      const { name, problem } = safeTable(table);
      return {
        kind: 'renameColumn',
        label: `renameColumn ${formatQualifiedName(name)}.${String(from)} → ${String(to)}`,
        table: name,
        from,
        to,
        problems: problemsOf(problem, identifierProblem(from), identifierProblem(to)),
      };
    },

    addIndex(table: string, columns: string | string[], options: AddIndexOptions = {}): StepSpec {
      const { name: tableName, problem } = safeTable(table);
      const cols = Array.isArray(columns) ? columns : [columns];
      const name = options.name ?? defaultName(`${tableName.name}_${cols.join('_')}_idx`);
      return {
        kind: 'addIndex',
        label: `addIndex ${formatQualifiedName(tableName)}(${cols.join(', ')})`,
        table: tableName,
        columns: cols,
        name,
        unique: options.unique ?? false,
        where: options.where ?? null,
        concurrently: options.concurrently ?? true,
        problems: problemsOf(
          problem,
          cols.length === 0 ? 'an index needs at least one column' : null,
          ...cols.map(identifierProblem),
          identifierProblem(name),
        ),
      };
    },

    dropIndex(index: string, options: { concurrently?: boolean } = {}): StepSpec {
      const { name, problem } = safeTable(index);
      return {
        kind: 'dropIndex',
        label: `dropIndex ${formatQualifiedName(name)}`,
        indexName: name,
        concurrently: options.concurrently ?? true,
        problems: problemsOf(problem),
      };
    },

    addForeignKey(table: string, column: string, refTable: string, options: AddForeignKeyOptions = {}): StepSpec {
      const { name: tableName, problem } = safeTable(table);
      const { name: refName, problem: refProblem } = safeTable(refTable);
      const refColumn = options.column ?? 'id';
      const name = options.name ?? defaultName(`${tableName.name}_${column}_fkey`);
      const onDelete = options.onDelete ?? 'no action';
      const onUpdate = options.onUpdate ?? 'no action';
      return {
        kind: 'addForeignKey',
        label: `addForeignKey ${formatQualifiedName(tableName)}.${String(column)} → ${formatQualifiedName(refName)}.${refColumn}`,
        table: tableName,
        column,
        refTable: refName,
        refColumn,
        name,
        onDelete,
        onUpdate,
        problems: problemsOf(
          problem,
          refProblem,
          identifierProblem(column),
          identifierProblem(refColumn),
          identifierProblem(name),
          FK_ACTIONS.includes(onDelete) ? null : `onDelete must be one of ${FK_ACTIONS.join(', ')}`,
          FK_ACTIONS.includes(onUpdate) ? null : `onUpdate must be one of ${FK_ACTIONS.join(', ')}`,
        ),
      };
    },

    sql(options: SqlStepOptions): StepSpec {
      const up = typeof options?.up === 'string' ? options.up.trim() : '';
      const down = typeof options?.down === 'string' && options.down.trim() !== '' ? options.down.trim() : null;
      const irreversible = options?.irreversible === true;
      const firstLine = up.split('\n')[0] ?? '';
      return {
        kind: 'sql',
        label: options?.label ?? `sql ${firstLine.length > 60 ? `${firstLine.slice(0, 57)}...` : firstLine}`,
        up,
        down: irreversible ? null : down,
        irreversible,
        transaction: options?.transaction ?? true,
        problems: problemsOf(
          up === '' ? 'sql() needs a non-empty `up` statement' : null,
          !irreversible && down === null
            ? 'sql() needs a `down` statement that undoes `up`; if it truly cannot be undone, pass `irreversible: true` (then `down` past this migration is refused)'
            : null,
        ),
      };
    },
  };
}

/** The `m` argument of `steps: (m) => [...]`: schema steps and data steps. */
export function createStepBuilder() {
  return { ...createSchemaStepBuilder(), ...createDataStepBuilder() };
}

export type StepBuilder = ReturnType<typeof createStepBuilder>;
