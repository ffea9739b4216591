// Every anomaly rule end to end, from the migration workflow to a webhook receiver on 127.0.0.1:
// each fires, reaches the receiver exactly once, and is followed by exactly one resolved notice for
// the same episode (the JSON the alert sender posts: rule, state, id, a Slack-compatible `text`).
//  - error_rate, high_cpu, high_memory, slow_batch: an eachBatch migration whose handler throws on
//    every 4th of the first 800 rows (maxErrorRatePercent raised, so the step goes on), whose host
//    load comes from a fake source that stays high until the alert arrives, and whose table has a
//    trigger that sleeps on one row in each of three consecutive batches: slow batches in more than
//    one slice, which must stay one episode, not one per slice.
//  - stalled, slow_progress, rate_drop: an updateRecords migration that first blocks on a row lock
//    the test holds until `stalled` arrives, then is steered with live load-control changes: slow
//    until `slow_progress` fires, fast until it resolves, slow until `rate_drop` fires, fast again.
//  - a dead webhook (accepts connections, never answers) changes nothing: the first migration runs
//    again and is applied with the same rows; every notifyAlerts activity completed on its first
//    attempt although the webhook answered no request; and the history shows data-step slices
//    scheduled while a notifyAlerts activity was still outstanding: nothing waited for delivery.
// The harness suggests continue-as-new every 40 history events, so each step spans several workflow
// runs: open episodes and the rate rules' warm-up have to carry across them.
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import pg from 'pg';
import { type Client, type WorkflowHandle } from '@temporalio/client';
import { type AlertNotice } from '../../src/activities/alerts/alert-sender';
import { type DatabaseLoad, type HostLoad, type LoadSource } from '../../src/activities/data/load-source';
import { dbKeyFromUrl } from '../../src/config/db-key';
import { ALERT_SEVERITY, type AlertRule } from '../../src/core/anomaly-rules';
import { type LoadControlConfig } from '../../src/core/load-control-config';
import { migrationWorkflowId, setLoadControlUpdate } from '../../src/workflows/definitions';
import { type CliEnv, type CliResult, spawnCli } from '../helpers/cli';
import { changeCounts, createItemsTable, expectedMatching, journalStatus, loadControlSource, pinnedLoadControl, sleep, updateItemsStep, withTimeout, wrongValues } from '../helpers/data-steps';
import { createTestDatabase, type TestDatabase, uniqueTaskQueue } from '../helpers/env';
import { createMigrationsDir, migrationSource } from '../helpers/migrations';
import { query } from '../helpers/pg-probe';
import { startTestWorker, testClient } from '../helpers/temporal';

const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) child.kill('SIGKILL');
});

// ---------------------------------------------------------------------------------------------
// The webhook receiver and the fake load source

/** One POST as the receiver got it. */
interface Delivery {
  text: string;
  alert: AlertNotice;
  /** The X-Stockrx-Alert-Id header. */
  idHeader: string | undefined;
}

interface WebhookReceiver {
  url: string;
  deliveries: Delivery[];
  /** Bodies that were not the JSON the sender promises. */
  malformed: string[];
  /** Requests answered so far: never, while a dead webhook is dead. */
  answered(): number;
  /** A dead webhook comes back: held requests are answered, and so is every later one. */
  revive(): void;
  close(): Promise<void>;
}

/**
 * 'answering' replies 200 at once, like Slack. 'dead' reads each request and never answers: the
 * worst case for a sender, which gets no error, only its own timeouts.
 */
