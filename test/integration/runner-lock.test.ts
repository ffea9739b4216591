// MigrationLock: the runner's workflow ID is the per-database lock. Two `up` runs started at the
// same moment against one database (same DATABASE_URL, so the same dbKey, and the same task queue):
// exactly one runs; the other retries the lock (3 × 1 s), then exits 3 naming the runner that holds
// it and how to follow it. The winner's migration waits on a gate the test controls, so it is
// certainly still running when the loser gives up, however slowly either process starts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { spawnCli, type CliEnv } from '../helpers/cli';
import { createTestDatabase, type TestDatabase, uniqueTaskQueue } from '../helpers/env';
import { createMigrationsDir, migrationSource, type MigrationsDir } from '../helpers/migrations';
import { testClient } from '../helpers/temporal';
import { connect, describeRun } from '../helpers/lock-probes';
import { dbKeyFromUrl } from '../../src/config/db-key';
import { runnerWorkflowId } from '../../src/workflows/definitions';

const MIGRATION_ID = '20250301000000_slow_gate';

let db: TestDatabase;
let dir: MigrationsDir;
let env: CliEnv;
let admin: pg.Client;

before(async () => {
  db = await createTestDatabase('runner_lock');
  dir = await createMigrationsDir('runner-lock');
  env = { databaseUrl: db.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue('runner-lock') };
  admin = await connect(db.url);
  await admin.query(`
    CREATE TABLE gate (opened boolean NOT NULL);
    CREATE TABLE inventories (id serial PRIMARY KEY, name text);
    INSERT INTO inventories (name) SELECT 'i' || g FROM generate_series(1, 100) g;`);
});

after(async () => {
  await admin?.end();
  await dir?.cleanup();
  await db?.drop();
});

test('two concurrent `up` runs on one database: one applies, the other exits 3 naming the lock holder', async (t) => {
  // The step polls the gate table (each statement in a volatile DO block sees new commits) and
  // gives up after 3 minutes so a broken test cannot hang forever.
  const waitForGate =
    "DO $$ DECLARE deadline timestamptz := clock_timestamp() + interval '3 minutes'; BEGIN " +
    'WHILE NOT EXISTS (SELECT 1 FROM gate WHERE opened) LOOP ' +
    "IF clock_timestamp() > deadline THEN RAISE EXCEPTION 'gate never opened'; END IF; PERFORM pg_sleep(0.1); " +
    'END LOOP; END $$';
  await dir.write(
    MIGRATION_ID,
    migrationSource([`m.sql({ up: ${JSON.stringify(waitForGate)}, down: 'SELECT 1' })`, `m.addColumn('inventories', 'sku', 'text')`]),
  );
  const dbKey = dbKeyFromUrl(db.url);
  const lockId = runnerWorkflowId(dbKey);

  const started = Date.now();
  const runs = [spawnCli(['up'], env), spawnCli(['up'], env)];
  const killAll = setTimeout(() => runs.forEach((r) => r.child.kill('SIGKILL')), 240_000);
  try {
    const tagged = runs.map((r, i) => r.result.then((result) => ({ i, result, at: Date.now() - started })));
    // The loser must finish on its own while the winner is held at the gate.
    const first = await Promise.race(tagged);
    const other = runs[1 - first.i]!;
    assert.equal(first.result.code, 3, `the first process to finish should be the loser (exit 3):\n${describeRun(first.result)}`);
    t.diagnostic(`loser exited 3 after ${first.at} ms; stderr: ${first.result.stderr.trim()}`);
    assert.equal(other.child.exitCode, null, 'the winner is still running when the loser gives up');

    // Its stderr names the runner workflow holding the lock and how to follow it.
    assert.match(first.result.stderr, new RegExp(`another run holds the lock for ${escape(dbKey)}: workflow ${escape(lockId)}`));
    assert.match(first.result.stderr, new RegExp(`running up of ${MIGRATION_ID}`), 'names what the holder is running');
    assert.match(first.result.stderr, /follow it with `stockrx-migrate status` or in the Temporal Web UI/);
    assert.match(first.result.stderr, /stockrx-migrate cancel/);

    // The lock really is held by the winner's runner right now: one RUNNING execution of that ID.
    const temporal = await testClient();
    try {
      const description = await temporal.client.workflow.getHandle(lockId).describe();
      assert.equal(description.status.name, 'RUNNING');
      assert.equal(description.taskQueue, env.taskQueue);
    } finally {
      await temporal.close();
    }
    // The loser changed nothing: the gate step is the winner's, still waiting; no column yet.
    assert.equal(await columnExists('inventories', 'sku'), false);

    await admin.query('INSERT INTO gate VALUES (true)');
    const winner = await other.result;
    assert.equal(winner.code, 0, `the winner applies the migration:\n${describeRun(winner)}`);
    assert.match(winner.stdout, new RegExp(`Applied: ${MIGRATION_ID} \\(applied\\)`));
    assert.equal(await columnExists('inventories', 'sku'), true);

    const { rows } = await admin.query<{ id: string; status: string }>('SELECT id, status FROM stockrx_migrate.migrations ORDER BY id');
    assert.deepEqual(rows, [{ id: MIGRATION_ID, status: 'applied' }]);
  } finally {
    clearTimeout(killAll);
    for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await Promise.allSettled(runs.map((r) => r.result));
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function columnExists(table: string, column: string): Promise<boolean> {
  const { rows } = await admin.query<{ present: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 AND column_name = $2) AS present`,
    [table, column],
  );
  return rows[0]!.present;
}
