// MigrationLock, the DDL side: a DDL step needing ACCESS EXCLUSIVE (addColumn) that finds the table
// held by another session's open transaction must not queue in front of traffic for long. With
// STOCKRX_LOCK_TIMEOUT_MS=500 each attempt gives up after 0.5 s, so concurrent primary-key readers
// (who queue behind a waiting ALTER) are never blocked much longer than that; the step retries
// with backoff and succeeds once the blocking transaction commits.
// The control test shows what the readers would suffer without lock_timeout: a plain ALTER TABLE
// (lock_timeout 0) blocks every reader for as long as the blocking transaction stays open.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { spawnCli, type CliEnv } from '../helpers/cli';
import { createTestDatabase, type TestDatabase, uniqueTaskQueue } from '../helpers/env';
import { createMigrationsDir, migrationSource, type MigrationsDir } from '../helpers/migrations';
import { backends, connect, describeRun, startReaders, waitFor } from '../helpers/lock-probes';

const LOCK_TIMEOUT_MS = 500;
/**
 * Shorter than the later backoff pauses (1, 2, 4, 8 s ± 25 %), so a step that stopped heartbeating
 * while it waits between lock attempts would be timed out and retried as a new activity attempt.
 */
const HEARTBEAT_TIMEOUT_MS = 4_000;
/** Separate ALTER attempts to see waiting before the blocker commits: 4 backoff pauses, ~17 s. */
const WAITING_ATTEMPTS = 5;
/** A reader may wait for one whole lock_timeout plus scheduling noise; never for a whole transaction. */
const READER_BUDGET_MS = 2_000;
/** How long the control keeps its blocking transaction open with a plain ALTER queued behind it. */
const CONTROL_HOLD_MS = 4_000;
const MIGRATION_ID = '20250401000000_add_sku_to_inventories';
const READ = { text: 'SELECT id, name FROM inventories WHERE id = $1', params: (n: number) => [1 + (n % 5000)] };

let db: TestDatabase;
let dir: MigrationsDir;
let env: CliEnv;
let observer: pg.Client;

before(async () => {
  db = await createTestDatabase('lock_timeout');
  dir = await createMigrationsDir('lock-timeout');
  env = { databaseUrl: db.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue('lock-timeout'), extra: { STOCKRX_LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS), STOCKRX_HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS) } };
  observer = await connect(db.url, 'stockrx-test observer');
  await observer.query(`
    CREATE TABLE inventories (id serial PRIMARY KEY, name text, price numeric);
    INSERT INTO inventories (name, price) SELECT 'i' || g, g FROM generate_series(1, 5000) g;`);
});

after(async () => {
  await observer?.end();
  await dir?.cleanup();
  await db?.drop();
});

/** A session that read the table inside an open transaction: it holds ACCESS SHARE until it ends. */
async function openBlocker(): Promise<pg.Client> {
  const blocker = await connect(db.url, 'stockrx-test blocker');
  await blocker.query('BEGIN');
  await blocker.query('SELECT id, name FROM inventories WHERE id = 1');
  return blocker;
}

test('control: without lock_timeout, a queued ALTER TABLE blocks readers for the whole blocking transaction', async () => {
  const blocker = await openBlocker();
  const readers = await startReaders(db.url, 4, READ);
  const ddl = await connect(db.url, 'stockrx-test plain ddl');
  let stats;
  try {
    await ddl.query('SET lock_timeout = 0');
    const alter = ddl.query('ALTER TABLE inventories ADD COLUMN control_col int');
    await waitFor('the plain ALTER to wait for its lock', async () => (await backends(observer, db.name, 'ALTER TABLE inventories ADD COLUMN control_col%')).find((b) => b.waitEventType === 'Lock'), 10_000, 20);
    await new Promise((resolve) => setTimeout(resolve, CONTROL_HOLD_MS));
    await blocker.query('COMMIT');
    await alter;
  } finally {
    stats = await readers.stop();
    await blocker.end();
    await ddl.query('ALTER TABLE inventories DROP COLUMN IF EXISTS control_col');
    await ddl.end();
  }
  // Readers that arrived while the ALTER queued waited until the blocker committed.
  assert.ok(stats.max() > CONTROL_HOLD_MS - 500, `readers blocked for the whole transaction without lock_timeout (max ${Math.round(stats.max())} ms)`);
  assert.ok(stats.max() > READER_BUDGET_MS, 'so the budget asserted in the next test is meaningful');
});

