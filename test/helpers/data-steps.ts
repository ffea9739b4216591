// Fixtures for data-step tests: a table whose every UPDATE is logged (so "each row changed exactly
// once" is counted, not assumed), checksums of every column in key order, the step's checkpoint,
// a standalone worker process, and load-control settings that keep the controller out of the way
// so a test controls speed and batch size exactly.
import { type ChildProcess } from 'node:child_process';
import { after } from 'node:test';
import pg from 'pg';
import { type CliEnv, type CliResult, spawnCli } from './cli';
import { createTestDatabase, type TestDatabase, uniqueTaskQueue } from './env';
import { createMigrationsDir, type MigrationsDir } from './migrations';
import { query } from './pg-probe';

/**
 * Load control for tests: batch size and pause pinned (min = initial = max), and every load
 * threshold out of reach, so neither a busy shared CI host nor the canary changes the pace.
 */
export function pinnedLoadControl(batchSize: number, sleepMs: number, overrides: Record<string, number> = {}): Record<string, number> {
  return {
    initialBatchSize: batchSize,
    minBatchSize: batchSize,
    maxBatchSize: batchSize,
    sleepMs,
    minSleepMs: sleepMs,
    maxSleepMs: sleepMs,
    cpuThreshold: 99,
    cpuCritical: 100,
    memoryThreshold: 99,
    memoryCritical: 100,
    queryTimeThresholdMs: 600_000,
    targetBatchMs: 300_000,
    activeBackendsThreshold: 100_000,
    activeBackendsCritical: 200_000,
    lockWaitersThreshold: 100_000,
    lockWaitersCritical: 200_000,
    latencyBudget: 1_000_000,
    canaryCritical: 10_000_000,
    ...overrides,
  };
}

/** `loadControl: {...},` for migrationSource's `extra`. */
export function loadControlSource(config: Record<string, number>): string {
  return `  loadControl: ${JSON.stringify(config)},\n`;
}

/** The step every test applies: rows with status 'active' get a new price (not idempotent) and a note. */
export function updateItemsStep(table = 'items'): string {
  return `m.updateRecords('${table}', { where: { status: 'active' }, set: { price: m.raw('price * 2 + 1'), note: 'migrated' } })`;
}

/**
 * `table` with `rows` rows (a quarter 'archived', the rest 'active'; some NULL notes), and
 * `<table>_changes`, into which an AFTER UPDATE statement trigger copies the key of every row
 * version any UPDATE writes. A row changed twice shows up twice.
 */
export async function createItemsTable(url: string, rows: number, table = 'items'): Promise<void> {
  // The key is added after the load: one sorted index build instead of a million inserts into it.
  await query(
    url,
    `CREATE TABLE ${table} (id bigint NOT NULL, status text NOT NULL, price numeric(12, 2) NOT NULL, qty int, note text, created_at timestamptz NOT NULL);
     INSERT INTO ${table} (id, status, price, qty, note, created_at)
       SELECT g, CASE WHEN g % 4 = 0 THEN 'archived' ELSE 'active' END, (g % 1000) / 10.0, g % 97,
              CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' || g END, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
       FROM generate_series(1, ${rows}) g;
     ALTER TABLE ${table} ADD PRIMARY KEY (id);
     CREATE TABLE ${table}_changes (seq bigint GENERATED ALWAYS AS IDENTITY, id bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
     CREATE FUNCTION ${table}_log_changes() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN INSERT INTO ${table}_changes (id) SELECT id FROM changed_rows; RETURN NULL; END $$;
     CREATE TRIGGER ${table}_log_changes AFTER UPDATE ON ${table} REFERENCING NEW TABLE AS changed_rows
       FOR EACH STATEMENT EXECUTE FUNCTION ${table}_log_changes();
     ANALYZE ${table};`,
  );
}

export const expectedMatching = (rows: number) => rows - Math.floor(rows / 4);

/** md5 over every column of every row, in key order, plus the row count. */
export async function tableChecksum(url: string, table = 'items', where = 'true'): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Enough memory to sort a million rows' text without spilling to disk.
    await client.query(`SET work_mem = '256MB'`);
    const { rows } = await client.query<{ n: string; md5: string | null }>(
      `SELECT count(*) AS n, md5(string_agg(t::text, E'\\n' ORDER BY t.id)) AS md5 FROM ${table} t WHERE ${where}`,
    );
    return `${rows[0]!.n}:${rows[0]!.md5 ?? 'empty'}`;
  } finally {
    await client.end();
  }
}

export interface ChangeCounts {
  /** Row versions written by UPDATEs. */
  logged: number;
  /** Distinct rows changed. */
  distinct: number;
  /** Rows changed more than once. */
  duplicated: number;
  /** Changed rows that the step's WHERE does not match. */
  nonMatching: number;
  /** Matching rows never changed. */
  missing: number;
}

export async function changeCounts(url: string, table = 'items'): Promise<ChangeCounts> {
  // Rows are never deleted here, so every logged key is a row of the table: one join covers all.
  const [row] = await query<Record<keyof ChangeCounts, string>>(
    url,
    `SELECT coalesce(sum(c.n), 0) AS logged, count(c.id) AS distinct,
            count(*) FILTER (WHERE c.n > 1) AS duplicated,
            count(*) FILTER (WHERE c.id IS NOT NULL AND t.status <> 'active') AS "nonMatching",
            count(*) FILTER (WHERE c.id IS NULL AND t.status = 'active') AS missing
       FROM ${table} t LEFT JOIN (SELECT id, count(*) AS n FROM ${table}_changes GROUP BY id) c USING (id)`,
  );
  return Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, Number(v)])) as unknown as ChangeCounts;
}

