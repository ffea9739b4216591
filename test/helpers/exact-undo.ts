// Exact-undo probes for data-step tests, each on a plain `pg` client so nothing is shared with the
// code under test:
//   - tableChecksum: md5 of every column of every row (record text, so NULL ≠ '' and numeric scale,
//     float digits and timestamp microseconds all count), ordered by the primary key, plus the
//     column list and the row count;
//   - a write log: statement-level triggers (transition tables) recording every committed
//     INSERT/UPDATE/DELETE on a table with its transaction id, so a test can show that batches
//     really committed before a failure, and that compensation put back exactly that many rows;
//   - failure injection: a trigger that raises when a write meets one chosen key (BEFORE, or a
//     deferred constraint trigger that raises at COMMIT);
//   - seeded template databases: a big table is generated once and each test gets a file-level
//     copy (CREATE DATABASE … TEMPLATE), which is much faster than generating it again.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './env';

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

export interface TableChecksum {
  rows: number;
  columns: string;
  md5: string;
}

export async function primaryKeyColumns(client: pg.Client, table: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT a.attname AS name
       FROM pg_constraint k, unnest(k.conkey) WITH ORDINALITY u(attnum, ord), pg_attribute a
      WHERE k.conrelid = to_regclass($1) AND k.contype = 'p' AND a.attrelid = k.conrelid AND a.attnum = u.attnum
      ORDER BY u.ord`,
    [table],
  );
  if (rows.length === 0) throw new Error(`${table} has no primary key`);
  return rows.map((r) => r.name);
}

export async function tableChecksum(client: pg.Client, table: string): Promise<TableChecksum> {
  const key = (await primaryKeyColumns(client, table)).map((c) => `t.${q(c)}`).join(', ');
  const { rows } = await client.query<{ n: number; md5: string; columns: string }>(
    `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY ${key}), '')) AS md5,
            (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
               FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped) AS columns
       FROM ${table} t`,
    [table],
  );
  const row = rows[0]!;
  return { rows: row.n, columns: row.columns, md5: row.md5 };
}

/**
 * Records every committed write statement on `table` into `write_log`. `forwardPredicate` (SQL on
 * the row alias `n`, the updated row's new values) tells the step's own UPDATEs from the
 * compensation's, which write the old values back.
 */
export async function installWriteLog(client: pg.Client, table: string, forwardPredicate = 'false'): Promise<void> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS write_log (id bigserial PRIMARY KEY, op text NOT NULL, tx bigint NOT NULL, total int NOT NULL, forward int NOT NULL);
    CREATE FUNCTION write_log_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      INSERT INTO write_log (op, tx, total, forward) SELECT 'INSERT', txid_current(), count(*), count(*) FROM n HAVING count(*) > 0; RETURN NULL; END $$;
    CREATE FUNCTION write_log_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      INSERT INTO write_log (op, tx, total, forward) SELECT 'DELETE', txid_current(), count(*), count(*) FROM o HAVING count(*) > 0; RETURN NULL; END $$;
    CREATE FUNCTION write_log_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      INSERT INTO write_log (op, tx, total, forward) SELECT 'UPDATE', txid_current(), count(*), count(*) FILTER (WHERE ${forwardPredicate}) FROM n HAVING count(*) > 0; RETURN NULL; END $$;
    CREATE TRIGGER write_log_insert AFTER INSERT ON ${table} REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION write_log_insert();
    CREATE TRIGGER write_log_delete AFTER DELETE ON ${table} REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION write_log_delete();
    CREATE TRIGGER write_log_update AFTER UPDATE ON ${table} REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION write_log_update();`);
}

export type WriteOp = 'INSERT' | 'UPDATE' | 'DELETE';

export interface WriteSummary {
  /** Rows the step itself wrote, in committed statements. */
  forwardRows: number;
  /** Distinct transactions those writes committed in (one per batch). */
  forwardTransactions: number;
  /** Rows written by the undo (restore updates, re-inserted deletes, deleted creations). */
  restoreRows: number;
  /** Rows written by statements that are neither (should be none). */
  otherRows: number;
}

/** Classifies the log: the step writes with `forward` (UPDATEs count only forward rows), the undo with `restore`. */
export async function writeSummary(client: pg.Client, forward: WriteOp, restore: WriteOp): Promise<WriteSummary> {
  const { rows } = await client.query<{ op: WriteOp; tx: string; total: number; forward: number }>(`SELECT op, tx, total, forward FROM write_log ORDER BY id`);
  const summary: WriteSummary = { forwardRows: 0, forwardTransactions: 0, restoreRows: 0, otherRows: 0 };
  const transactions = new Set<string>();
  for (const row of rows) {
    const isForward = row.op === forward && (row.op !== 'UPDATE' || row.forward > 0);
    if (isForward) {
      // A forward UPDATE statement that also rewrote non-forward rows would be a bug in the step.
      if (row.op === 'UPDATE' && row.forward !== row.total) summary.otherRows += row.total - row.forward;
      summary.forwardRows += row.forward;
      transactions.add(row.tx);
    } else if (row.op === restore) summary.restoreRows += row.total;
    else summary.otherRows += row.total;
  }
  summary.forwardTransactions = transactions.size;
  return summary;
}

