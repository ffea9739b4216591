// The load controller in a real run: a 300k-row updateRecords through the real workflows (`up
// --no-worker` from the CLI, served by an in-test worker) whose host and database load comes from
// a fake source the test drives. Load goes calm → raised (memory and active backends over their
// thresholds, CPU too but advisory while the canary runs) → critical (lock waiters and active
// backends over their critical levels) → calm, and the migration's `progress` query shows the
// batch shrinking and the pause growing, the step throttled (no rows changing) while load is
// critical, and the batch and pause back where they were once load is gone. The step then
// completes with every matching row changed exactly once (an UPDATE trigger logs every row version).
// The canary (a real primary-key lookup) still runs each batch; its budget is out of reach here so
// the only load the controller reacts to is the one the test sets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CliEnv, type CliResult, spawnCli } from '../helpers/cli';
import { changeCounts, createItemsTable, expectedMatching, journalStatus, loadControlSource, updateItemsStep, trackResources, withTimeout, wrongValues } from '../helpers/data-steps';
import { createTestDatabase, uniqueTaskQueue } from '../helpers/env';
import { createMigrationsDir, migrationSource } from '../helpers/migrations';
import { startTestWorker, testClient } from '../helpers/temporal';
import { type DatabaseLoad, type HostLoad, type LoadSource } from '../../src/activities/data/load-source';
import { dbKeyFromUrl } from '../../src/config/db-key';
import { type RunningWorker } from '../../src/worker';
import { type DataProgress, type MigrationProgress, migrationWorkflowId, progressQuery } from '../../src/workflows/definitions';

const ROWS = 300_000;
const ID = '20250501000000_reprice_items_under_load';

// Bounds that make the run last through all four phases on any machine: at most 2000 rows per
// batch and at least 100 ms between batches cap the pace at 20k rows/s, so the first calm slice
// (5 s) covers at most 100k of the 225k matching rows and plenty remain once the load is gone.
const MIN_BATCH = 20;
const MAX_BATCH = 2000;
const MIN_SLEEP = 100;
const MAX_SLEEP = 1500;
const LOAD_CONTROL = {
  initialBatchSize: 200,
  minBatchSize: MIN_BATCH,
  maxBatchSize: MAX_BATCH,
  sleepMs: 200,
  minSleepMs: MIN_SLEEP,
  maxSleepMs: MAX_SLEEP,
  // Thresholds at their defaults, spelled out because the fake load is set against them.
  cpuThreshold: 70,
  cpuCritical: 95,
  memoryThreshold: 80,
  memoryCritical: 95,
  activeBackendsThreshold: 20,
  activeBackendsCritical: 50,
  lockWaitersThreshold: 2,
  lockWaitersCritical: 5,
  // Out of reach: neither batch time nor canary latency on a busy shared host changes the pace.
  queryTimeThresholdMs: 600_000,
  targetBatchMs: 300_000,
  latencyBudget: 1_000_000,
  // A one-sample canary window: the canary consents to speeding up at every batch (its p99 is
  // always far under the budget above), so recovery is not held up gathering samples.
  canaryWindow: 1,
};

type Load = HostLoad & DatabaseLoad;
const CALM: Load = { cpuPercent: 10, memoryPercent: 30, activeBackends: 1, lockWaiters: 0, replicaLagMs: null };
/** Over every normal threshold, under every critical one: the step slows down but keeps going. */
const RAISED: Load = { cpuPercent: 90, memoryPercent: 85, activeBackends: 30, lockWaiters: 1, replicaLagMs: null };
/** Over the critical levels of binding signals: the step pauses until load is back under normal. */
const CRITICAL: Load = { cpuPercent: 90, memoryPercent: 85, activeBackends: 80, lockWaiters: 9, replicaLagMs: null };

/** The load the worker sees; the test swaps it between phases. */
let current: Load = { ...CALM };
let samples = 0;
const fakeLoad: LoadSource = {
  host: async () => ({ cpuPercent: current.cpuPercent, memoryPercent: current.memoryPercent }),
  database: async () => {
    samples += 1;
    return { activeBackends: current.activeBackends, lockWaiters: current.lockWaiters, replicaLagMs: current.replicaLagMs };
  },
};

const { children, cleanups } = trackResources();

