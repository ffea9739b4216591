// MigrationMonitor end to end: while a data migration runs, the progress query shows growing rows,
// a rate and an ETA; `watch --json` streams updates; the worker's /metrics shows the rows counter
// increasing and the batch histogram, and has every metric the Grafana dashboard uses; afterwards
// the run report exists and its totals match the journal.
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { dbKeyFromUrl } from '../../src/config/db-key';
import { migrationWorkflowId, type MigrationProgress, progressQuery } from '../../src/workflows/definitions';
import { REPO_ROOT, spawnCli } from '../helpers/cli';
import {
  createDataFixture,
  createItemsTable,
  type DataFixture,
  expectedMatching,
  loadControlSource,
  pinnedLoadControl,
  readCheckpointRow,
  sleep,
  spawnUp,
  startWorkerProcess,
  stopProcess,
  updateItemsStep,
  withTimeout,
} from '../helpers/data-steps';
import { migrationSource } from '../helpers/migrations';
import { testClient } from '../helpers/temporal';

const ID = '20250401000000_reprice_items';
const ROWS = 200_000;
let fixture: DataFixture;
let reportsDir: string;
const children = new Set<ChildProcess>();

before(async () => {
  fixture = await createDataFixture('monitoring');
  reportsDir = await mkdtemp(path.join(os.tmpdir(), 'stockrx-reports-'));
  fixture.env.extra = { ...fixture.env.extra, STOCKRX_REPORTS_DIR: reportsDir };
  await createItemsTable(fixture.db.url, ROWS);
  // 1500-row batches with a 150 ms pause: about 15 s of steady progress to observe.
  await fixture.dir.write(ID, migrationSource([updateItemsStep()], loadControlSource(pinnedLoadControl(1500, 150))));
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await rm(reportsDir, { recursive: true, force: true });
  await fixture.cleanup();
});

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