export interface InjectedFailure {
  op: WriteOp;
  /** Columns compared (of NEW for INSERT, OLD otherwise) and their values, as text. */
  columns: string[];
  values: string[];
  /** A deferred constraint trigger: the write succeeds, the transaction fails at COMMIT. */
  deferred?: boolean;
}

/** Installs a trigger that raises `injected failure` when a write meets the chosen row. */
export async function injectFailure(client: pg.Client, table: string, failure: InjectedFailure): Promise<void> {
  const record = failure.op === 'INSERT' ? 'NEW' : 'OLD';
  const condition = failure.columns.map((c, i) => `${record}.${q(c)}::text = ${client.escapeLiteral(failure.values[i]!)}`).join(' AND ');
  const returned = failure.deferred ? 'NULL' : record;
  await client.query(`
    CREATE FUNCTION inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      RAISE EXCEPTION 'injected failure at %', ${client.escapeLiteral(failure.values.join(', '))}; RETURN ${returned}; END $$;
    ${
      failure.deferred
        ? `CREATE CONSTRAINT TRIGGER inject_failure AFTER ${failure.op} ON ${table} DEFERRABLE INITIALLY DEFERRED`
        : `CREATE TRIGGER inject_failure BEFORE ${failure.op} ON ${table}`
    } FOR EACH ROW WHEN (${condition}) EXECUTE FUNCTION inject_failure();`);
}

/**
 * One row of `table` matching `where`, chosen at random between 30 % and 90 % of the matching rows
 * in key order, so several batches commit before a write meets it. Returns its key as text.
 */
export async function pickKey(client: pg.Client, table: string, where: string, params: unknown[] = []): Promise<{ columns: string[]; values: string[] }> {
  const columns = await primaryKeyColumns(client, table);
  const key = columns.map((c) => q(c)).join(', ');
  const { rows: counted } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params);
  const total = counted[0]!.n;
  if (total < 10) throw new Error(`pickKey: only ${total} rows of ${table} match ${where}`);
  const offset = Math.floor(total * (0.3 + 0.6 * Math.random()));
  const { rows } = await client.query<{ k: string[] }>(
    `SELECT ARRAY[${columns.map((c) => `${q(c)}::text`).join(', ')}] AS k FROM ${table} WHERE ${where} ORDER BY ${key} OFFSET ${offset} LIMIT 1`,
    params,
  );
  return { columns, values: rows[0]!.k };
}

/** The first column of the first row, as a number (count(*) arrives as a string). */
export async function scalar(client: pg.Client, text: string, params: unknown[] = []): Promise<number> {
  const { rows } = await client.query<Record<string, unknown>>(text, params);
  const value = rows[0] ? Object.values(rows[0])[0] : undefined;
  if (value === undefined || value === null) throw new Error(`no value from: ${text}`);
  return Number(value);
}

/**
 * Databases cloned from one seeded template. The template is created and seeded on first use;
 * `drop()` removes it (its clones are dropped by their own `drop()`).
 */
export function seededTemplate(prefix: string, seedSql: string): { clone(name: string): Promise<TestDatabase>; drop(): Promise<void> } {
  let template: Promise<TestDatabase> | undefined;
  const admin = () => {
    const url = process.env.TEST_DATABASE_URL;
    if (!url) throw new Error('TEST_DATABASE_URL not set: run this test through `npm test -- <this file>`');
    return url;
  };
  const seeded = async () => {
    const db = await createTestDatabase(`${prefix}_template`);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(seedSql);
    } finally {
      await client.end();
    }
    return db;
  };
  return {
    async clone(name) {
      const source = await (template ??= seeded());
      const dbName = `stockrx_${name}`.toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 48) + `_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
      const adminClient = new pg.Client({ connectionString: admin() });
      await adminClient.connect();
      try {
        await adminClient.query(`CREATE DATABASE ${adminClient.escapeIdentifier(dbName)} TEMPLATE ${adminClient.escapeIdentifier(source.name)}`);
      } finally {
        await adminClient.end();
      }
      const url = new URL(admin());
      url.pathname = `/${dbName}`;
      let dropped = false;
      return {
        url: url.toString(),
        name: dbName,
        async drop() {
          if (dropped) return;
          dropped = true;
          const c = new pg.Client({ connectionString: admin() });
          await c.connect();
          try {
            await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(dbName)} WITH (FORCE)`);
          } finally {
            await c.end();
          }
        },
      };
    },
    async drop() {
      if (template) await (await template).drop();
    },
  };
}
