// Data steps of the `m` builder: updateRecords, deleteRecords, createRecords, eachBatch, and
// `m.raw()` for SQL expressions in `set`. Identifiers are checked as plain names; values stay
// values (bound parameters), never SQL text.
import { createHash } from 'node:crypto';
import { type SetValue, type WhereClause } from '../core/data-plan';
import { formatQualifiedName, identifierProblem, parseQualifiedName, qualifiedNameProblem, quoteIdent } from '../core/identifiers';
import { type StepSpec } from './step-builder';

const RAW = Symbol.for('stockrx-migrate.raw');
/**
 * createRecords keeps its rows under a symbol: they stay out of the JSON plan (and the workflow
 * history, which has a payload size limit); the worker reloads them from the file and checks them
 * against the plan's rowsChecksum.
 */
export const CREATE_RECORDS_ROWS = Symbol.for('stockrx-migrate.rows');

/** An SQL expression for `set`, e.g. `m.raw('price * 1.1')`. Authored SQL: never put user input here. */
export interface RawExpression {
  readonly [RAW]: true;
  readonly sql: string;
}

function isRaw(value: unknown): value is RawExpression {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RAW] === true;
}

/** `{ col: value }` (null → IS NULL, array → IN) or an SQL string with `$1…` and `params`. */
export type WhereInput = string | Record<string, unknown>;

export interface DataStepOptions {
  /** Keep a durable backup so the step can be undone exactly (default true). */
  backup?: boolean;
}

export interface UpdateRecordsOptions extends DataStepOptions {
  where?: WhereInput;
  params?: unknown[];
  set: Record<string, unknown>;
}

export interface DeleteRecordsOptions extends DataStepOptions {
  where: WhereInput;
  params?: unknown[];
}

export interface EachBatchOptions extends DataStepOptions {
  where?: WhereInput;
  params?: unknown[];
  columns?: string[];
  /** Name of a function in the migration's `handlers`: `(row, ctx) => void`. */
  handler: string;
  /** Fail the step when more than this percent of rows throw (seed error-rate alert: 5). */
  maxErrorRatePercent?: number;
}

function compileWhere(where: WhereInput | undefined, params: unknown[] | undefined, problems: string[]): WhereClause | null {
  if (where === undefined) return null;
  if (typeof where === 'string') {
    if (where.trim() === '') {
      problems.push('`where` is an empty string; omit it to mean every row');
      return null;
    }
    return { sql: where, parameters: params ?? [] };
  }
  if (typeof where !== 'object' || where === null || Array.isArray(where)) {
    problems.push('`where` must be an object like { price: null } or an SQL string');
    return null;
  }
  if (params !== undefined) problems.push('`params` only applies to an SQL string `where`');
  const parts: string[] = [];
  const parameters: unknown[] = [];
  for (const [column, value] of Object.entries(where)) {
    const problem = identifierProblem(column);
    if (problem) {
      problems.push(`where: ${problem}`);
      continue;
    }
    if (value === null) parts.push(`${quoteIdent(column)} IS NULL`);
    else if (Array.isArray(value)) {
      parameters.push(value);
      parts.push(`${quoteIdent(column)} = ANY($${parameters.length})`);
    } else {
      parameters.push(value);
      parts.push(`${quoteIdent(column)} = $${parameters.length}`);
    }
  }
  if (parts.length === 0) {
    problems.push('`where` has no conditions; omit it to mean every row');
    return null;
  }
  return { sql: parts.join(' AND '), parameters, columns: Object.keys(where) };
}

function backupFlag(options: DataStepOptions | undefined): boolean {
  return options?.backup !== false;
}