async function startWebhookReceiver(behaviour: 'answering' | 'dead'): Promise<WebhookReceiver> {
  const deliveries: Delivery[] = [];
  const malformed: string[] = [];
  const held = new Set<http.ServerResponse>();
  let answering = behaviour === 'answering';
  let answered = 0;
  const answer = (res: http.ServerResponse) => {
    answered += 1;
    res.end('ok');
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      try {
        const body = JSON.parse(raw) as { text: string; alert: AlertNotice };
        const header = req.headers['x-stockrx-alert-id'];
        deliveries.push({ text: body.text, alert: body.alert, idHeader: Array.isArray(header) ? header[0] : header });
      } catch {
        malformed.push(raw);
      }
      if (answering) answer(res);
      else {
        held.add(res);
        // The sender gave up on this attempt (its timeout): nothing left to answer.
        res.on('close', () => held.delete(res));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const revive = () => {
    answering = true;
    for (const res of held) answer(res);
    held.clear();
  };
  return {
    url: `http://127.0.0.1:${port}/hooks/stockrx`,
    deliveries,
    malformed,
    answered: () => answered,
    revive,
    async close() {
      revive();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const CALM_HOST: HostLoad = { cpuPercent: 20, memoryPercent: 30 };
const CALM_DATABASE: DatabaseLoad = { activeBackends: 1, lockWaiters: 0, replicaLagMs: null };

/**
 * Host load the test sets (the real one on a shared two-core box could raise high_cpu on its own);
 * database load stays calm, so the lock waiter the stall test creates does not change the pace.
 */
function fakeLoad(): { source: LoadSource; host: HostLoad } {
  const host = { ...CALM_HOST };
  return { host, source: { host: async () => ({ ...host }), database: async () => ({ ...CALM_DATABASE }) } };
}

// ---------------------------------------------------------------------------------------------
// One migration run: database, migrations directory, receiver, in-test worker, `up --no-worker`

interface Harness {
  db: TestDatabase;
  receiver: WebhookReceiver;
  load: { host: HostLoad };
  env: CliEnv;
  write(id: string, source: string): Promise<void>;
}

async function withHarness(name: string, webhook: 'answering' | 'dead', work: (h: Harness) => Promise<void>): Promise<void> {
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const db = await createTestDatabase(name);
    cleanups.push(() => db.drop());
    const dir = await createMigrationsDir(name);
    cleanups.push(() => dir.cleanup());
    const receiver = await startWebhookReceiver(webhook);
    cleanups.push(() => receiver.close());
    const load = fakeLoad();
    const env: CliEnv = { databaseUrl: db.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue(name) };
    const worker = await startTestWorker({ databaseUrl: db.url, taskQueue: env.taskQueue, migrationsDir: dir.dir, loadSource: load.source, webhookUrl: receiver.url });
    cleanups.push(async () => {
      // Answer first, so the sender's pending retries finish while the worker drains them.
      receiver.revive();
      await worker.stop();
    });
    await work({ db, receiver, load, env, write: async (id, source) => void (await dir.write(id, source)) });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

interface UpRun {
  result: Promise<CliResult>;
  /** The result once `up` exited, else null. */
  finished(): CliResult | null;
}

function startUp(env: CliEnv): UpRun {
  const up = spawnCli(['up', '--no-worker'], env);
  children.add(up.child);
  let finished: CliResult | null = null;
  void up.result.then((r) => {
    finished = r;
    children.delete(up.child);
  });
  return { result: up.result, finished: () => finished };
}

async function finish(up: UpRun): Promise<CliResult> {
  const result = await withTimeout(up.result, 240_000, '`up` to finish');
  assert.equal(result.code, 0, `up failed:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** "rule state (episode since, at +s)" for each delivery, in arrival order: for failure messages. */
function describeDeliveries(deliveries: Delivery[]): string {
  const first = Math.min(...deliveries.map((d) => d.alert.since));
  return deliveries.map((d) => `${d.alert.rule} ${d.alert.state} (since ${d.alert.since}, at +${((d.alert.at - first) / 1000).toFixed(1)} s)`).join(', ') || 'none';
}

/** The first delivery of `rule`'s `state` notice; fails at once if `up` ends without it. */
async function awaitNotice(receiver: WebhookReceiver, up: UpRun, rule: AlertRule, state: 'firing' | 'resolved', timeoutMs = 120_000): Promise<Delivery> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = receiver.deliveries.find((d) => d.alert.rule === rule && d.alert.state === state);
    if (found) return found;
    const ended = up.finished();
    if (ended) assert.fail(`\`up\` exited (code ${ended.code}) before the ${rule} ${state} notice; received: ${describeDeliveries(receiver.deliveries)}\n${ended.stdout}\n${ended.stderr}`);
    if (Date.now() > deadline) assert.fail(`timed out waiting for the ${rule} ${state} notice; received: ${describeDeliveries(receiver.deliveries)}`);
    await sleep(50);
  }
}

/**
 * Everything the receiver got for `rule`: exactly one firing notice, then exactly one resolved
 * notice of the same episode, each well formed. Returns the pair for the rule's own checks.
 */
function assertOneEpisode(receiver: WebhookReceiver, rule: AlertRule, migrationId: string, workflowId: string): [firing: AlertNotice, resolved: AlertNotice] {
  const mine = receiver.deliveries.filter((d) => d.alert.rule === rule);
  assert.deepEqual(mine.map((d) => d.alert.state), ['firing', 'resolved'], `${rule}: one firing notice, then one resolved notice; received: ${describeDeliveries(receiver.deliveries)}`);
  const [firing, resolved] = mine as [Delivery, Delivery];
  assert.equal(resolved.alert.since, firing.alert.since, `${rule}: the resolved notice closes the episode that fired`);
  assert.ok(resolved.alert.at >= firing.alert.at, `${rule}: resolved at ${resolved.alert.at}, after it fired at ${firing.alert.at}`);
  for (const d of mine) {
    assert.equal(d.alert.id, `${workflowId}/${rule}/${firing.alert.since}/${d.alert.state}`, 'the id names workflow, rule, episode and state');
    assert.equal(d.idHeader, d.alert.id, 'X-Stockrx-Alert-Id carries the id, so a receiver can drop duplicates');
    assert.equal(d.alert.migrationId, migrationId);
    assert.equal(d.alert.workflowId, workflowId);
    assert.equal(d.alert.severity, ALERT_SEVERITY[rule]);
  }
  const level = ALERT_SEVERITY[rule] === 'critical' ? '🚨 stockrx-migrate .*: CRITICAL' : '⚠️ stockrx-migrate .*: WARNING';
  assert.match(firing.text, new RegExp(`^${level} ${rule} — \\S`), 'Slack text of the firing notice');
  assert.ok(firing.text.includes(migrationId), 'the text names the migration');
  assert.match(resolved.text, new RegExp(`^✅ stockrx-migrate .*: RESOLVED ${rule} — resolved: `), 'Slack text of the resolved notice');
  return [firing.alert, resolved.alert];
}

function assertRules(receiver: WebhookReceiver, expected: AlertRule[]): void {
  assert.deepEqual(receiver.malformed, [], 'every POST body is the JSON the sender promises');
  const seen = [...new Set(receiver.deliveries.map((d) => d.alert.rule))].sort();
  assert.deepEqual(seen, [...expected].sort(), `only the rules this run provokes fire; received: ${describeDeliveries(receiver.deliveries)}`);
}

// ---------------------------------------------------------------------------------------------
// Row errors, host load and slow batches (an eachBatch step)

const PARTS_ID = '20250601000000_check_parts';
const PARTS = 4000;
/** Rows the handler refuses: 200 of the first 800, so the error rate starts at 25 % and falls to 5 %. */
const FAILING_ROWS = 'id % 4 = 0 AND id <= 800';
/** One sleeping row in each of three consecutive 100-row batches: at least two slices see a slow batch. */
const SLOW_ROWS = [2550, 2650, 2750];
const SLOW_ROW_SECONDS = 2.5;
const SLOW_BATCH_MS = 2000;
const HIGH_HOST: HostLoad = { cpuPercent: 90, memoryPercent: 92 };

async function seedParts(url: string): Promise<void> {
  await query(
    url,
    `CREATE TABLE parts (id bigint PRIMARY KEY, label text NOT NULL, checked boolean NOT NULL DEFAULT false);
     INSERT INTO parts (id, label) SELECT g, 'part ' || g FROM generate_series(1, ${PARTS}) g;
     -- What the migration must leave: every row checked and upper-cased, except the refused ones.
     CREATE TABLE parts_expected AS
       SELECT id, CASE WHEN ${FAILING_ROWS} THEN label ELSE upper(label) END AS label, NOT (${FAILING_ROWS}) AS checked FROM parts;
     CREATE FUNCTION parts_slow_update() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN PERFORM pg_sleep(${SLOW_ROW_SECONDS}); RETURN NEW; END $$;
     CREATE TRIGGER parts_slow_update BEFORE UPDATE ON parts FOR EACH ROW
       WHEN (OLD.id IN (${SLOW_ROWS.join(', ')})) EXECUTE FUNCTION parts_slow_update();`,
  );
}

function partsMigration(): string {
  return migrationSource(
    [`m.eachBatch('parts', { handler: 'check', maxErrorRatePercent: 50 })`],
    // 100-row batches 200 ms apart: at most 2,600 rows in the first slice, so the error rate is
    // over 5 % when it is first judged, however fast the machine.
    loadControlSource(pinnedLoadControl(100, 200)) +
      // The watchdog looks every 5 s (stalledAfterMs / 3), inside every slice; no slice comes near
      // 15 s. The rate rules are the other test's: here slow-batch slices could trip them after
      // the 30 s warm-up on a slow machine, so they are switched off.
      `  monitor: { slowBatchMs: ${SLOW_BATCH_MS}, stalledAfterMs: 15000, minRowsPerSecond: 0, rateDropFraction: 0 },\n` +
      `  handlers: {
    async check(row, { db }) {
      if (Number(row.id) % 4 === 0 && Number(row.id) <= 800) throw new Error('injected row error ' + row.id);
      await db.updateTable('parts').set({ label: String(row.label).toUpperCase(), checked: true }).where('id', '=', row.id).execute();
    },
  },\n`,
  );
}

/** Runs the parts migration with high host load until both load alerts have arrived. */
async function runPartsMigration(h: Harness): Promise<{ workflowId: string }> {
  await seedParts(h.db.url);
  await h.write(PARTS_ID, partsMigration());
  Object.assign(h.load.host, HIGH_HOST);
  const up = startUp(h.env);
  await awaitNotice(h.receiver, up, 'high_cpu', 'firing');
  h.load.host.cpuPercent = CALM_HOST.cpuPercent;
  await awaitNotice(h.receiver, up, 'high_memory', 'firing');
  h.load.host.memoryPercent = CALM_HOST.memoryPercent;
  await finish(up);
  return { workflowId: migrationWorkflowId(dbKeyFromUrl(h.db.url), PARTS_ID, 'up') };
}

/** The parts migration's result: applied, every row as expected, each refused row recorded once. */
async function assertPartsApplied(url: string): Promise<void> {
  assert.deepEqual(await journalStatus(url, PARTS_ID), { status: 'applied', steps: ['done'] });
  const [diff] = await query<{ n: string }>(
    url,
    `SELECT count(*) AS n FROM parts p FULL JOIN parts_expected e USING (id) WHERE (p.label, p.checked) IS DISTINCT FROM (e.label, e.checked)`,
  );
  assert.equal(Number(diff!.n), 0, 'every row is exactly as expected');
  const recorded = await query<{ id: string }>(url, `SELECT row_key->>0 AS id FROM stockrx_migrate.row_errors WHERE migration_id = $1 ORDER BY (row_key->>0)::bigint`, [PARTS_ID]);
  const refused = await query<{ id: string }>(url, `SELECT id::text AS id FROM parts WHERE ${FAILING_ROWS} ORDER BY parts.id`);
  assert.equal(refused.length, 200);
  assert.deepEqual(recorded.map((r) => r.id), refused.map((r) => r.id), 'each refused row is recorded once');
}

test('error_rate, high_cpu, high_memory and slow_batch: each fires once and resolves once', { timeout: 300_000 }, async (t) => {
  await withHarness('alerts_rows', 'answering', async (h) => {
    const { workflowId } = await runPartsMigration(h);
    await assertPartsApplied(h.db.url);
    t.diagnostic(`${await runCount(workflowId)} workflow runs; received: ${describeDeliveries(h.receiver.deliveries)}`);

    assertRules(h.receiver, ['error_rate', 'high_cpu', 'high_memory', 'slow_batch']);
    const [errors] = assertOneEpisode(h.receiver, 'error_rate', PARTS_ID, workflowId);
    assert.equal(errors.threshold, 5);
    assert.ok(errors.value > 5 && errors.value <= 25, `error rate ${errors.value} % is what the refused rows make it`);
    const [cpu] = assertOneEpisode(h.receiver, 'high_cpu', PARTS_ID, workflowId);
    assert.deepEqual([cpu.value, cpu.threshold], [HIGH_HOST.cpuPercent, 80]);
    const [memory] = assertOneEpisode(h.receiver, 'high_memory', PARTS_ID, workflowId);
    assert.deepEqual([memory.value, memory.threshold], [HIGH_HOST.memoryPercent, 85]);
    const [slow] = assertOneEpisode(h.receiver, 'slow_batch', PARTS_ID, workflowId);
    assert.equal(slow.threshold, SLOW_BATCH_MS);
    assert.ok(slow.value >= SLOW_ROW_SECONDS * 1000, `the slow batch took ${slow.value} ms, at least the trigger's sleep`);
  });
});

// ---------------------------------------------------------------------------------------------
// A stalled batch, slow progress and a rate drop (an updateRecords step steered live)

const ITEMS_ID = '20250601000001_reprice_items';
const ITEMS = 60_000;
/** Active (not every 4th), in the sixth 20-row batch: the step stalls about 5 s in. */
const LOCKED_ROW = 101;
const STALLED_AFTER_MS = 10_000;
const MIN_ROWS_PER_SECOND = 30;

/** A live load-control change that pins batch size and pause (min = initial = max). */
function pace(batchSize: number, sleepMs: number): Partial<LoadControlConfig> {
  return { initialBatchSize: batchSize, minBatchSize: batchSize, maxBatchSize: batchSize, sleepMs, minSleepMs: sleepMs, maxSleepMs: sleepMs };
}
/** At most 20 rows/s, under MIN_ROWS_PER_SECOND. */
const SLOW = pace(20, 1000);
/** Hundreds of rows per second at the least, at most 2,000: far above both rate thresholds while
 *  leaving most of the table for the phases after it. */
const FAST = pace(200, 100);
/** Whatever is left, in a slice or two. */
const FINISH = pace(5000, 0);

/** A live change; retried in case it lands while the workflow continues as new. */
async function steer(handle: WorkflowHandle, change: Partial<LoadControlConfig>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await handle.executeUpdate(setLoadControlUpdate, { args: [change] });
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(500);
    }
  }
}

test('stalled, slow_progress and rate_drop: each fires once and resolves once', { timeout: 300_000 }, async (t) => {
  await withHarness('alerts_pace', 'answering', async (h) => {
    await createItemsTable(h.db.url, ITEMS);
    await h.write(ITEMS_ID, migrationSource([updateItemsStep()], loadControlSource(pinnedLoadControl(20, 1000)) + `  monitor: { stalledAfterMs: ${STALLED_AFTER_MS}, minRowsPerSecond: ${MIN_ROWS_PER_SECOND} },\n`));
    const workflowId = migrationWorkflowId(dbKeyFromUrl(h.db.url), ITEMS_ID, 'up');
    const temporal = await testClient();
    // The batch that reaches the locked row waits (lock_timeout, then retries with backoff) until
    // the test lets go; the slice cannot report back meanwhile, which only the watchdog notices.
    const blocker = new pg.Client({ connectionString: h.db.url });
    await blocker.connect();
    let locked = true;
    const release = async () => {
      if (!locked) return;
      locked = false;
      await blocker.query('ROLLBACK');
    };
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT id FROM items WHERE id = $1 FOR UPDATE', [LOCKED_ROW]);
      const up = startUp(h.env);
      const handle = temporal.client.workflow.getHandle(workflowId);

      // Each phase starts when the previous alert arrives: no guessing how long anything takes.
      // The stall is over before the rate rules' 30 s warm-up, so its slow slice trips neither.
      await awaitNotice(h.receiver, up, 'stalled', 'firing');
      await release();
      await awaitNotice(h.receiver, up, 'stalled', 'resolved');
      // Still slow after the warm-up: slow_progress. Speeding up resolves it.
      await awaitNotice(h.receiver, up, 'slow_progress', 'firing');
      await steer(handle, FAST);
      await awaitNotice(h.receiver, up, 'slow_progress', 'resolved');
      // Slow again after fast slices: the rate drops under half the smoothed rate, while the
      // smoothed rate stays above MIN_ROWS_PER_SECOND. The slice already running when the alert
      // arrives is slow too: the episode spans slices (and the watchdog's looks in between).
      await steer(handle, SLOW);
      await awaitNotice(h.receiver, up, 'rate_drop', 'firing');
      await steer(handle, FINISH);
      await finish(up);
    } finally {
      await release().catch(() => undefined);
      await blocker.end().catch(() => undefined);
      await temporal.close();
    }

    const matching = expectedMatching(ITEMS);
    assert.deepEqual(await journalStatus(h.db.url, ITEMS_ID), { status: 'applied', steps: ['done'] });
    assert.deepEqual(await changeCounts(h.db.url), { logged: matching, distinct: matching, duplicated: 0, nonMatching: 0, missing: 0 });
    assert.equal(await wrongValues(h.db.url), 0);
    t.diagnostic(`${await runCount(workflowId)} workflow runs; received: ${describeDeliveries(h.receiver.deliveries)}`);

    assertRules(h.receiver, ['stalled', 'slow_progress', 'rate_drop']);
    const [stalled] = assertOneEpisode(h.receiver, 'stalled', ITEMS_ID, workflowId);
    assert.ok(stalled.value > STALLED_AFTER_MS && stalled.threshold === STALLED_AFTER_MS, `stalled for ${stalled.value} ms`);
    const [slow] = assertOneEpisode(h.receiver, 'slow_progress', ITEMS_ID, workflowId);
    assert.ok(slow.value < MIN_ROWS_PER_SECOND && slow.threshold === MIN_ROWS_PER_SECOND, `${slow.value} rows/s`);
    const [drop] = assertOneEpisode(h.receiver, 'rate_drop', ITEMS_ID, workflowId);
    assert.ok(drop.value < drop.threshold, `recent ${drop.value} rows/s under half the smoothed rate (${drop.threshold})`);
  });
});

// ---------------------------------------------------------------------------------------------
// A dead webhook

interface HistoryEvent {
  eventId?: unknown;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
  activityTaskStartedEventAttributes?: { scheduledEventId?: unknown; attempt?: number | null } | null;
  activityTaskCompletedEventAttributes?: { scheduledEventId?: unknown } | null;
  workflowExecutionStartedEventAttributes?: { continuedExecutionRunId?: string | null } | null;
}

/** Every run's events, oldest run first, following continue-as-new back from the latest run. */
async function historiesOf(client: Client, workflowId: string): Promise<HistoryEvent[][]> {
  const runs: HistoryEvent[][] = [];
  let runId: string | undefined;
  for (;;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = (history.events ?? []) as HistoryEvent[];
    runs.unshift(events);
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    if (!runId) return runs;
  }
}

/** How many workflow runs the migration took (each continue-as-new starts one). */
async function runCount(workflowId: string): Promise<number> {
  const temporal = await testClient();
  try {
    return (await historiesOf(temporal.client, workflowId)).length;
  } finally {
    await temporal.close();
  }
}

const id = (value: unknown) => Number(String(value));

interface NotifyActivity {
  scheduled: number;
  completed: number | null;
  attempts: number[];
}

function notifyActivities(events: HistoryEvent[]): NotifyActivity[] {
  const byScheduled = new Map<number, NotifyActivity>();
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'notifyAlerts') byScheduled.set(id(e.eventId), { scheduled: id(e.eventId), completed: null, attempts: [] });
    const started = e.activityTaskStartedEventAttributes;
    if (started) byScheduled.get(id(started.scheduledEventId))?.attempts.push(started.attempt ?? 1);
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed) {
      const notify = byScheduled.get(id(completed.scheduledEventId));
      if (notify) notify.completed = id(e.eventId);
    }
  }
  return [...byScheduled.values()];
}

