// A worker SIGKILLed in the middle of a step: the run survives and every step is applied exactly
// once. The worker (`stockrx-migrate worker`) and `up --no-worker` are separate processes, as in
// production. Each `sql` step inserts an audit row and then sleeps inside the same transaction;
// we kill the worker while Postgres is running that sleep, start a new worker, and check that the
// killed attempt left nothing behind and the retry (on another backend) committed exactly once.
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { type CliEnv, type CliResult, spawnCli } from '../helpers/cli';
import { createTestDatabase, type TestDatabase, uniqueTaskQueue } from '../helpers/env';
import { createMigrationsDir, migrationSource, type MigrationsDir } from '../helpers/migrations';
import { activeStatements, query, waitFor } from '../helpers/pg-probe';
import { testClient } from '../helpers/temporal';
import { dbKeyFromUrl } from '../../src/config/db-key';
import { migrationWorkflowId } from '../../src/workflows/definitions';

const SLEEP_SECONDS = 2;

let db: TestDatabase;
let dir: MigrationsDir;
let env: CliEnv;
const children = new Set<ChildProcess>();

before(async () => {
  db = await createTestDatabase('worker_crash');
  dir = await createMigrationsDir('worker-crash');
  env = {
    databaseUrl: db.url,
    migrationsDir: dir.dir,
    taskQueue: uniqueTaskQueue('worker-crash'),
    // Workers of parallel test files must not fight over a fixed metrics port.
    extra: { STOCKRX_METRICS_PORT: '0' },
  };
  await query(
    db.url,
    `CREATE TABLE audit (id serial PRIMARY KEY, step int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
     CREATE TABLE inventories (id serial PRIMARY KEY, name text, status text);
     INSERT INTO inventories (name, status) SELECT 'i' || g, 'active' FROM generate_series(1, 500) g;`,
  );
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await dir.cleanup();
  await db.drop();
});

/** A step that records itself, then keeps its transaction open for a while. */
function auditStep(step: number): string {
  return `m.sql({ up: "INSERT INTO audit (step, pid) VALUES (${step}, pg_backend_pid()); SELECT pg_sleep(${SLEEP_SECONDS})", down: 'DELETE FROM audit WHERE step = ${step}' })`;
}
const auditMarker = (step: number) => `VALUES (${step}, pg_backend_pid())`;

interface Worker {
  child: ChildProcess;
  result: Promise<CliResult>;
}

async function startWorkerProcess(): Promise<Worker> {
  const { child, result } = spawnCli(['worker'], env);
  children.add(child);
  let stdout = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/polling task queue/.test(stdout)) resolve();
    });
    void result.then((r) => reject(new Error(`worker exited before polling (code ${r.code}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`)));
  });
  await withTimeout(ready, 60_000, 'the worker to start polling');
  return { child, result };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

interface Kill {
  step: number;
  /** Backend that was running the step when its worker died. */
  pid: number;
}

/**
 * Starts a worker and `up --no-worker`; for each audit step in `killAt`, waits until Postgres is
 * running it, SIGKILLs the worker, checks the step's transaction died with it, and starts a new
 * worker. Returns the `up` result and what was killed.
 */
async function upWithCrashes(killAt: number[]): Promise<{ up: CliResult; kills: Kill[] }> {
  let worker = await startWorkerProcess();
  const up = spawnCli(['up', '--no-worker'], { ...env, extra: { ...env.extra, STOCKRX_HEARTBEAT_TIMEOUT_MS: '3000' } });
  children.add(up.child);
  const kills: Kill[] = [];
  try {
    for (const step of killAt) {
      const running = await waitFor(`step ${step} to be running in Postgres`, async () => {
        const [statement] = await activeStatements(db.url, auditMarker(step));
        return statement;
      });
      assert.equal(running.application_name, 'stockrx-migrate worker', 'the step runs on the worker process, not in the up process');
      worker.child.kill('SIGKILL');
      const died = await withTimeout(worker.result, 10_000, 'the killed worker to exit');
      assert.equal(died.signal, 'SIGKILL');
      children.delete(worker.child);
      kills.push({ step, pid: running.pid });

      // The dead client's transaction is aborted by Postgres, not committed: no audit row yet.
      await waitFor(`backend ${running.pid} of the killed worker to go away`, async () => {
        const rows = await query(db.url, 'SELECT 1 FROM pg_stat_activity WHERE pid = $1', [running.pid]);
        return rows.length === 0 ? true : undefined;
      }, 30_000);
      const rows = await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM audit WHERE step = $1', [step]);
      assert.equal(Number(rows[0]!.n), 0, `the killed attempt of step ${step} must not have committed`);

      worker = await startWorkerProcess();
    }
    return { up: await withTimeout(up.result, 180_000, '`up --no-worker` to finish'), kills };
  } finally {
    up.child.kill('SIGKILL');
    children.delete(up.child);
    worker.child.kill('SIGTERM');
    await withTimeout(worker.result, 20_000, 'the last worker to stop').catch(() => worker.child.kill('SIGKILL'));
    children.delete(worker.child);
  }
}

async function auditCounts(): Promise<Record<number, number>> {
  const rows = await query<{ step: number; n: string }>(db.url, 'SELECT step, count(*) AS n FROM audit GROUP BY step ORDER BY step');
  return Object.fromEntries(rows.map((r) => [r.step, Number(r.n)]));
}

async function journalOf(id: string): Promise<{ status: string; steps: { step_index: number; state: string }[] }> {
  const [row] = await query<{ status: string }>(db.url, 'SELECT status FROM stockrx_migrate.migrations WHERE id = $1', [id]);
  const steps = await query<{ step_index: number; state: string }>(
    db.url,
    'SELECT step_index, state FROM stockrx_migrate.steps WHERE migration_id = $1 ORDER BY step_index',
    [id],
  );
  return { status: row?.status ?? 'missing', steps };
}

