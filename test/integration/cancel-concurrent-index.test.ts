// `cancel` during a long CREATE INDEX CONCURRENTLY. A session holding an old snapshot (an open
// REPEATABLE READ transaction that read the table) makes the build wait in its "wait for old
// snapshots" phase, indefinitely. `stockrx-migrate cancel ID` must then cancel the build's backend
// with pg_cancel_backend — the statement disappears while that transaction is still open, so it was
// not the transaction ending that freed it — and compensation must remove the INVALID index the
// cancelled build leaves behind, so `up` exits 1 with no trace of the index.
//
// Compensation is DROP INDEX CONCURRENTLY, which waits for every transaction holding a lock on the
// table; the blocker holds ACCESS SHARE on it (it read the table), so the undo can only finish
// once the blocker ends. The test shows the undo waiting, then ends the blocker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { runCli, spawnCli, type CliEnv } from '../helpers/cli';
import { createTestDatabase, type TestDatabase, uniqueTaskQueue } from '../helpers/env';
import { createMigrationsDir, migrationSource, type MigrationsDir } from '../helpers/migrations';
import { backends, connect, describeRun, waitFor } from '../helpers/lock-probes';

const MIGRATION_ID = '20250501000000_index_inventories_name';
const INDEX = 'inventories_name_cancel_idx';

let db: TestDatabase;
let dir: MigrationsDir;
let env: CliEnv;
let observer: pg.Client;

before(async () => {
  db = await createTestDatabase('cancel_cic');
  dir = await createMigrationsDir('cancel-cic');
  env = { databaseUrl: db.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue('cancel-cic') };
  observer = await connect(db.url, 'stockrx-test observer');
  await observer.query(`
    CREATE TABLE inventories (id serial PRIMARY KEY, name text, status text);
    INSERT INTO inventories (name, status) SELECT 'i' || g, 'active' FROM generate_series(1, 20000) g;`);
});

after(async () => {
  await observer?.end();
  await dir?.cleanup();
  await db?.drop();
});

async function indexRows(): Promise<{ indisvalid: boolean; indisready: boolean }[]> {
  const { rows } = await observer.query<{ indisvalid: boolean; indisready: boolean }>(
    `SELECT i.indisvalid, i.indisready FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1`,
    [INDEX],
  );
  return rows;
}

test('cancel during a waiting CREATE INDEX CONCURRENTLY cancels the backend, compensates, and leaves no INVALID index', async (t) => {
  await dir.write(MIGRATION_ID, migrationSource([`m.addIndex('inventories', ['name'], { name: '${INDEX}' })`]));
  const before = await observer.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'inventories' ORDER BY indexname`);

  const blocker = await connect(db.url, 'stockrx-test old snapshot');
  await blocker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  await blocker.query('SELECT count(*) FROM inventories');
  const blockerPid = (await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

  const up = spawnCli(['up'], env);
  const killer = setTimeout(() => up.child.kill('SIGKILL'), 240_000);
  let blockerOpen = true;
  try {
    // The build is running and stuck behind the blocker's snapshot.
    const build = await waitFor(
      'CREATE INDEX CONCURRENTLY to be running',
      async () => {
        if (up.child.exitCode !== null) throw new Error(`up exited early: ${describeRun(await up.result)}`);
        return (await backends(observer, db.name, 'CREATE INDEX CONCURRENTLY%')).find((b) => b.state === 'active');
      },
      120_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const stillWaiting = (await backends(observer, db.name, 'CREATE INDEX CONCURRENTLY%')).find((b) => b.pid === build.pid && b.state === 'active');
    assert.ok(stillWaiting, 'the build keeps waiting while the old snapshot is open');
    t.diagnostic(`build backend ${build.pid} waiting on ${stillWaiting.waitEventType}/${stillWaiting.waitEvent}`);

    const cancelledAt = Date.now();
    const cancel = await runCli(['cancel', MIGRATION_ID], env);
    assert.equal(cancel.code, 0, `cancel: ${cancel.stdout}\n${cancel.stderr}`);
    assert.match(cancel.stdout, new RegExp(`Cancellation requested for stockrx-migrate/.+/${MIGRATION_ID}`));

    // pg_cancel_backend: the statement is gone from that backend although the blocker is still open.
    await waitFor(
      'the CREATE INDEX CONCURRENTLY backend to be cancelled',
      async () => (await backends(observer, db.name, 'CREATE INDEX CONCURRENTLY%')).every((b) => b.state !== 'active'),
      60_000,
    );
    const cancelMs = Date.now() - cancelledAt;
    const blockerState = await observer.query<{ state: string; backend_xmin: string | null }>('SELECT state, backend_xmin FROM pg_stat_activity WHERE pid = $1', [blockerPid]);
    assert.equal(blockerState.rows[0]?.state, 'idle in transaction', 'the blocking transaction is still open: the build did not end because its wait ended');
    assert.notEqual(blockerState.rows[0]?.backend_xmin, null, 'and it still holds its old snapshot');
    assert.equal(up.child.exitCode, null, 'up is still running: it waits for compensation');

    // The build is not retried: no new CREATE INDEX CONCURRENTLY starts while we watch.
    const watchUntil = Date.now() + 3_000;
    let undo: { state: string | null; waitEventType: string | null; waitEvent: string | null } | undefined;
    while (Date.now() < watchUntil) {
      assert.deepEqual((await backends(observer, db.name, 'CREATE INDEX CONCURRENTLY%')).filter((b) => b.state === 'active'), [], 'the cancelled build is not run again');
      undo = (await backends(observer, db.name, `DROP INDEX CONCURRENTLY%${INDEX}%`)).find((b) => b.state === 'active') ?? undo;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // What the cancelled build left behind, and the compensation (DROP INDEX CONCURRENTLY) waiting
    // for the blocker's ACCESS SHARE lock on the table.
    const leftover = await indexRows();
    t.diagnostic(
      `backend cancelled ${cancelMs} ms after \`cancel\`; leftover index rows while blocker open: ${JSON.stringify(leftover)}; ` +
        `compensation ${undo ? `waiting: ${undo.waitEventType}/${undo.waitEvent}` : 'not seen running'}`,
    );
    assert.equal(up.child.exitCode, null, 'the compensation cannot finish while the blocker holds its lock on the table');

    await blocker.query('COMMIT');
    blockerOpen = false;
    const result = await up.result;
    assert.equal(result.code, 1, `up exits 1 (cancelled and compensated):\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stderr, new RegExp(`${MIGRATION_ID} was cancelled; every applied step was undone`));
  } finally {
    clearTimeout(killer);
    if (up.child.exitCode === null) up.child.kill('SIGKILL');
    if (blockerOpen) await blocker.query('ROLLBACK').catch(() => undefined);
    await blocker.end();
  }

  // No index of that name at all — neither valid nor INVALID.
  assert.deepEqual(await indexRows(), []);
  const afterIndexes = await observer.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'inventories' ORDER BY indexname`);
  assert.deepEqual(afterIndexes.rows, before.rows);
  const journal = await observer.query<{ status: string; last_error: string | null }>('SELECT status, last_error FROM stockrx_migrate.migrations WHERE id = $1', [MIGRATION_ID]);
  assert.equal(journal.rows[0]?.status, 'failed');
  assert.match(journal.rows[0]?.last_error ?? '', /cancelled during step 1/);
  const steps = await observer.query('SELECT 1 FROM stockrx_migrate.steps WHERE migration_id = $1', [MIGRATION_ID]);
  assert.equal(steps.rowCount, 0, 'every compensation ran and its journal record is gone');
});