test('a dead webhook: the migration is applied with the same rows, and nothing waited for delivery', { timeout: 300_000 }, async (t) => {
  await withHarness('alerts_dead', 'dead', async (h) => {
    const { workflowId } = await runPartsMigration(h);
    // The webhook answered nothing, yet the run completed: no delivery was waited for.
    assert.equal(h.receiver.answered(), 0, 'the dead webhook answered no request');
    await assertPartsApplied(h.db.url);
    // The sender did try: every notice of the run reached the (silent) receiver at least once.
    assert.deepEqual(h.receiver.malformed, []);
    for (const rule of ['error_rate', 'high_cpu', 'high_memory', 'slow_batch'] as const) {
      for (const state of ['firing', 'resolved'] as const) {
        assert.ok(h.receiver.deliveries.some((d) => d.alert.rule === rule && d.alert.state === state), `the ${rule} ${state} notice was posted; received: ${describeDeliveries(h.receiver.deliveries)}`);
      }
    }

    const temporal = await testClient();
    try {
      const runs = await historiesOf(temporal.client, workflowId);
      const notifies = runs.flatMap(notifyActivities);
      t.diagnostic(`${runs.length} workflow runs, ${notifies.length} notifyAlerts activities, ${h.receiver.deliveries.length} POSTs left unanswered`);
      assert.ok(notifies.length > 0, 'alerts were handed to the worker');
      // Handing alerts over is quick whatever the webhook does: one attempt each, none timed out.
      for (const n of notifies) {
        assert.notEqual(n.completed, null, `notifyAlerts (event ${n.scheduled}) completed within its run`);
        assert.deepEqual(n.attempts, [1], `notifyAlerts (event ${n.scheduled}) completed on its first attempt`);
      }
      // The workflow schedules the next slice in the same task that hands the alert over, without
      // waiting for the hand-over to complete.
      const overlapping = runs.flatMap((events) =>
        notifyActivities(events).flatMap((n) =>
          events
            .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runDataSlice')
            .map((e) => id(e.eventId))
            .filter((slice) => slice > n.scheduled && slice < n.completed!),
        ),
      );
      assert.ok(overlapping.length > 0, 'a data-step slice was scheduled while a notifyAlerts activity was outstanding');
    } finally {
      await temporal.close();
    }
  });
});
