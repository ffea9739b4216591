// One statement per batch, run in autocommit. Each is a data-modifying CTE that, in one round trip
// and one transaction: reads the next key range, locks the target rows, copies their old values
// into the step's backup, applies the change, and advances the checkpoint by compare-and-set on
// the cursor, fenced by the run token (a row lock on the journal row). If the checkpoint did not
// advance (a superseded run, or a batch already applied) the statement raises
// (assert_batch_fenced) and Postgres rolls all of it back. Each key range commits exactly once, so
// each row is backed up at most once per step: the backup needs no unique index to keep the first
// copy, and has none while the step runs (restore-rows.ts indexes it before restoring).
// An empty range (rows deleted meanwhile) moves the cursor to the step's upper bound: done.
import { type UpdateRecordsStep, type DeleteRecordsStep, type WhereClause } from '../../core/data-plan';
import { quoteIdent, quoteQualified, type QualifiedName } from '../../core/identifiers';
import { type ColumnShape, type TableShape } from './table-shape';

export class Params {
  readonly values: unknown[] = [];
  constructor(initial: unknown[] = []) {
    this.values.push(...initial);
  }
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

export interface CheckpointRef {
  migrationId: string;
  stepIndex: number;
  partition: number;
  runToken: string;
  /** Cursor (JSON array of key values as text) the batch starts after; null at the start. */
  previous: string[] | null;
  upper: string[];
}

export const tuple = (parts: string[]) => (parts.length === 1 ? parts[0]! : `(${parts.join(', ')})`);
export const keyColumns = (key: ColumnShape[], alias?: string) => key.map((k) => (alias ? `${alias}.${quoteIdent(k.name)}` : quoteIdent(k.name)));
/** A key value tuple as typed parameters: `($3::integer, $4::text)`. */
export const keyLiteral = (key: ColumnShape[], values: string[], params: Params) => tuple(key.map((k, i) => `${params.add(values[i])}::${k.type}`));
/** JSON array of the key as text, so bigint and numeric keys keep every digit. */
export const keyJson = (key: ColumnShape[], alias?: string) => `json_build_array(${keyColumns(key, alias).map((c) => `${c}::text`).join(', ')})::jsonb`;

/** `k > cursor AND k <= upper` for the table alias. */
function rangePredicate(key: ColumnShape[], alias: string, ref: CheckpointRef, params: Params, upperExpression?: string): string {
  const keyTuple = tuple(keyColumns(key, alias));
  const lower = ref.previous ? `${keyTuple} > ${keyLiteral(key, ref.previous, params)} AND ` : '';
  return `${lower}${keyTuple} <= ${upperExpression ?? keyLiteral(key, ref.upper, params)}`;
}

/** Key types whose max() orders exactly as the key's ORDER BY (same type, same collation). */
const HAS_MAX = /^(smallint|integer|bigint|numeric|text|character varying|date|timestamp)\b/;

/**
 * The range CTEs shared by every keyed batch: `bound` (next n keys) and `last` (its last key; no
 * row when the range is empty), and the SQL expression counting the keys scanned. A single-column
 * key takes both from one aggregate pass over `bound`; sorting it again for the last key and
 * counting it separately cost about 0.3 ms of a 5 ms batch. A composite key, or a type without a
 * max() aggregate (uuid before PostgreSQL 18, bytea…), sorts.
 */
function rangeCtes(table: QualifiedName, key: ColumnShape[], ref: CheckpointRef, limit: number, params: Params): { sql: string; scanned: string } {
  const cols = keyColumns(key, 'r');
  const bound = `bound AS (SELECT ${cols.join(', ')} FROM ${quoteQualified(table)} r WHERE ${rangePredicate(key, 'r', ref, params)} ORDER BY ${cols.join(', ')} LIMIT ${params.add(limit)})`;
  if (key.length === 1 && HAS_MAX.test(key[0]!.type)) {
    const k = keyColumns(key)[0]!;
    return { sql: `${bound},\nlast AS (SELECT max(${k}) AS ${k}, count(*) AS __scanned FROM bound HAVING count(*) > 0)`, scanned: 'COALESCE((SELECT __scanned FROM last), 0)' };
  }
  return {
    sql: `${bound},\nlast AS (SELECT ${keyColumns(key).join(', ')} FROM bound ORDER BY ${keyColumns(key).map((c) => `${c} DESC`).join(', ')} LIMIT 1)`,
    scanned: '(SELECT count(*) FROM bound)',
  };
}

/**
 * The checkpoint's compare-and-set: advances the cursor only from where this batch started and
 * only while the fence holds. `cursor` and the counts are SQL expressions of the batch statement.
 */
function advanceCte(ref: Omit<CheckpointRef, 'previous' | 'upper'> & { previous: unknown }, params: Params, set: { cursor: string; changed: string; scanned: string }): string {
  return (
    `advanced AS (UPDATE stockrx_migrate.checkpoints c SET cursor = ${set.cursor}, rows_done = c.rows_done + ${set.changed},\n` +
    `    rows_scanned = c.rows_scanned + ${set.scanned}, batches = c.batches + 1, updated_at = now()\n` +
    `  WHERE c.migration_id = ${params.add(ref.migrationId)} AND c.step_index = ${params.add(ref.stepIndex)} AND c.partition = ${params.add(ref.partition)}\n` +
    `    AND c.cursor IS NOT DISTINCT FROM ${params.add(ref.previous === null ? null : JSON.stringify(ref.previous))}::jsonb\n` +
    `    AND EXISTS (SELECT 1 FROM fence)\n` +
    `  RETURNING 1)`
  );
}

/** The keyed kinds' advance: to the batch's last key, or to the upper bound when the range was empty. */
const keyedAdvance = (scanned: string) => ({ cursor: 'COALESCE((SELECT k FROM last_key), c.upper_bound)', changed: '(SELECT count(*) FROM changed)', scanned });

/**
 * The run-token fence, as a row lock held until the statement commits. FOR SHARE in READ
 * COMMITTED locks the journal row's latest version and re-checks the token on it, so either a
 * newer run's token is already committed (no row: the checkpoint does not advance and
 * assert_batch_fenced rolls the statement back), or that run's journalStart — an UPDATE of this
 * row — waits until this batch has committed. No window remains in which a superseded batch can
 * commit after a newer run started.
 */
function fenceCte(ref: { migrationId: string; runToken: string }, params: Params): string {
  return `fence AS (SELECT 1 FROM stockrx_migrate.migrations m WHERE m.id = ${params.add(ref.migrationId)} AND m.run_token = ${params.add(ref.runToken)} FOR SHARE)`;
}

/** The statement's result row; raises (rolling everything back) unless the checkpoint advanced. */
function resultSelect(lastKey: string, scanned: string, ref: { migrationId: string }, params: Params): string {
  return (
    `SELECT ${lastKey} AS last_key, ${scanned}::int AS scanned, (SELECT count(*) FROM changed)::int AS changed,\n` +
    `  stockrx_migrate.assert_batch_fenced((SELECT count(*) FROM advanced), ${params.add(ref.migrationId)}) AS fenced`
  );
}

function whereSql(where: WhereClause | null): string {
  return where ? `(${where.sql})` : 'true';
}

export interface BatchStatement {
  text: string;
  parameters: unknown[];
}

/** Result columns of every batch statement. */
export interface BatchRow {
  last_key: string[] | null;
  scanned: number;
  changed: number;
  fenced: number;
}

export interface UpdateBatchOptions {
  /**
   * The server supports `RETURNING old.*` (PostgreSQL 18+): the UPDATE itself returns the values
   * it overwrote, so the backup needs no separate locking read of the rows.
   */
  returningOld?: boolean;
}

export function updateBatchSql(step: UpdateRecordsStep, shape: TableShape, backup: QualifiedName | null, ref: CheckpointRef, limit: number, options: UpdateBatchOptions = {}): BatchStatement {
  // The author's WHERE parameters come first, so their `$1…` need no renumbering.
  const params = new Params(step.where?.parameters ?? []);
  const key = shape.key;
  const table = quoteQualified(step.table);
  const setColumns = step.set.map((s) => s.column);
  const assignments = step.set
    .map((s) => `${quoteIdent(s.column)} = ${'raw' in s ? `(${s.raw})` : params.add(s.value)}`)
    .join(', ');
  const range = rangeCtes(step.table, key, ref, limit, params);
  const ctes = [range.sql, `last_key AS (SELECT ${keyJson(key, 'last')} AS k FROM last)`];
  const inRange = () => `${rangePredicate(key, 't', ref, params, `(SELECT ${keyColumns(key).join(', ')} FROM last)`)} AND ${whereSql(step.where)}`;
  const backupColumns = [...key.map((k) => k.name), ...setColumns].map(quoteIdent).join(', ');
  const saved = (source: string) => `saved AS (INSERT INTO ${quoteQualified(backup!)} (${backupColumns}) SELECT ${[...key.map((_, i) => `__k${i}`), ...setColumns.map((_, i) => `__v${i}`)].join(', ')} FROM ${source} ON CONFLICT DO NOTHING)`;
  if (!backup) {
    // Nothing to copy, so one pass: the UPDATE finds, locks and changes the rows of the range.
    ctes.push(`changed AS (UPDATE ${table} t SET ${assignments} WHERE ${inRange()} RETURNING 1)`);
  } else if (options.returningOld) {
    // One pass that also yields the exact old values: RETURNING's OLD is the row version this
    // UPDATE replaced (after READ COMMITTED's recheck of a concurrently updated row), i.e. precisely
    // what a restore must put back. Aliased, so a table or column named "old" cannot clash.
    const returned = [...key.map((k, i) => `__old.${quoteIdent(k.name)} AS __k${i}`), ...setColumns.map((c, i) => `__old.${quoteIdent(c)} AS __v${i}`)];
    ctes.push(`changed AS (UPDATE ${table} t SET ${assignments} WHERE ${inRange()} RETURNING WITH (OLD AS __old) ${returned.join(', ')})`);
    ctes.push(saved('changed'));
  } else {
    // Before PostgreSQL 18 an UPDATE cannot return old values, so the rows are read first.
    // FOR UPDATE: in READ COMMITTED the locked row is the latest version, so the backup holds the
    // values we actually overwrite, even when the application updated the row a moment ago.
    // Target columns are aliased (__k0, __v0…) so that `m.raw('price * 1.1')` in SET is never
    // ambiguous between the table and the CTE.
    const targetKeys = key.map((k, i) => `t.${quoteIdent(k.name)} AS __k${i}`);
    const targetValues = setColumns.map((c, i) => `t.${quoteIdent(c)} AS __v${i}`);
    const matchTarget = key.map((k, i) => `t.${quoteIdent(k.name)} = target.__k${i}`).join(' AND ');
    ctes.push(`target AS (SELECT ${[...targetKeys, ...targetValues].join(', ')} FROM ${table} t WHERE ${inRange()} FOR UPDATE OF t)`);
    ctes.push(saved('target'));
    // The key range again on the table itself: joined only to the CTE (whose size the planner
    // cannot know) the UPDATE may be planned as a hash join over a full scan of the table, which
    // makes every batch cost as much as the whole table.
    ctes.push(`changed AS (UPDATE ${table} t SET ${assignments} FROM target WHERE ${matchTarget} AND ${rangePredicate(key, 't', ref, params, `(SELECT ${keyColumns(key).join(', ')} FROM last)`)} RETURNING 1)`);
  }
  ctes.push(fenceCte(ref, params), advanceCte(ref, params, keyedAdvance(range.scanned)));
  return {
    text: `WITH ${ctes.join(',\n')}\n${resultSelect('(SELECT k FROM last_key)', range.scanned, ref, params)}`,
    parameters: params.values,
  };
}

export function deleteBatchSql(step: DeleteRecordsStep, shape: TableShape, backup: QualifiedName | null, ref: CheckpointRef, limit: number, columns: ColumnShape[]): BatchStatement {
  const params = new Params(step.where?.parameters ?? []);
  const key = shape.key;
  const table = quoteQualified(step.table);
  const matchTarget = key.map((k) => `t.${quoteIdent(k.name)} = target.${quoteIdent(k.name)}`).join(' AND ');
  const range = rangeCtes(step.table, key, ref, limit, params);
  const ctes = [
    range.sql,
    `last_key AS (SELECT ${keyJson(key, 'last')} AS k FROM last)`,
    `target AS (SELECT t.* FROM ${table} t WHERE ${rangePredicate(key, 't', ref, params, `(SELECT ${keyColumns(key).join(', ')} FROM last)`)} AND ${whereSql(step.where)} FOR UPDATE OF t)`,
  ];
  if (backup) {
    const list = columns.map((c) => quoteIdent(c.name)).join(', ');
    ctes.push(`saved AS (INSERT INTO ${quoteQualified(backup)} (${list}) SELECT ${list} FROM target ON CONFLICT DO NOTHING)`);
  }
  // The key range again on the table itself, so the DELETE never scans the whole table (see updateBatchSql).
  ctes.push(`changed AS (DELETE FROM ${table} t USING target WHERE ${matchTarget} AND ${rangePredicate(key, 't', ref, params, `(SELECT ${keyColumns(key).join(', ')} FROM last)`)} RETURNING 1)`);
  ctes.push(fenceCte(ref, params), advanceCte(ref, params, keyedAdvance(range.scanned)));
  return {
    text: `WITH ${ctes.join(',\n')}\n${resultSelect('(SELECT k FROM last_key)', range.scanned, ref, params)}`,
    parameters: params.values,
  };
}

export function createBatchSql(
  table: QualifiedName,
  shape: TableShape,
  columns: ColumnShape[],
  rows: Record<string, unknown>[],
  backup: QualifiedName | null,
  ref: { migrationId: string; stepIndex: number; partition: number; runToken: string; previous: number | null; next: number },
): BatchStatement {
  const params = new Params();
  const list = columns.map((c) => quoteIdent(c.name)).join(', ');
  const recordType = columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
  const overriding = columns.some((c) => c.identityAlways) ? ' OVERRIDING SYSTEM VALUE' : '';
  const keys = keyColumns(shape.key).join(', ');
  const ctes = [
    `input AS (SELECT * FROM jsonb_to_recordset(${params.add(JSON.stringify(rows))}::jsonb) AS x(${recordType}))`,
    `changed AS (INSERT INTO ${quoteQualified(table)} (${list})${overriding} SELECT ${list} FROM input RETURNING ${keys})`,
  ];
  if (backup) ctes.push(`saved AS (INSERT INTO ${quoteQualified(backup)} (${keys}) SELECT ${keys} FROM changed ON CONFLICT DO NOTHING)`);
  const scanned = `${params.add(rows.length)}::int`;
  ctes.push(fenceCte(ref, params), advanceCte(ref, params, { cursor: `${params.add(JSON.stringify(ref.next))}::jsonb`, changed: '(SELECT count(*) FROM changed)', scanned }));
  return {
    text: `WITH ${ctes.join(',\n')}\n${resultSelect('NULL::jsonb', scanned, ref, params)}`,
    parameters: params.values,
  };
}