function counterValue(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

test('progress, watch --json, /metrics and the run report during and after a data migration', async () => {
  const worker = await startWorkerProcess(fixture.env, children);
  const port = Number(/metrics on :(\d+)\/metrics/.exec(worker.output())?.[1]);
  assert.ok(port > 0, `the worker announces its metrics port: ${worker.output()}`);
  const { client, close } = await testClient();
  try {
    const up = spawnUp(fixture.env, ['--no-worker'], children);
    const handle = client.workflow.getHandle(migrationWorkflowId(dbKeyFromUrl(fixture.db.url), ID, 'up'));

    // Wait until the data step reports rows, then start `watch --json` and collect samples.
    const first = await withTimeout(
      (async () => {
        for (;;) {
          const p = await handle.query(progressQuery).catch(() => null);
          if (p?.data && p.data.rowsDone > 0) return p;
          await sleep(300);
        }
      })(),
      90_000,
      'the data step to report progress',
    );
    const watch = spawnCli(['watch', ID, '--json', '--interval', '500'], fixture.env);
    children.add(watch.child);

    const scrapeBefore = await scrape(port);
    const samples: MigrationProgress[] = [first];
    for (let i = 0; i < 4; i++) {
      await sleep(1500);
      const p = await handle.query(progressQuery).catch(() => null);
      if (p?.data) samples.push(p);
    }
    const scrapeAfter = await scrape(port);

    const last = samples.at(-1)!;
    assert.ok(last.data!.rowsDone > first.data!.rowsDone, `rows grow: ${first.data!.rowsDone} → ${last.data!.rowsDone}`);
    assert.ok(samples.some((p) => p.data!.rowsPerSecond > 0), 'a rate above zero');
    assert.ok(samples.some((p) => p.data!.etaSeconds !== null && p.data!.etaSeconds > 0), 'an ETA');
    assert.equal(last.data!.rowsTotal, expectedMatching(ROWS));

    const rowsBefore = counterValue(scrapeBefore, 'stockrx_rows_processed_total');
    const rowsAfter = counterValue(scrapeAfter, 'stockrx_rows_processed_total');
    assert.ok(rowsAfter > rowsBefore && rowsBefore >= 0, `the rows counter increases: ${rowsBefore} → ${rowsAfter}`);
    assert.match(scrapeAfter, /^stockrx_batch_duration_seconds_bucket\{.*le="0\.5".*\} \d+/m, 'the batch histogram');
    assert.match(scrapeAfter, /^temporal_/m, "the Temporal SDK's runtime metrics are included");
    // The latency budget's last judgement: in the progress query (the watch bar shows it) and as gauges.
    const reading = samples.map((p) => p.data!.latency).find((r) => r);
    assert.ok(reading && reading.valueMs > 0 && reading.limitMs > reading.valueMs, `the progress query carries the budget's reading: ${JSON.stringify(reading)}`);
    assert.match(scrapeAfter, /^stockrx_latency_reading_seconds\{migration="[^"]+",source="(canary|foreground)"\} [\d.e-]+$/m);
    assert.match(scrapeAfter, /^stockrx_latency_limit_seconds\{migration="[^"]+"\} [\d.e+-]+$/m);

    // Every metric the Grafana dashboard queries exists in a real scrape.
    const dashboard = await readFile(path.join(REPO_ROOT, 'deploy', 'grafana', 'stockrx-migrations.json'), 'utf8');
    const used = [...new Set(dashboard.match(/stockrx_[a-z_]+/g) ?? [])];
    assert.ok(used.length >= 10, `the dashboard uses our metrics: ${used.join(', ')}`);
  // A family is in the scrape once declared (`# TYPE`); labelled counters that never fired (no
    // alert, no compensation in this run) have no sample line yet, which is how Prometheus works.
    const family = (name: string) => name.replace(/_(bucket|sum|count)$/, '');
    const missing = used.filter((name) => !new RegExp(`^(${name}[{ ]|# TYPE ${family(name)} )`, 'm').test(scrapeAfter));
    assert.deepEqual(missing, [], `dashboard metrics missing from /metrics: ${missing.join(', ')}`);

    const result = await withTimeout(up.result, 180_000, '`up` to finish');
    assert.equal(result.code, 0, up.output());
    const watched = await withTimeout(watch.result, 30_000, '`watch` to end with the run');
    assert.equal(watched.code, 0, watched.stderr);
    const updates = watched.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as MigrationProgress);
    assert.ok(updates.length >= 3, `watch --json emitted ${updates.length} updates`);
    assert.ok(updates.every((u) => u.migrationId === ID));

    // The report: one file for the run, totals equal to the journal's checkpoint.
    const files = (await readdir(reportsDir)).filter((f) => f.startsWith(ID));
    assert.equal(files.length, 1, `one report: ${files.join(', ')}`);
    const report = JSON.parse(await readFile(path.join(reportsDir, files[0]!), 'utf8')) as { status: string; rows: number; batches: { count: number }; steps: { rows: number }[]; durationSeconds: number };
    const checkpoint = (await readCheckpointRow(fixture.db.url, ID))!;
    assert.equal(report.status, 'applied');
    assert.equal(report.rows, checkpoint.rowsDone);
    assert.equal(report.rows, expectedMatching(ROWS));
    assert.equal(report.batches.count, checkpoint.batches);
    assert.ok(report.durationSeconds > 0);

    // Logs: every line our code wrote about the run (all but the Temporal SDK's own lifecycle
    // lines) names the migration and the workflow run, and every step-level line its step.
    const runIds = new Set<string>();
    for await (const execution of client.workflow.list({ query: `WorkflowId = "${handle.workflowId}"` })) runIds.add(execution.runId);
    const lines = worker
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.sdkComponent === undefined);
    assert.ok(lines.length >= 4, `the worker logged the run: ${JSON.stringify(lines)}`);
    const stepMessages = new Set(['data step prepared', 'data step finished']);
    assert.ok(lines.some((line) => stepMessages.has(String(line.msg))), 'step-level lines were logged');
    for (const line of lines) {
      assert.equal(line.migrationId, ID, `migration id on ${JSON.stringify(line)}`);
      assert.equal(line.workflowId, handle.workflowId, `workflow id on ${JSON.stringify(line)}`);
      assert.ok(runIds.has(String(line.runId)), `run id of this migration on ${JSON.stringify(line)} (runs: ${[...runIds].join(', ')})`);
      if (stepMessages.has(String(line.msg))) assert.equal(line.step, 1, `step on ${JSON.stringify(line)}`);
    }
  } finally {
    await close();
    await stopProcess(worker.child, worker.result);
  }
});
