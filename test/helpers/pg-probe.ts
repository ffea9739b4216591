// Small read-only probes of a test database for crash and refusal tests: run one query, tell
// whether our journal schemas exist, and dump the journal so "changed nothing" can cover it too
// (snapshotDatabase deliberately leaves our own schemas out).
import pg from 'pg';

export async function query<R extends pg.QueryResultRow = Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** Our schemas present in the database (pg_namespace), sorted: [] means the journal was never created. */
export async function stockrxSchemas(url: string): Promise<string[]> {
  const rows = await query<{ nspname: string }>(url, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'stockrx\\_migrate%' ORDER BY nspname`);
  return rows.map((r) => r.nspname);
}

export interface JournalDump {
  migrations: Record<string, unknown>[];
  steps: Record<string, unknown>[];
}

/** Every journal row, every column (timestamps included, so even a touched row shows). */
export async function dumpJournal(url: string): Promise<JournalDump | null> {
  if ((await stockrxSchemas(url)).length === 0) return null;
  return {
    migrations: await query(url, 'SELECT * FROM stockrx_migrate.migrations ORDER BY id'),
    steps: await query(url, 'SELECT * FROM stockrx_migrate.steps ORDER BY migration_id, step_index'),
  };
}

/** Backends of this database running a statement that contains `marker` (not our own probe). */
export async function activeStatements(url: string, marker: string): Promise<{ pid: number; query: string; application_name: string }[]> {
  return query(
    url,
    `SELECT pid, query, application_name FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND strpos(query, $1) > 0`,
    [marker],
  );
}

/** Polls until `check` returns a value (not undefined), or fails after timeoutMs with `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