type Report = MigrationProgress & { data: DataProgress };

test('raised load shrinks the batch and grows the pause, critical load throttles the step, and both recover when load is gone', { timeout: 420_000 }, async (t) => {
  const db = await createTestDatabase('load_control');
  cleanups.push(() => db.drop());
  const dir = await createMigrationsDir('load-control');
  cleanups.push(() => dir.cleanup());
  await createItemsTable(db.url, ROWS);
  const matching = expectedMatching(ROWS);
  await dir.write(ID, migrationSource([updateItemsStep()], loadControlSource(LOAD_CONTROL)));

  const env: CliEnv = { databaseUrl: db.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue('load-control'), extra: { STOCKRX_METRICS_PORT: '0' } };
  const worker: RunningWorker = await startTestWorker({ databaseUrl: db.url, taskQueue: env.taskQueue, migrationsDir: dir.dir, loadSource: fakeLoad });
  cleanups.push(() => worker.stop());
  const temporal = await testClient();
  cleanups.push(() => temporal.close());

  const up = spawnCli(['up', '--no-worker'], env);
  children.add(up.child);
  let upResult: CliResult | null = null;
  void up.result.then((r) => {
    upResult = r;
    children.delete(up.child);
  });

  // Every distinct report (each slice ends with one), for the assertions and for diagnosis.
  const handle = temporal.client.workflow.getHandle(migrationWorkflowId(dbKeyFromUrl(db.url), ID, 'up'));
  const reports: Report[] = [];
  const describe = (r: Report) =>
    `${r.status} rows ${r.data.rowsDone}/${r.data.rowsTotal} batches ${r.data.batches} batch ${r.data.batchSize} pause ${r.data.sleepMs} ms` +
    ` load ${JSON.stringify(r.data.lastSample && { mem: r.data.lastSample.memoryPercent, backends: r.data.lastSample.activeBackends, waiters: r.data.lastSample.lockWaiters })}` +
    ` reasons ${JSON.stringify(r.data.reasons)}`;
  /** The next slice report (after `since`, when given) that satisfies `ok`; fails if the step ends first. */
  const nextReport = async (what: string, ok: (r: Report) => boolean, since?: Report, timeoutMs = 90_000): Promise<Report> => {
    const deadline = Date.now() + timeoutMs;
    let seen = since ? reports.indexOf(since) + 1 : 0;
    for (;;) {
      let p: MigrationProgress | null = null;
      try {
        p = await handle.query(progressQuery);
      } catch {
        // Not started yet, or between runs (continue-as-new): the next poll will tell.
      }
      // Only slice reports (they carry the last sample): a run started by continue-as-new shows the
      // step's checkpoint with no sample and no controller verdict until its first slice ends.
      if (p?.data?.lastSample && p.updatedAt !== reports.at(-1)?.updatedAt) {
        reports.push(p as Report);
        t.diagnostic(describe(p as Report));
      }
      for (; seen < reports.length; seen++) if (ok(reports[seen]!)) return reports[seen]!;
      const done = p !== null && p.data === null && p.stepsDone === p.stepCount;
      if (done || upResult) assert.fail(`the step ended before ${what} (status ${p?.status}, up ${JSON.stringify(upResult)})`);
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const inBounds = (r: Report) => {
    assert.ok(r.data.batchSize >= MIN_BATCH && r.data.batchSize <= MAX_BATCH, `batch size within bounds: ${describe(r)}`);
    assert.ok(r.data.sleepMs >= MIN_SLEEP && r.data.sleepMs <= MAX_SLEEP, `pause within bounds: ${describe(r)}`);
  };

  try {
    // 1. Calm: the batch grows to its maximum and the pause falls to its minimum.
    const calm = await nextReport('a calm slice at full speed', (r) => r.data.batchSize === MAX_BATCH && r.data.sleepMs === MIN_SLEEP);
    assert.equal(calm.status, 'running');
    assert.equal(calm.data.throttled, false);
    assert.deepEqual(calm.data.lastSample && [calm.data.lastSample.memoryPercent, calm.data.lastSample.activeBackends], [CALM.memoryPercent, CALM.activeBackends]);
    assert.ok(calm.data.lastSample!.canaryMs !== null && calm.data.lastSample!.canaryMs >= 0, 'the real canary was measured');

    // 2. Raised: smaller batches, longer pauses, still running; CPU is reported but only advisory.
    current = { ...RAISED };
    const raised = await nextReport('a slice under raised load', (r) => r.data.lastSample?.activeBackends === RAISED.activeBackends, calm);
    assert.equal(raised.status, 'running', describe(raised));
    assert.equal(raised.data.throttled, false);
    assert.ok(raised.data.batchSize < calm.data.batchSize, `the batch shrank under load: ${describe(calm)} → ${describe(raised)}`);
    assert.ok(raised.data.sleepMs > calm.data.sleepMs, `the pause grew under load: ${describe(calm)} → ${describe(raised)}`);
    const reasons = raised.data.reasons.join('\n');
    assert.match(reasons, /memory 85 % over 80 %: batch −20 %, pause doubled/);
    assert.match(reasons, /30 active backends over 20: batch −20 %, pause doubled/);
    assert.match(reasons, /cpu 90 % over 70 % \(advisory/);
    inBounds(raised);
    // Sustained, it keeps pushing until the pause is at its bound (and never past it).
    const sustained = await nextReport('the pause to reach maxSleepMs under sustained load', (r) => r.data.sleepMs === MAX_SLEEP, raised);
    assert.equal(sustained.status, 'running');
    assert.ok(sustained.data.batchSize < raised.data.batchSize || sustained.data.batchSize === MIN_BATCH, `the batch kept shrinking: ${describe(raised)} → ${describe(sustained)}`);
    inBounds(sustained);

    // 3. Critical: the step is throttled with the reasons, and no rows change while it is.
    current = { ...CRITICAL };
    const throttled = await nextReport('a throttled slice', (r) => r.status === 'throttled', sustained);
    assert.equal(throttled.data.throttled, true);
    assert.match(throttled.data.reasons.join('\n'), /(pausing|still paused): 80 active backends over critical 50; 9 lock waiters over critical 5/);
    const held = await nextReport('a second throttled slice', () => true, throttled);
    assert.equal(held.status, 'throttled', describe(held));
    assert.equal(held.data.rowsDone, throttled.data.rowsDone, 'no rows change while throttled');
    assert.equal(held.data.batches, throttled.data.batches, 'no batch runs while throttled');
    assert.match(held.data.reasons.join('\n'), /still paused/);
    inBounds(held);

    // 4. Calm again: the step resumes, the batch grows back and the pause falls, to where they were.
    current = { ...CALM };
    const resumed = await nextReport('a running slice after the load is gone', (r) => r.status === 'running', held);
    assert.equal(resumed.data.throttled, false);
    assert.ok(resumed.data.rowsDone > held.data.rowsDone, 'rows change again');
    assert.ok(resumed.data.batchSize > held.data.batchSize, `the batch grows back: ${describe(held)} → ${describe(resumed)}`);
    assert.ok(resumed.data.sleepMs < held.data.sleepMs, `the pause falls: ${describe(held)} → ${describe(resumed)}`);
    const recovered = await nextReport('the batch and pause back at their calm values', (r) => r.data.batchSize === calm.data.batchSize && r.data.sleepMs === calm.data.sleepMs, held);
    assert.equal(recovered.status, 'running');
    assert.ok(recovered.data.rowsDone < matching, 'recovered before the step finished');
  } finally {
    current = { ...CALM };
  }

  // The step completes, each matching row changed exactly once, to the value of one application.
  const result = await withTimeout(up.result, 300_000, '`up --no-worker` to finish');
  assert.equal(result.code, 0, `up failed:\n${result.stdout}\n${result.stderr}`);
  assert.deepEqual(await changeCounts(db.url), { logged: matching, distinct: matching, duplicated: 0, nonMatching: 0, missing: 0 });
  assert.equal(await wrongValues(db.url), 0);
  assert.deepEqual(await journalStatus(db.url, ID), { status: 'applied', steps: ['done'] });
  const final = await handle.query(progressQuery);
  assert.equal(final.status, 'applied');
  assert.ok(samples > reports.length, 'the worker sampled the fake source after every batch');
  t.diagnostic(`${reports.length} slice reports, ${samples} load samples`);
});