/** Matching rows whose values are not exactly what one application of the step gives. */
export async function wrongValues(url: string, table = 'items'): Promise<number> {
  const [row] = await query<{ n: string }>(
    url,
    `SELECT count(*) AS n FROM ${table} WHERE status = 'active' AND (note IS DISTINCT FROM 'migrated' OR price <> ((id % 1000) / 10.0) * 2 + 1)`,
  );
  return Number(row!.n);
}

export interface CheckpointRow {
  cursor: string[] | null;
  rowsTotal: number;
  rowsDone: number;
  rowsScanned: number;
  batches: number;
  done: boolean;
}

export async function readCheckpointRow(url: string, migrationId: string, stepIndex = 0): Promise<CheckpointRow | undefined> {
  const exists = await query<{ present: boolean }>(url, `SELECT to_regclass('stockrx_migrate.checkpoints') IS NOT NULL AS present`);
  if (!exists[0]?.present) return undefined;
  const [row] = await query<{ cursor: string[] | null; rows_total: string; rows_done: string; rows_scanned: string; batches: string; done: boolean }>(
    url,
    'SELECT cursor, rows_total, rows_done, rows_scanned, batches, done FROM stockrx_migrate.checkpoints WHERE migration_id = $1 AND step_index = $2 AND partition = 0',
    [migrationId, stepIndex],
  );
  if (!row) return undefined;
  return {
    cursor: row.cursor,
    rowsTotal: Number(row.rows_total),
    rowsDone: Number(row.rows_done),
    rowsScanned: Number(row.rows_scanned),
    batches: Number(row.batches),
    done: row.done,
  };
}

export async function journalStatus(url: string, migrationId: string): Promise<{ status: string; steps: string[] }> {
  const [row] = await query<{ status: string }>(url, 'SELECT status FROM stockrx_migrate.migrations WHERE id = $1', [migrationId]);
  const steps = await query<{ state: string }>(url, 'SELECT state FROM stockrx_migrate.steps WHERE migration_id = $1 ORDER BY step_index', [migrationId]);
  return { status: row?.status ?? 'missing', steps: steps.map((s) => s.state) };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export interface WorkerProcess {
  child: ChildProcess;
  result: Promise<CliResult>;
  /** stdout + stderr so far (pino logs go to stderr). */
  output(): string;
}

/** `stockrx-migrate worker` as its own process; resolves once it polls its task queue. */
export async function startWorkerProcess(env: CliEnv, children: Set<ChildProcess>): Promise<WorkerProcess> {
  const { child, result } = spawnCli(['worker'], env);
  children.add(child);
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (/polling task queue/.test(output)) resolve();
    });
    void result.then((r) => reject(new Error(`worker exited before polling (code ${r.code}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`)));
  });
  void result.then(() => children.delete(child));
  await withTimeout(ready, 60_000, 'the worker to start polling');
  return { child, result, output: () => output };
}

/** SIGTERM, then SIGKILL if it does not stop in time. */
export async function stopProcess(child: ChildProcess, result: Promise<CliResult>, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGCONT');
  child.kill('SIGTERM');
  await withTimeout(result, graceMs, 'a process to stop').catch(async () => {
    child.kill('SIGKILL');
    await result;
  });
}

export interface DataFixture {
  db: TestDatabase;
  dir: MigrationsDir;
  env: CliEnv;
  cleanup(): Promise<void>;
}

/** A fresh database, migrations directory and task queue: every test has its own runner lock. */
export async function createDataFixture(name: string): Promise<DataFixture> {
  const db = await createTestDatabase(name);
  const dir = await createMigrationsDir(name);
  // Workers of parallel test files must not fight over a fixed metrics port.
  const env: CliEnv = { databaseUrl: db.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue(name), extra: { STOCKRX_METRICS_PORT: '0' } };
  return {
    db,
    dir,
    env,
    async cleanup() {
      await dir.cleanup();
      await db.drop();
    },
  };
}

/** `up` (add '--no-worker' to use separate worker processes) with a short heartbeat timeout, so a dead worker's activity is retried within seconds. */
export function spawnUp(env: CliEnv, args: string[], children: Set<ChildProcess>): { child: ChildProcess; result: Promise<CliResult>; output(): string } {
  const up = spawnCli(['up', ...args], { ...env, extra: { ...env.extra, STOCKRX_HEARTBEAT_TIMEOUT_MS: '3000' } });
  children.add(up.child);
  void up.result.then(() => children.delete(up.child));
  let output = '';
  up.child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  up.child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return { ...up, output: () => output };
}

/** Adds the tail of each process's output to a test failure, for diagnosis. */
export function withOutput(error: unknown, processes: Record<string, { output(): string } | undefined>): unknown {
  const tails = Object.entries(processes)
    .filter(([, p]) => p)
    .map(([name, p]) => `--- ${name}, last 4000 characters of output ---\n${p!.output().slice(-4000)}`);
  if (error instanceof Error) error.message += `\n${tails.join('\n')}`;
  return error;
}

/**
 * The child processes and cleanups of a test file, released after its last test: children are
 * SIGKILLed (a worker a test left running must not outlive the run), then cleanups run in reverse.
 */
export function trackResources(): { children: Set<ChildProcess>; cleanups: (() => Promise<void>)[] } {
  const children = new Set<ChildProcess>();
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });
  return { children, cleanups };
}
