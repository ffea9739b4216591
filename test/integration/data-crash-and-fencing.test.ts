// Data steps under crashes and stale writers, through the real CLI with the worker as its own process:
//  - a 1M-row updateRecords survives repeated SIGKILLs of its worker: it completes, every matching
//    row is changed exactly once (an UPDATE trigger logs every row version written), no other row
//    is touched, and `down` restores every column of every row exactly;
//  - a batch of a superseded run cannot commit: its worker is frozen (SIGSTOP: a GC pause, a VM
//    stall) in the middle of a batch, the workflow is terminated and a new run takes over; when the
//    old worker wakes up with its batch done, the batch is refused and rolled back.
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { after, test } from 'node:test';
import { type CliEnv, runCli } from '../helpers/cli';
import {
  changeCounts,
  createDataFixture,
  createItemsTable,
  type DataFixture,
  expectedMatching,
  journalStatus,
  loadControlSource,
  pinnedLoadControl,
  readCheckpointRow,
  sleep,
  spawnUp as upProcess,
  startWorkerProcess,
  stopProcess,
  tableChecksum,
  updateItemsStep,
  withOutput,
  withTimeout,
  wrongValues,
  type WorkerProcess,
} from '../helpers/data-steps';
import { uniqueTaskQueue } from '../helpers/env';
import { migrationSource } from '../helpers/migrations';
import { query, waitFor } from '../helpers/pg-probe';
import { testClient } from '../helpers/temporal';
import { dbKeyFromUrl } from '../../src/config/db-key';
import { migrationWorkflowId, runnerWorkflowId } from '../../src/workflows/definitions';

const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void>)[] = [];