/** Step activities of a migration's workflow: how many were scheduled, and the attempt each finished on. */
async function stepAttempts(migrationId: string): Promise<{ scheduled: number; attempts: number[] }> {
  const temporal = await testClient();
  try {
    const history = await temporal.client.workflow.getHandle(migrationWorkflowId(dbKeyFromUrl(db.url), migrationId, 'up')).fetchHistory();
    const events = history.events ?? [];
    const stepScheduled = new Set<string>();
    for (const e of events) {
      if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'applySchemaStep') stepScheduled.add(String(e.eventId));
    }
    const attempts = events
      .filter((e) => e.activityTaskStartedEventAttributes && stepScheduled.has(String(e.activityTaskStartedEventAttributes.scheduledEventId)))
      .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
    return { scheduled: stepScheduled.size, attempts };
  } finally {
    await temporal.close();
  }
}

async function assertKilledAttemptsRetried(kills: Kill[]): Promise<void> {
  for (const kill of kills) {
    const rows = await query<{ pid: number }>(db.url, 'SELECT pid FROM audit WHERE step = $1', [kill.step]);
    assert.equal(rows.length, 1, `step ${kill.step} applied exactly once`);
    assert.notEqual(rows[0]!.pid, kill.pid, `step ${kill.step} was committed by the retry, not by the killed backend`);
  }
}

test('SIGKILL of the worker during step 2 and again during step 4: the run completes, each step applied once', async () => {
  const id = '20250301000000_crash_twice';
  await dir.write(
    id,
    migrationSource([
      `m.addColumn('inventories', 'sku', 'text')`,
      auditStep(102),
      `m.addIndex('inventories', ['sku'])`,
      auditStep(104),
      `m.createTable('warehouses', (t) => t.addColumn('id', 'serial', (c) => c.primaryKey()).addColumn('name', 'text'))`,
      auditStep(106),
    ]),
  );
  const { up, kills } = await upWithCrashes([102, 104]);
  assert.equal(up.code, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
  assert.match(up.stdout, new RegExp(`Applied: ${id} \\(applied\\)`));

  assert.deepEqual(await auditCounts(), { 102: 1, 104: 1, 106: 1 });
  await assertKilledAttemptsRetried(kills);

  const [sku] = await query(db.url, `SELECT 1 FROM information_schema.columns WHERE table_name = 'inventories' AND column_name = 'sku'`);
  assert.ok(sku, 'column inventories.sku exists');
  const [index] = await query<{ valid: boolean }>(
    db.url,
    `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'inventories_sku_idx'`,
  );
  assert.equal(index?.valid, true, 'index inventories_sku_idx exists and is valid');
  const [warehouses] = await query(db.url, `SELECT to_regclass('public.warehouses') IS NOT NULL AS present`);
  assert.deepEqual(warehouses, { present: true });

  assert.deepEqual(await journalOf(id), { status: 'applied', steps: [0, 1, 2, 3, 4, 5].map((i) => ({ step_index: i, state: 'done' })) });

  // Temporal's view: each step was scheduled once (the workflow never re-ran a step), and exactly
  // the two killed steps needed a second attempt.
  const { scheduled, attempts } = await stepAttempts(id);
  assert.equal(scheduled, 6);
  assert.deepEqual([...attempts].sort(), [1, 1, 1, 1, 2, 2]);
});

test('SIGKILL during the first step of one migration and the last step of the next, in one run', async () => {
  const second = '20250302000000_crash_first_step';
  const third = '20250303000000_crash_last_step';
  await dir.write(second, migrationSource([auditStep(201), `m.addColumn('inventories', 'location', 'text')`, `m.renameColumn('inventories', 'status', 'state')`]));
  await dir.write(third, migrationSource([`m.addIndex('inventories', ['location', 'state'])`, `m.addColumn('warehouses', 'code', 'text')`, auditStep(302)]));

  const { up, kills } = await upWithCrashes([201, 302]);
  assert.equal(up.code, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
  assert.match(up.stdout, new RegExp(`Applied: ${second} \\(applied\\), ${third} \\(applied\\)`));

  assert.deepEqual(await auditCounts(), { 102: 1, 104: 1, 106: 1, 201: 1, 302: 1 });
  await assertKilledAttemptsRetried(kills);

  const columns = await query<{ table_name: string; column_name: string }>(
    db.url,
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name IN ('inventories', 'warehouses') ORDER BY table_name, column_name`,
  );
  assert.deepEqual(
    columns.map((c) => `${c.table_name}.${c.column_name}`),
    ['inventories.id', 'inventories.location', 'inventories.name', 'inventories.sku', 'inventories.state', 'warehouses.code', 'warehouses.id', 'warehouses.name'],
  );
  const [index] = await query<{ valid: boolean }>(
    db.url,
    `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'inventories_location_state_idx'`,
  );
  assert.equal(index?.valid, true);

  assert.deepEqual(await journalOf(second), { status: 'applied', steps: [0, 1, 2].map((i) => ({ step_index: i, state: 'done' })) });
  assert.deepEqual(await journalOf(third), { status: 'applied', steps: [0, 1, 2].map((i) => ({ step_index: i, state: 'done' })) });
  assert.deepEqual([...(await stepAttempts(second)).attempts].sort(), [1, 1, 2]);
  assert.deepEqual([...(await stepAttempts(third)).attempts].sort(), [1, 1, 2]);
});
