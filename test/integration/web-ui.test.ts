// The Temporal Web UI as an operator sees it, driven by headless Chromium: filtered by
// StockrxStatus="running" the workflow list shows the running migration (and neither the runner,
// which has no status, nor a migration already applied), and the migration's page shows its static
// summary (id and description) and its current details. Screenshots of both pages are kept in
// test-artifacts/web-ui/. Then the migration is cancelled and compensated.
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { dbKeyFromUrl } from '../../src/config/db-key';
import { migrationSummary } from '../../src/core/workflow-summaries';
import { migrationWorkflowId, runnerWorkflowId } from '../../src/workflows/definitions';
import { launchChromium, screenshot, waitForTextInAnyFrame } from '../helpers/browser';
import { runCli } from '../helpers/cli';
import {
  createDataFixture,
  createItemsTable,
  type DataFixture,
  journalStatus,
  loadControlSource,
  pinnedLoadControl,
  spawnUp,
  tableChecksum,
  updateItemsStep,
  withOutput,
  withTimeout,
} from '../helpers/data-steps';
import { testEnv } from '../helpers/env';
import { migrationSource } from '../helpers/migrations';
import { waitFor } from '../helpers/pg-probe';
import { testClient } from '../helpers/temporal';

const APPLIED_ID = '20250501000000_index_items_status';
const ID = '20250501000100_reprice_items';
const DESCRIPTION = 'Reprice active items for the spring catalogue';
const ROWS = 20_000;
/** The UI is a single-page app over a busy 2-core CI host: wait for what it shows, generously. */
const UI_TIMEOUT_MS = 90_000;

let fixture: DataFixture;
let checksumBefore: string;
const children = new Set<ChildProcess>();

before(async () => {
  fixture = await createDataFixture('web-ui');
  await createItemsTable(fixture.db.url, ROWS);
  checksumBefore = await tableChecksum(fixture.db.url);
  // Applied within seconds: its StockrxStatus is "applied" when the UI is looked at.
  await fixture.dir.write(APPLIED_ID, migrationSource([`m.addIndex('items', ['status'])`], `  description: 'Index items by status',\n`));
  // One batch of 500 rows, then a 120 s pause (pinned, so the controller cannot shorten it): the
  // migration stays "running", inside its first workflow run, for two minutes. Continue-as-new is
  // only checked between slices; after one (the harness suggests it after 40 events) the new run
  // would have no static summary, which Temporal does not carry over (src/core/workflow-summaries.ts).
  await fixture.dir.write(ID, migrationSource([updateItemsStep()], `  description: '${DESCRIPTION}',\n${loadControlSource(pinnedLoadControl(500, 120_000))}`));
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await fixture.cleanup();
});

test('the Web UI lists the running migration by StockrxStatus and shows its summary', async (t) => {
  const uiUrl = testEnv().temporalUiUrl;
  assert.ok(uiUrl, 'TEMPORAL_UI_URL is not set: the test harness (scripts/test-run.ts) starts the dev server with its Web UI and sets it');
  const dbKey = dbKeyFromUrl(fixture.db.url);
  const workflowId = migrationWorkflowId(dbKey, ID, 'up');
  const appliedWorkflowId = migrationWorkflowId(dbKey, APPLIED_ID, 'up');
  const runnerId = runnerWorkflowId(dbKey);
  const summary = migrationSummary({ id: ID, description: DESCRIPTION });

  // The browser first: without Chromium the test fails at once, saying how to install it, and
  // starts no migration.
  const browser: Browser = await launchChromium();
  const up = spawnUp(fixture.env, [], children);
  const { client, close } = await testClient();
  let page: Page | undefined;
  try {
    // Visibility (what the UI's list queries) lags the workflow by a moment: wait for it there.
    await waitFor(
      'visibility to list the migration with StockrxStatus="running"',
      async () => {
        for await (const execution of client.workflow.list({ query: `WorkflowId = "${workflowId}" AND StockrxStatus = "running"` })) {
          return execution;
        }
        return undefined;
      },
      120_000,
      500,
    );
    const described = await client.workflow.getHandle(workflowId).describe();
    assert.equal(await described.staticSummary(), summary, 'the runner starts the migration with its static summary');
    assert.match((await described.staticDetails()) ?? '', /updateRecords items/, 'the static details list the steps');
    const runnerDescribed = await client.workflow.getHandle(runnerId).describe();
    assert.match((await runnerDescribed.staticSummary()) ?? '', new RegExp(`migrate up 2 migrations \\(${APPLIED_ID}, ${ID}\\)`));
    // The negatives below mean something only if those workflows exist: one applied, one running.
    const applied = await client.workflow.getHandle(appliedWorkflowId).describe();
    assert.equal(applied.status.name, 'COMPLETED');
    assert.equal(runnerDescribed.status.name, 'RUNNING');

    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.setDefaultNavigationTimeout(UI_TIMEOUT_MS);

    // The list, filtered the way the README tells operators to.
    const listUrl = `${uiUrl}/namespaces/default/workflows?query=${encodeURIComponent('StockrxStatus="running"')}`;
    await page.goto(listUrl, { waitUntil: 'domcontentloaded' });
    const row = page.getByText(workflowId, { exact: true }).first();
    await row.waitFor({ state: 'visible' });
    t.diagnostic(`screenshot: ${await screenshot(page, 'list-running')}`);
    // The list has loaded (our row is there), so absence now means "filtered out".
    assert.equal(await page.getByText(runnerId, { exact: true }).count(), 0, 'the runner has no StockrxStatus and is not listed');
    assert.equal(await page.getByText(appliedWorkflowId, { exact: true }).count(), 0, 'an applied migration is not listed');

    // The migration's page, reached the way an operator does: by clicking its row.
    await row.click();
    await page.waitForURL((url) => url.pathname.includes(ID));
    // Summary, details and current details share the page's "User Metadata" tab (UI 2.54).
    await page.getByText('User Metadata', { exact: true }).first().click();
    await waitForTextInAnyFrame(page, summary, UI_TIMEOUT_MS);
    // And the live part, from the monitor's current details.
    await waitForTextInAnyFrame(page, 'status running', UI_TIMEOUT_MS);
    t.diagnostic(`screenshot: ${await screenshot(page, 'migration-page')}`);
  } catch (error) {
    if (page) t.diagnostic(`screenshot at failure: ${await screenshot(page, 'failure').catch((e: unknown) => String(e))}`);
    throw withOutput(error, { up });
  } finally {
    await browser.close();
    await close();
  }

  // Stop it cleanly: cancel compensates the batch already applied; `up` reports it and exits 1.
  const cancel = await runCli(['cancel', ID], fixture.env);
  assert.equal(cancel.code, 0, cancel.stderr);
  const result = await withTimeout(up.result, 120_000, '`up` to end after the cancel');
  assert.equal(result.code, 1, up.output());
  assert.match(up.output(), /cancelled/);
  assert.equal((await journalStatus(fixture.db.url, ID)).status, 'failed');
  assert.equal(await tableChecksum(fixture.db.url), checksumBefore, 'the cancelled migration left the rows as they were');
});