after(async () => {
  for (const child of children) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function fixture(name: string): Promise<DataFixture> {
  const f = await createDataFixture(name);
  cleanups.push(() => f.cleanup());
  return f;
}

const spawnUp = (env: CliEnv, args: string[] = ['--no-worker']) => upProcess(env, args, children);

/** A batch statement of the data step, running in Postgres on behalf of a worker. */
async function runningBatches(url: string): Promise<{ pid: number; state: string; wait_event: string | null; backend_xid: string | null }[]> {
  return query(
    url,
    `SELECT pid, state, wait_event, backend_xid::text FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'stockrx-migrate worker' AND pid <> pg_backend_pid()
        AND strpos(query, 'advanced AS (UPDATE stockrx_migrate.checkpoints') > 0 AND state = 'active'`,
  );
}

const ROWS_1M = 1_000_000;
const KILLS = 5;

test('SIGKILL the worker 5 times at random points of a 1M-row updateRecords: each row changed once; down restores every value', { timeout: 420_000 }, async (t) => {
  const t0 = Date.now();
  const phase = (what: string) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const { db, dir, env } = await fixture('data_sigkill');
  // The first worker starts while the table is loaded.
  const firstWorker = startWorkerProcess(env, children);
  void firstWorker.catch(() => undefined);
  await createItemsTable(db.url, ROWS_1M);
  const matching = expectedMatching(ROWS_1M);
  const before = await tableChecksum(db.url);
  phase('1M-row table and its checksum ready');

  const id = '20250401000000_reprice_items';
  // Big pinned batches: fast enough for a 1M-row table on a small machine, and each batch is long
  // enough (tens of ms) that a kill often lands inside one.
  await dir.write(id, migrationSource([updateItemsStep()], loadControlSource(pinnedLoadControl(10_000, 0))));

  // Random kill points: progress thresholds spread over the step, each kill either in the middle
  // of a running batch statement or after a random delay.
  const thresholds = Array.from({ length: KILLS }, (_, i) => Math.round(matching * (0.04 + (0.8 * (i + Math.random())) / KILLS)));
  const offset = Math.floor(Math.random() * 2);
  const modes = thresholds.map((_, i) => ((i + offset) % 2 === 0 ? 'mid-batch' : 'random-delay'));
  t.diagnostic(`kill thresholds (rows done): ${thresholds.join(', ')}; modes: ${modes.join(', ')}`);

  let worker: WorkerProcess = await firstWorker;
  const up = spawnUp(env);
  const kills: { rowsDone: number; inBatch: boolean }[] = [];
  try {
    for (const [i, threshold] of thresholds.entries()) {
      // …and past the previous kill: each new worker commits at least one batch before it dies.
      const previous = kills.at(-1)?.rowsDone ?? 0;
      await waitFor(`rows done to reach ${threshold}`, async () => {
        const cp = await readCheckpointRow(db.url, id);
        return cp && cp.rowsDone >= threshold && cp.rowsDone > previous ? cp : undefined;
      }, 120_000, 20);
      if (modes[i] === 'mid-batch') await waitFor('a batch statement to be running', async () => ((await runningBatches(db.url))[0] ? true : undefined), 30_000, 5);
      else await sleep(Math.floor(Math.random() * 400));
      const inBatch = (await runningBatches(db.url)).length > 0;
      worker.child.kill('SIGKILL');
      const died = await withTimeout(worker.result, 10_000, 'the killed worker to exit');
      assert.equal(died.signal, 'SIGKILL');
      const cp = (await readCheckpointRow(db.url, id))!;
      assert.equal(cp.done, false, `kill ${i + 1} landed before the step finished`);
      kills.push({ rowsDone: cp.rowsDone, inBatch });
      phase(`kill ${i + 1} at ${cp.rowsDone} rows${inBatch ? ', batch in flight' : ''}`);
      worker = await startWorkerProcess(env, children);
    }
    const result = await withTimeout(up.result, 240_000, '`up --no-worker` to finish');
    assert.equal(result.code, 0, `up failed:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, new RegExp(`Applied: ${id} \\(applied\\)`));
  } catch (error) {
    throw withOutput(error, { up, worker });
  } finally {
    await stopProcess(worker.child, worker.result);
    up.child.kill('SIGKILL');
  }
  phase('up finished');
  assert.equal(kills.length, KILLS);
  assert.ok(kills.some((k) => k.inBatch), 'at least one kill hit a batch statement in flight');

  // Every matching row changed exactly once, no other row at all, each to the value of one application.
  assert.deepEqual(await changeCounts(db.url), { logged: matching, distinct: matching, duplicated: 0, nonMatching: 0, missing: 0 });
  assert.equal(await wrongValues(db.url), 0, 'every matching row holds the value of exactly one application');
  const checkpoint = await readCheckpointRow(db.url, id);
  assert.deepEqual({ ...checkpoint, cursor: null }, { cursor: null, rowsTotal: matching, rowsDone: matching, rowsScanned: ROWS_1M, batches: ROWS_1M / 10_000, done: true });
  assert.deepEqual(await journalStatus(db.url, id), { status: 'applied', steps: ['done'] });
  phase('exactly-once checks done');

  // down: the compensation restores every column of every row from the backup. (The change log
  // has done its job; logging the restore too would only slow this test down.)
  await query(db.url, 'ALTER TABLE items DISABLE TRIGGER items_log_changes');
  const down = await runCli(['down'], env, 240_000);
  assert.equal(down.code, 0, `down failed:\n${down.stdout}\n${down.stderr}`);
  phase('down finished');
  assert.equal(await tableChecksum(db.url), before, 'down restored every column of every row');
  assert.deepEqual(await journalStatus(db.url, id), { status: 'rolled_back', steps: [] });
  const leftovers = await query(db.url, `SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'stockrx_migrate_backup' AND relkind = 'r'`);
  assert.deepEqual(leftovers, [], 'the backup table is dropped after the restore');
  phase('restore verified');
});

test('a batch of a superseded run cannot commit: frozen worker, workflow terminated, new run takes over', { timeout: 240_000 }, async (t) => {
  const { db, dir, env } = await fixture('data_fencing');
  const ROWS = 30_000;
  const SLOW_ROW = 12_345; // status 'active', inside the batch of keys 12 001…13 000
  await createItemsTable(db.url, ROWS);
  const matching = expectedMatching(ROWS);
  // One row sleeps while being updated (until the switch is disarmed, at most 60 s), so the old
  // run's batch stays in flight until the new run owns the migration; the new run's batch then
  // runs at full speed.
  await query(
    db.url,
    `CREATE TABLE slow_switch (armed boolean NOT NULL); INSERT INTO slow_switch VALUES (true);
     CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE waited int := 0;
       BEGIN
         IF NEW.id = ${SLOW_ROW} THEN
           WHILE (SELECT armed FROM slow_switch) AND waited < 1200 LOOP PERFORM pg_sleep(0.05); waited := waited + 1; END LOOP;
         END IF;
         RETURN NEW;
       END $$;
     CREATE TRIGGER slow_row BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION slow_row();`,
  );
  const id = '20250402000000_reprice_items';
  await dir.write(id, migrationSource([updateItemsStep()], loadControlSource(pinnedLoadControl(1000, 0))));
  const dbKey = dbKeyFromUrl(db.url);

  const t0 = Date.now();
  const phase = (what: string) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const oldWorker = await startWorkerProcess(env, children);
  const oldUp = spawnUp(env);
  const temporal = await testClient();
  let newUp: ReturnType<typeof spawnUp> | undefined;
  try {
    // The old run's batch 13 is asleep on the slow row, holding its rows locked.
    const batch = await waitFor('the old run to be inside the slow batch', async () => (await runningBatches(db.url)).find((b) => b.wait_event === 'PgSleep' && b.backend_xid !== null), 60_000, 20);
    const [{ run_token: oldToken }] = (await query<{ run_token: string }>(db.url, 'SELECT run_token FROM stockrx_migrate.migrations WHERE id = $1', [id])) as [{ run_token: string }];
    const before = (await readCheckpointRow(db.url, id))!;
    assert.deepEqual(before.cursor, ['12000'], 'the slow batch starts after key 12000');
    phase('old run asleep in batch 13');

    // Freeze the old worker: it can neither heartbeat nor learn that its workflow is gone.
    oldWorker.child.kill('SIGSTOP');
    await temporal.client.workflow.getHandle(migrationWorkflowId(dbKey, id, 'up')).terminate('test: supersede the run mid-batch');
    // The runner's worker is frozen too, so it cannot react to its child's end: release the lock.
    await temporal.client.workflow.getHandle(runnerWorkflowId(dbKey)).terminate('test: release the lock of the frozen run');

    // A new run on another task queue, with its own worker in the `up` process.
    newUp = spawnUp({ ...env, taskQueue: uniqueTaskQueue('data-fencing-new') }, []);
    await waitFor('the new run to take ownership (new run token)', async () => {
      const [row] = await query<{ run_token: string }>(db.url, 'SELECT run_token FROM stockrx_migrate.migrations WHERE id = $1', [id]);
      return row && row.run_token !== oldToken ? true : undefined;
    }, 60_000);
    phase('new run owns the migration');
    // The old batch is still asleep inside its one autocommit statement, holding the rows of its
    // range locked (its xid was assigned by the rows it updated before the slow one). Its fence —
    // a FOR SHARE lock on the journal row, taken after the change — now finds the new run's token.
    assert.ok(batch.backend_xid, 'the old batch had written rows (an xid) before the slow row');
    await query(db.url, 'UPDATE slow_switch SET armed = false');
    const idle = { xid: batch.backend_xid };
    await waitFor('the old batch statement to end', async () => {
      const [row] = await query<{ state: string; xid: string | null }>(db.url, 'SELECT state, backend_xid::text AS xid FROM pg_stat_activity WHERE pid = $1', [batch.pid]);
      return row?.state === 'active' && row.xid === idle.xid ? undefined : true;
    }, 30_000);
    phase('old batch statement ended');
    // Wake the old worker: it reads the statement's outcome as if nothing had happened.
    oldWorker.child.kill('SIGCONT');
    // pg_stat_activity shows a 32-bit xid; widen it with the current epoch to ask for its fate.
    const [{ status }] = (await query<{ status: string }>(
      db.url,
      `WITH now AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS x)
       SELECT pg_xact_status((CASE WHEN $1::bigint <= x % 4294967296 THEN x - x % 4294967296 ELSE x - x % 4294967296 - 4294967296 END + $1::bigint)::text::xid8) AS status FROM now`,
      [idle.xid],
    )) as [{ status: string }];
    assert.equal(status, 'aborted', 'the superseded run\'s batch transaction was rolled back, not committed');
    phase('old batch rolled back');

    const result = await withTimeout(newUp.result, 120_000, 'the new `up` to finish');
    assert.equal(result.code, 0, `the new run failed:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, new RegExp(`Applied: ${id} \\(applied\\)`));
    phase('new run applied');
    const oldResult = await withTimeout(oldUp.result, 90_000, 'the old `up` to end');
    assert.notEqual(oldResult.code, 0, 'the old run did not succeed');
    await sleep(500);
    t.diagnostic(`old worker log: ${oldWorker.output().split('\n').filter((l) => /superseded/.test(l)).join(' | ').slice(0, 1000)}`);
    assert.match(oldWorker.output(), /superseded by a newer run; this worker's write was refused \(fencing\)/, 'the old worker logged the fenced refusal');
  } catch (error) {
    throw withOutput(error, { 'old up': oldUp, 'old worker': oldWorker, 'new up': newUp });
  } finally {
    await stopProcess(oldWorker.child, oldWorker.result);
    oldUp.child.kill('SIGKILL');
    newUp?.child.kill('SIGKILL');
    await temporal.close();
  }

  // Exactly once: the old batch left nothing; the new run changed each matching row once.
  assert.deepEqual(await changeCounts(db.url), { logged: matching, distinct: matching, duplicated: 0, nonMatching: 0, missing: 0 });
  assert.equal(await wrongValues(db.url), 0);
  const checkpoint = await readCheckpointRow(db.url, id);
  assert.deepEqual({ ...checkpoint, cursor: null }, { cursor: null, rowsTotal: matching, rowsDone: matching, rowsScanned: ROWS, batches: ROWS / 1000, done: true });
  assert.deepEqual(await journalStatus(db.url, id), { status: 'applied', steps: ['done'] });
});