export function createDataStepBuilder() {
  return {
    raw(sql: string): RawExpression {
      return Object.freeze({ [RAW]: true as const, sql });
    },

    updateRecords(table: string, options: UpdateRecordsOptions): StepSpec {
      const problems: string[] = [];
      const tableProblem = qualifiedNameProblem(table);
      if (tableProblem) problems.push(tableProblem);
      const name = parseQualifiedName(String(table));
      const where = compileWhere(options?.where, options?.params, problems);
      const set: SetValue[] = [];
      for (const [column, value] of Object.entries(options?.set ?? {})) {
        const problem = identifierProblem(column);
        if (problem) problems.push(`set: ${problem}`);
        else set.push(isRaw(value) ? { column, raw: value.sql } : { column, value });
      }
      if (set.length === 0) problems.push('updateRecords needs `set`, e.g. { set: { price: 0 } }');
      return {
        kind: 'updateRecords',
        label: `updateRecords ${formatQualifiedName(name)} set ${set.map((s) => s.column).join(', ')}`,
        table: name,
        where,
        set,
        backup: backupFlag(options),
        ...(problems.length ? { problems } : {}),
      };
    },

    deleteRecords(table: string, options: DeleteRecordsOptions): StepSpec {
      const problems: string[] = [];
      const tableProblem = qualifiedNameProblem(table);
      if (tableProblem) problems.push(tableProblem);
      const name = parseQualifiedName(String(table));
      // Deleting every row is almost always a mistake in a migration; say so explicitly with where: 'true'.
      if (options?.where === undefined) problems.push("deleteRecords needs `where` (use where: 'true' to delete every row)");
      const where = compileWhere(options?.where, options?.params, problems);
      return {
        kind: 'deleteRecords',
        label: `deleteRecords ${formatQualifiedName(name)}${where ? ` where ${where.sql}` : ''}`,
        table: name,
        where,
        backup: backupFlag(options),
        ...(problems.length ? { problems } : {}),
      };
    },

    createRecords(table: string, rows: Record<string, unknown>[], options: DataStepOptions & { batchSize?: number } = {}): StepSpec {
      const problems: string[] = [];
      const tableProblem = qualifiedNameProblem(table);
      if (tableProblem) problems.push(tableProblem);
      const name = parseQualifiedName(String(table));
      if (!Array.isArray(rows) || rows.length === 0) problems.push('createRecords needs a non-empty array of rows');
      const columns = [...new Set((Array.isArray(rows) ? rows : []).flatMap((r) => Object.keys(r ?? {})))].sort();
      for (const column of columns) {
        const problem = identifierProblem(column);
        if (problem) problems.push(`row column: ${problem}`);
      }
      const batchSize = options.batchSize ?? 500;
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) problems.push('batchSize must be an integer from 1 to 100000');
      return {
        kind: 'createRecords',
        label: `createRecords ${formatQualifiedName(name)} (${Array.isArray(rows) ? rows.length : 0} rows)`,
        table: name,
        columns,
        rowCount: Array.isArray(rows) ? rows.length : 0,
        rowsChecksum: rowsChecksum(Array.isArray(rows) ? rows : []),
        batchSize,
        backup: backupFlag(options),
        ...(problems.length ? { problems } : {}),
        [CREATE_RECORDS_ROWS]: Array.isArray(rows) ? rows : [],
      } as StepSpec;
    },

    eachBatch(table: string, options: EachBatchOptions): StepSpec {
      const problems: string[] = [];
      const tableProblem = qualifiedNameProblem(table);
      if (tableProblem) problems.push(tableProblem);
      const name = parseQualifiedName(String(table));
      const where = compileWhere(options?.where, options?.params, problems);
      const columns = options?.columns ?? null;
      for (const column of columns ?? []) {
        const problem = identifierProblem(column);
        if (problem) problems.push(`columns: ${problem}`);
      }
      if (typeof options?.handler !== 'string' || options.handler === '') problems.push('eachBatch needs `handler`: the name of a function in the migration\'s `handlers`');
      const rate = options?.maxErrorRatePercent ?? 5;
      if (!(rate >= 0 && rate <= 100)) problems.push('maxErrorRatePercent must be between 0 and 100');
      return {
        kind: 'eachBatch',
        label: `eachBatch ${formatQualifiedName(name)} → ${String(options?.handler)}`,
        table: name,
        where,
        columns,
        handler: String(options?.handler),
        maxErrorRatePercent: rate,
        backup: backupFlag(options),
        ...(problems.length ? { problems } : {}),
      };
    },
  };
}

/** Stable hash of createRecords rows (key order inside a row does not matter). */
export function rowsChecksum(rows: Record<string, unknown>[]): string {
  const hash = createHash('sha256');
  for (const row of rows) {
    const sorted = Object.keys(row ?? {})
      .sort()
      .map((k) => [k, row[k]]);
    hash.update(JSON.stringify(sorted));
    hash.update('\n');
  }
  return hash.digest('hex');
}
