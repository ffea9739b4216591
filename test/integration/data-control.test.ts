// Steering a running data step through the real CLI's workflow and a Temporal client:
//  - continue-as-new (the harness suggests it after 40 history events) splits one step over
//    several workflow runs; the step's result and its progress stay exact across them;
//  - pause holds the step (nothing changes while paused), resume continues from the checkpoint;
//  - a live load-control change is validated: a good one takes effect, a bad one is refused with
//    a message that says what to fix, and changes nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { type CliResult } from '../helpers/cli';
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
  spawnUp,
  tableChecksum,
  updateItemsStep,
  withOutput,
  withTimeout,
  wrongValues,
  trackResources,
} from '../helpers/data-steps';
import { migrationSource } from '../helpers/migrations';
import { query, waitFor } from '../helpers/pg-probe';
import { testClient } from '../helpers/temporal';
import { dbKeyFromUrl } from '../../src/config/db-key';
import { type LoadControlConfig } from '../../src/core/load-control-config';
import { type MigrationProgress, migrationWorkflowId, pauseSignal, progressQuery, resumeSignal, setLoadControlUpdate } from '../../src/workflows/definitions';

const { children, cleanups } = trackResources();

async function fixture(name: string): Promise<DataFixture> {
  const f = await createDataFixture(name);
  cleanups.push(() => f.cleanup());
  return f;
}

type Client = Awaited<ReturnType<typeof testClient>>['client'];

/** The migration workflow's progress once its data step has reported (query answered by the `up` process's worker). */
async function progressOf(client: Client, workflowId: string): Promise<MigrationProgress> {
  return client.workflow.getHandle(workflowId).query(progressQuery);
}

async function waitForProgress(client: Client, workflowId: string, what: string, check: (p: MigrationProgress) => boolean, timeoutMs = 120_000): Promise<MigrationProgress> {
  return waitFor(what, async () => {
    try {
      const p = await progressOf(client, workflowId);
      return check(p) ? p : undefined;
    } catch {
      return undefined; // not started yet
    }
  }, timeoutMs, 100);
}