test('addColumn blocked by an open transaction: readers wait at most ~lock_timeout, the step retries, then applies', async (t) => {
  await dir.write(MIGRATION_ID, migrationSource([`m.addColumn('inventories', 'sku', 'text')`]));
  const logFile = path.join(dir.dir, '.state', 'logs', 'worker.log');
  const blocker = await openBlocker();
  const readers = await startReaders(db.url, 4, READ);
  const up = spawnCli(['up'], env);
  const killer = setTimeout(() => up.child.kill('SIGKILL'), 180_000);
  let stats;
  const waitingAttempts = new Set<string>();
  let blockerOpenMs = 0;
  try {
    // Watch our ALTER: each attempt is a new statement (new query_start) waiting on a Lock.
    const blockedSince = Date.now();
    await waitFor(
      `${WAITING_ATTEMPTS} separate ALTER attempts waiting for the lock, and a retry in the worker log`,
      async () => {
        for (const b of await backends(observer, db.name, '%alter table%inventories%add column%sku%')) {
          if (b.waitEventType === 'Lock' && b.queryStart) waitingAttempts.add(`${b.pid}@${b.queryStart.toISOString()}`);
        }
        if (up.child.exitCode !== null) throw new Error(`up exited early: ${describeRun(await up.result)}`);
        return waitingAttempts.size >= WAITING_ATTEMPTS && (await readFile(logFile, 'utf8').catch(() => '')).includes('lock not available; retrying');
      },
      120_000,
      50,
    );
    assert.equal(await columnExists('sku'), false, 'the column cannot be there while the blocker holds the table');
    blockerOpenMs = Date.now() - blockedSince;
    await blocker.query('COMMIT');
    const result = await up.result;
    assert.equal(result.code, 0, `up applies once the blocker commits:\n${result.stdout}\n${result.stderr}`);
  } finally {
    clearTimeout(killer);
    if (up.child.exitCode === null) up.child.kill('SIGKILL');
    stats = await readers.stop();
    await blocker.end();
  }
  assert.equal(await columnExists('sku'), true);
  const { rows } = await observer.query<{ status: string }>('SELECT status FROM stockrx_migrate.migrations WHERE id = $1', [MIGRATION_ID]);
  assert.equal(rows[0]?.status, 'applied');

  // Several attempts each waited and gave up (the worker log says so), and a later one applied.
  const log = await readFile(logFile, 'utf8');
  const retries = log.split('\n').filter((line) => line.includes('lock not available; retrying'));
  assert.ok(retries.length >= WAITING_ATTEMPTS - 1, `the step retried lock timeouts (${retries.length} retries logged)`);
  for (const line of retries) assert.equal((JSON.parse(line) as { sqlstate: string }).sqlstate, '55P03');
  // All of that inside one activity attempt that kept heartbeating through its backoff pauses: a
  // second 'step started' would mean Temporal timed the step out and ran it again alongside.
  const starts = log.split('\n').filter((line) => line.includes('"step started"'));
  assert.equal(starts.length, 1, `one activity attempt did every lock retry:\n${starts.join('\n')}`);
  assert.deepEqual(
    retries.map((line) => (JSON.parse(line) as { attempt: number }).attempt),
    retries.map((_, i) => i + 1),
    'the lock retries of that one attempt, numbered in order',
  );
  assert.ok(waitingAttempts.size >= WAITING_ATTEMPTS, `pg_stat_activity showed ${waitingAttempts.size} distinct waiting ALTER attempts`);

  // The readers: every query finished within the budget, although some really did queue behind a
  // waiting ALTER (otherwise the bound would prove nothing).
  const max = stats.max();
  t.diagnostic(
    `blocker held ${blockerOpenMs} ms; ${waitingAttempts.size} waiting ALTER attempts seen, ${retries.length} retries logged; ` +
      `${stats.latencies.length} reads, max ${Math.round(max)} ms, ${stats.slowerThan(100).length} slower than 100 ms`,
  );
  assert.ok(max < READER_BUDGET_MS, `every reader finished within ${READER_BUDGET_MS} ms (max ${Math.round(max)} ms)`);
  assert.ok(max > LOCK_TIMEOUT_MS / 2, `some readers queued behind a waiting ALTER (max ${Math.round(max)} ms)`);
  assert.ok(blockerOpenMs > 3 * LOCK_TIMEOUT_MS, 'the blocker was held for several lock timeouts');
});

async function columnExists(column: string): Promise<boolean> {
  const { rows } = await observer.query<{ present: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'inventories' AND column_name = $1) AS present`,
    [column],
  );
  return rows[0]!.present;
}