async function finish(up: { result: Promise<CliResult> }, id: string): Promise<void> {
  const result = await withTimeout(up.result, 180_000, '`up` to finish');
  assert.equal(result.code, 0, `up failed:\n${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, new RegExp(`Applied: ${id} \\(applied\\)`));
}

async function assertAppliedExactlyOnce(url: string, id: string, rows: number): Promise<void> {
  const matching = expectedMatching(rows);
  assert.deepEqual(await changeCounts(url), { logged: matching, distinct: matching, duplicated: 0, nonMatching: 0, missing: 0 });
  assert.equal(await wrongValues(url), 0, 'every matching row holds the value of exactly one application');
  const checkpoint = await readCheckpointRow(url, id);
  assert.deepEqual({ ...checkpoint, cursor: null, batches: 0 }, { cursor: null, rowsTotal: matching, rowsDone: matching, rowsScanned: rows, batches: 0, done: true });
  assert.deepEqual(checkpoint!.cursor, [String(rows)], 'the cursor ends at the last key');
  assert.deepEqual(await journalStatus(url, id), { status: 'applied', steps: ['done'] });
}

test('continue-as-new: one data step spans several workflow runs; result and progress stay exact', { timeout: 300_000 }, async (t) => {
  const { db, dir, env } = await fixture('data_can');
  const ROWS = 300_000;
  const matching = expectedMatching(ROWS);
  await createItemsTable(db.url, ROWS);
  const id = '20250501000000_reprice_items';
  // At most 4 batches of 1000 keys a second: 300 batches take over a minute, far more than the
  // ~5 slices (5 s each) after which the harness's 40-event limit suggests continue-as-new.
  await dir.write(id, migrationSource([updateItemsStep()], loadControlSource(pinnedLoadControl(1000, 250))));
  const workflowId = migrationWorkflowId(dbKeyFromUrl(db.url), id, 'up');
  const temporal = await testClient();
  const client = temporal.client;
  const up = spawnUp(env, [], children);
  const holder = new pg.Client({ connectionString: db.url, application_name: 'stockrx-test lock holder' });
  try {
    // Hold the step's journal row so the step cannot finish until we have read its final progress:
    // batches and continue-as-new never write that row; finishDataStep does, last. (The row is
    // written with the checkpoint, in prepareDataStep's transaction.)
    await waitFor('the data step to be prepared', async () => ((await readCheckpointRow(db.url, id)) ? true : undefined), 120_000, 100);
    await holder.connect();
    await holder.query('BEGIN');
    const locked = await holder.query('SELECT 1 FROM stockrx_migrate.steps WHERE migration_id = $1 AND step_index = 0 FOR UPDATE', [id]);
    assert.equal(locked.rowCount, 1);

    const seen: MigrationProgress[] = [];
    const third = await waitForProgress(client, workflowId, 'the step to reach its third workflow run', (p) => {
      if (p.data) seen.push(p);
      return p.runs >= 3 && p.data !== null && p.data.rowsDone > 0;
    });
    t.diagnostic(`run ${third.runs}: ${third.data!.rowsDone}/${third.data!.rowsTotal} rows, ${third.data!.batches} batches`);
    assert.equal(third.status, 'running');
    assert.equal(third.data!.rowsTotal, matching, 'rowsTotal is fixed at the step start and carried across runs');
    // Progress never goes backwards across runs.
    for (const [a, b] of seen.slice(1).map((p, i) => [seen[i]!, p] as const)) {
      assert.ok(b.runs >= a.runs && b.data!.rowsDone >= a.data!.rowsDone && b.data!.batches >= a.data!.batches, `progress went backwards: ${JSON.stringify([a.data, b.data])}`);
    }
    const atThird = (await readCheckpointRow(db.url, id))!;
    assert.ok(atThird.rowsDone < matching, 'the step is still running in its third run');

    // Finish faster: a live change in run ≥ 3 (it must survive any further continue-as-new).
    const changed = await client.workflow.getHandle(workflowId).executeUpdate(setLoadControlUpdate, { args: [{ sleepMs: 0, minSleepMs: 0, initialBatchSize: 5000, maxBatchSize: 5000 }] });
    assert.equal(changed.sleepMs, 0);

    // The last batch is in; finishDataStep waits for our lock: the progress must now be exact.
    const last = await waitForProgress(client, workflowId, 'the last batch', (p) => p.data !== null && p.data.rowsDone === p.data.rowsTotal, 180_000);
    await waitFor('finishDataStep to wait for the journal row', async () => ((await query(db.url, `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'stockrx-migrate worker' AND wait_event_type = 'Lock'`)).length > 0 ? true : undefined), 60_000, 100);
    const checkpoint = (await readCheckpointRow(db.url, id))!;
    t.diagnostic(`final progress: run ${last.runs}, ${JSON.stringify({ ...last.data, lastSample: undefined, loadControl: undefined, reasons: undefined })}`);
    assert.equal(last.status, 'running');
    assert.ok(last.runs >= 3, `the step spanned ${last.runs} runs`);
    assert.deepEqual(last.current, { stepIndex: 0, label: 'updateRecords items set price, note' });
    assert.deepEqual(
      { rowsDone: last.data!.rowsDone, rowsTotal: last.data!.rowsTotal, batches: last.data!.batches, rowErrors: last.data!.rowErrors, batchSize: last.data!.batchSize, sleepMs: last.data!.sleepMs },
      { rowsDone: matching, rowsTotal: matching, batches: checkpoint.batches, rowErrors: 0, batchSize: 5000, sleepMs: 0 },
    );
    assert.deepEqual(last.data!.loadControl, changed, 'the live change holds to the end of the step');
    assert.equal(last.data!.etaSeconds, 0);
    await holder.query('ROLLBACK');

    await finish(up, id);
    const result = await client.workflow.getHandle(workflowId).result();
    assert.deepEqual(result, { migrationId: id, outcome: 'applied' });
  } catch (error) {
    throw withOutput(error, { up });
  } finally {
    await holder.end().catch(() => undefined);
    up.child.kill('SIGKILL');
  }

  // Temporal's own view: the run chain of the workflow ID.
  const runs = await waitFor('visibility to list every run', async () => {
    const statuses: string[] = [];
    for await (const execution of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) statuses.push(execution.status.name);
    return statuses.includes('COMPLETED') ? statuses : undefined;
  }, 30_000, 500);
  await temporal.close();
  t.diagnostic(`runs: ${runs.join(', ')}`);
  assert.ok(runs.filter((s) => s === 'CONTINUED_AS_NEW').length >= 2, `at least two runs continued as new: ${runs.join(', ')}`);
  assert.equal(runs.filter((s) => s === 'COMPLETED').length, 1);

  await assertAppliedExactlyOnce(db.url, id, ROWS);
});

test('pause holds the step: nothing changes while paused; resume continues from the checkpoint', { timeout: 300_000 }, async (t) => {
  const { db, dir, env } = await fixture('data_pause');
  const ROWS = 300_000;
  await createItemsTable(db.url, ROWS);
  const id = '20250502000000_reprice_items';
  // At most 20 batches of 1000 keys a second: 300 batches take at least 15 s, so the pause (taken
  // at the end of the running slice, within 5 s) always lands mid-step.
  await dir.write(id, migrationSource([updateItemsStep()], loadControlSource(pinnedLoadControl(1000, 50))));
  const workflowId = migrationWorkflowId(dbKeyFromUrl(db.url), id, 'up');
  const temporal = await testClient();
  const handle = temporal.client.workflow.getHandle(workflowId);
  const up = spawnUp(env, [], children);
  try {
    await waitFor('the step to be under way', async () => {
      const cp = await readCheckpointRow(db.url, id);
      return cp && cp.rowsDone >= 10_000 ? true : undefined;
    }, 120_000, 50);
    await handle.signal(pauseSignal);
    const paused = await waitForProgress(temporal.client, workflowId, 'the step to be paused', (p) => p.status === 'paused', 30_000);
    assert.equal(paused.data!.paused, true);

    // Nothing moves while paused: the checkpoint, the change log and the table itself.
    const snapshot = async () => ({
      checkpoint: await readCheckpointRow(db.url, id),
      changes: (await query<{ n: string; max: string | null }>(db.url, 'SELECT count(*) AS n, max(seq) AS max FROM items_changes'))[0],
      table: await tableChecksum(db.url),
      running: (await query(db.url, `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'stockrx-migrate worker' AND state = 'active' AND pid <> pg_backend_pid()`)).length,
    });
    const first = await snapshot();
    await sleep(4000);
    const second = await snapshot();
    t.diagnostic(`paused at ${first.checkpoint!.rowsDone}/${first.checkpoint!.rowsTotal} rows, cursor ${JSON.stringify(first.checkpoint!.cursor)}`);
    assert.deepEqual(second, first, 'no row, checkpoint or log entry changed while paused');
    assert.equal(first.running, 0, 'no statement of the worker runs while paused');
    assert.ok(first.checkpoint!.rowsDone < first.checkpoint!.rowsTotal, 'paused mid-step');
    assert.equal(Number(first.changes!.n), first.checkpoint!.rowsDone, 'every committed batch is in the checkpoint');
    const stillPaused = await progressOf(temporal.client, workflowId);
    assert.equal(stillPaused.status, 'paused');
    assert.equal(stillPaused.data!.rowsDone, first.checkpoint!.rowsDone);

    await handle.signal(resumeSignal);
    await finish(up, id);

    // Resumed from the checkpoint: rows up to the paused cursor were changed before the pause,
    // every later change is beyond it, and no row was changed twice.
    const pausedCursor = Number(first.checkpoint!.cursor![0]);
    const [split] = await query<{ before_max: string; after_min: string; after_n: string }>(
      db.url,
      'SELECT max(id) FILTER (WHERE seq <= $1) AS before_max, min(id) FILTER (WHERE seq > $1) AS after_min, count(*) FILTER (WHERE seq > $1) AS after_n FROM items_changes',
      [first.changes!.max],
    );
    assert.ok(Number(split!.before_max) <= pausedCursor, `changes before the pause stop at the cursor ${pausedCursor}`);
    assert.ok(Number(split!.after_min) > pausedCursor, `changes after the resume start beyond the cursor ${pausedCursor}`);
    assert.equal(Number(split!.after_n), expectedMatching(ROWS) - first.checkpoint!.rowsDone);
  } catch (error) {
    throw withOutput(error, { up });
  } finally {
    up.child.kill('SIGKILL');
    await temporal.close();
  }
  await assertAppliedExactlyOnce(db.url, id, ROWS);
});

test('a live load-control change is validated: a valid one takes effect, an invalid one is refused and changes nothing', { timeout: 300_000 }, async (t) => {
  const { db, dir, env } = await fixture('data_setlc');
  const ROWS = 300_000;
  await createItemsTable(db.url, ROWS);
  const id = '20250503000000_reprice_items';
  // Batch size pinned (min = max), first at 1000, then — by the live change — at 2000: the canary
  // is sampled every 15 ms, so a free batch size would grow on a "comfortably under budget"
  // window; pinned, it changes only when we say so.
  // A 150 ms pause keeps the step running for most of a minute at 1000-key batches, so the
  // change has slices left to show itself in however fast the machine is (at 50 ms a quiet
  // machine finished the step before the change took effect).
  const config = pinnedLoadControl(1000, 150, { maxSleepMs: 1000 });
  await dir.write(id, migrationSource([updateItemsStep()], loadControlSource(config)));
  const workflowId = migrationWorkflowId(dbKeyFromUrl(db.url), id, 'up');
  const temporal = await testClient();
  const handle = temporal.client.workflow.getHandle(workflowId);
  const up = spawnUp(env, [], children);
  try {
    const running = await waitForProgress(temporal.client, workflowId, 'the first slice', (p) => p.data !== null && p.data.batches > 0);
    assert.equal(running.data!.batchSize, 1000, 'the controller holds the configured batch size');
    const before: LoadControlConfig = running.data!.loadControl;
    assert.equal(before.initialBatchSize, 1000);

    const change = { initialBatchSize: 2000, minBatchSize: 2000, maxBatchSize: 2000 };
    const accepted = await handle.executeUpdate(setLoadControlUpdate, { args: [change] });
    assert.deepEqual(accepted, { ...before, ...change }, 'the update returns the new settings, everything else unchanged');
    const shown = await progressOf(temporal.client, workflowId);
    assert.deepEqual(shown.data!.loadControl, accepted, 'progress shows the new settings as soon as the update is accepted');
    // It takes effect from the next slice on (the running one finishes with its own settings):
    // the controller reports 2000, and the checkpoint advances 2000 keys per batch.
    const effective = await waitForProgress(temporal.client, workflowId, 'batches of 2000', (p) => p.data?.batchSize === 2000, 30_000);
    const a = (await readCheckpointRow(db.url, id))!;
    await sleep(1500);
    const b = (await readCheckpointRow(db.url, id))!;
    t.diagnostic(`batch size 2000 from ${effective.data!.rowsDone} rows on; then ${b.batches - a.batches} batches over ${b.rowsScanned - a.rowsScanned} keys`);
    assert.equal(b.done, false, 'still running (the last batch may be short)');
    assert.ok(b.batches > a.batches, 'batches ran meanwhile');
    assert.equal(b.rowsScanned - a.rowsScanned, 2000 * (b.batches - a.batches), 'every batch since the change covered 2000 keys');

    await assert.rejects(
      handle.executeUpdate(setLoadControlUpdate, { args: [{ minBatchSize: 6000 }] }),
      (error: Error & { cause?: Error }) => {
        assert.match(error.cause?.message ?? error.message, /minBatchSize \(6000\) is above maxBatchSize \(2000\): lower minBatchSize or raise maxBatchSize/);
        return true;
      },
    );
    await assert.rejects(
      handle.executeUpdate(setLoadControlUpdate, { args: [{ cpuThreshold: 150, initialBatchSize: 3000 }] }),
      (error: Error & { cause?: Error }) => {
        assert.match(error.cause?.message ?? error.message, /cpuThreshold is a percentage: set it between 1 and 100, got 150/);
        return true;
      },
    );
    const after1 = await progressOf(temporal.client, workflowId);
    assert.deepEqual(after1.data!.loadControl, accepted, 'a refused change leaves the settings as they were');
    // …and the pace too: still 2000-row batches after the next slice.
    const sliceBatches = after1.data!.batches;
    const later = await waitForProgress(temporal.client, workflowId, 'another slice', (p) => p.data === null || p.data.batches > sliceBatches, 30_000);
    if (later.data) {
      assert.equal(later.data.batchSize, 2000);
      assert.deepEqual(later.data.loadControl, accepted);
    }

    // Only the accepted update is in the history (of whichever run took it): refused ones never reach it.
    await finish(up, id);
    let accepts = 0;
    for await (const execution of temporal.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      const history = await temporal.client.workflow.getHandle(workflowId, execution.runId).fetchHistory();
      accepts += (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
    }
    assert.equal(accepts, 1, 'exactly one update accepted');
  } catch (error) {
    throw withOutput(error, { up });
  } finally {
    up.child.kill('SIGKILL');
    await temporal.close();
  }
  await assertAppliedExactlyOnce(db.url, id, ROWS);
});
