// `demo`: the whole product on a laptop with nothing installed. Embedded Postgres with a seeded
// StockRx database, the embedded Temporal dev server (with its Web UI), one in-process worker; then
// `up` of the example migrations, `status`, and a migration that fails on its last step and is
// compensated, with before/after proof. Everything goes through the same code as `up` and `status`
// (preflight, runner workflow, followRun, statusCommand), in one process with one worker.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { preflightUp, readJournalIfAny } from '../../client/preflight';
import { startRunner } from '../../client/run-workflow';
import { openTemporal } from '../../client/temporal-connection';
import { dbKeyFromUrl } from '../../config/db-key';
import { type ResolvedConfig, TASK_QUEUE_PREFIX } from '../../config/resolve-config';
import { type MigrationPlan } from '../../core/plan';
import { formatPlanProblem } from '../../core/plan-error';
import { type Db } from '../../db/connect';
import { createMigrationsView } from '../../demo/migrations-view';
import { DemoInterrupted, type InterruptWatch, tolerateClosedTemporalChannels, watchInterrupts } from '../../demo/interrupt';
import { DEMO_FAILING_DIR, DEMO_MIGRATIONS_DIR, displayPath } from '../../demo/paths';
import { createPhaseClock, formatSeconds, type PhaseClock } from '../../demo/phases';
import { readDataProof } from '../../demo/data-proof';
import { describeProof, readSchemaProof, sameProof } from '../../demo/schema-proof';
import { CATEGORY_COUNT, DEMO_DATABASE, seedDemoDatabase } from '../../demo/seed';
import { workflowListUrl, workflowUrl } from '../../demo/web-ui';
import { startEmbeddedPostgres } from '../../embedded/postgres';
import { migrationWorkflowId, runnerWorkflowId } from '../../workflows/definitions';
import { CliExit, EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';
import { followRunLive } from '../live-progress';
import { runOptionsFrom } from '../run-options';
import { withTargetDatabase, withWorkflows } from '../session';
import { statusCommand } from './status';

export interface DemoOptions {
  /** inventories rows to seed. */
  rows: number;
  /** Keep Temporal (Web UI), the worker and Postgres up until Ctrl-C; only when stdout is a terminal. */
  keep: boolean;
}

/** Below this, product names (30 products × 8 strengths) could all be distinct and the failing example would succeed. */
export const MIN_DEMO_ROWS = 1_000;
const MAX_DEMO_ROWS = 50_000_000;
/** Preferred port of the demo's Postgres, so workflow IDs (which contain host:port) stay the same across runs. */
const DEMO_POSTGRES_PORT = 54329;
const PHASES = 7;
/** The per-record example, whose skipped rows the demo shows. */
const EACH_BATCH_EXAMPLE = '20250105000000_migrate_inventory_data';

interface DemoWorkflow {
  label: string;
  workflowId: string;
  runId: string | undefined;
}

interface DemoRun {
  exitCode: number;
  message: string;
  runnerRunId: string | undefined;
}

/** What every phase after start-up works with. */
interface Story {
  config: ResolvedConfig;
  client: Client;
  db: Db;
  dbKey: string;
  out: Output;
  say: (message: string) => void;
  clock: PhaseClock;
  /** Workflows to look at in the Web UI, in the order they ran. */
  workflows: DemoWorkflow[];
  /** Checked between phases, so an interrupted story stops instead of starting the next run. */
  watch: InterruptWatch;
}

/** The resolved config, pointed at the demo database and the package's example migrations. */
function demoConfig(config: ResolvedConfig, databaseUrl: string): ResolvedConfig {
  const lockKey = dbKeyFromUrl(databaseUrl);
  return { ...config, databaseUrl, lockKey, taskQueue: `${TASK_QUEUE_PREFIX}@${lockKey}`, migrationsDir: DEMO_MIGRATIONS_DIR };
}

/** What `up` does once the session is open: the runner over the pending plans, followed to its end. */
async function runUp(story: Story, config: ResolvedConfig, pending: MigrationPlan[]): Promise<DemoRun> {
  const { client, dbKey, out } = story;
  story.watch.check();
  const run = await startRunner(client, config.taskQueue, { dbKey, mode: 'up', plans: pending, migrationIds: [], options: runOptionsFrom(config) }, config.lock);
  const result = await followRunLive(client, run, out);
  return { exitCode: result.exitCode, message: result.message, runnerRunId: await latestRunId(client, run.workflowId) };
}

async function latestRunId(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).runId;
  } catch {
    return undefined;
  }
}

/**
 * An interrupted earlier demo (Ctrl-C, a crash) leaves its runner and migration workflows open in
 * the dev server's history; with a worker back they would go on running against the freshly
 * seeded database, and the open runner holds the lock. The demo owns that database, so it ends
 * them before its worker starts.
 */
async function terminateLeftovers(client: Client, dbKey: string): Promise<string[]> {
  const migrationIds: string[] = [];
  for (const dir of [DEMO_MIGRATIONS_DIR, DEMO_FAILING_DIR]) {
    for (const file of await readdir(dir)) {
      if (/\.(?:ts|mts|js|mjs)$/.test(file) && !file.endsWith('.d.ts')) migrationIds.push(path.basename(file, path.extname(file)));
    }
  }
  // The runner first: the others are its children.
  const workflowIds = [runnerWorkflowId(dbKey), ...migrationIds.flatMap((id) => [migrationWorkflowId(dbKey, id, 'up'), migrationWorkflowId(dbKey, id, 'down')])];
  const terminated: string[] = [];
  for (const workflowId of workflowIds) {
    const handle = client.workflow.getHandle(workflowId);
    try {
      if ((await handle.describe()).status.name !== 'RUNNING') continue;
      await handle.terminate('stockrx-migrate demo: left open by an interrupted demo; the demo database was recreated');
      terminated.push(workflowId);
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  }
  return terminated;
}

async function journalStatus(db: Db, id: string): Promise<string> {
  return (await readJournalIfAny(db)).find((r) => r.id === id)?.status ?? 'pending';
}

/** An Output that prints nothing: `status` inside a `--json` demo would add documents to stdout. */
function quiet(out: Output): Output {
  return out.json ? { json: true, info: () => undefined, warn: out.warn, error: out.error, data: () => undefined } : out;
}

/** Silent once interrupted: what the abandoned phases still print then would only confuse. */
function gated(out: Output, watch: InterruptWatch): Output {
  const open = () => watch.fired() === null;
  return {
    json: out.json,
    info: (m) => (open() ? out.info(m) : undefined),
    warn: (m) => (open() ? out.warn(m) : undefined),
    error: (m, hint) => (open() ? out.error(m, hint) : undefined),
    data: (v) => (open() ? out.data(v) : undefined),
  };
}

/** `up` of migrations/: both examples applied. Returns the plans, or null after printing why not. */
async function applyExamples(story: Story): Promise<MigrationPlan[] | null> {
  const { config, db, dbKey, out, say } = story;
  const phase = story.clock.begin('up', `up: apply the example migrations in ${displayPath(DEMO_MIGRATIONS_DIR)}/`);
  const { pending, warnings } = await preflightUp(db, config);
  for (const warning of warnings) out.warn(formatPlanProblem(warning));
  if (pending.length === 0) throw new Error(`no pending migration in ${DEMO_MIGRATIONS_DIR}, although the demo database was just recreated`);
  say(`Applying ${pending.length} migration(s) to ${dbKey}:`);
  for (const plan of pending) say(`  ${plan.id}: ${plan.description} (${plan.steps.length} steps, ${plan.validations.length} validations)`);
  const before = await readDataProof(db, EACH_BATCH_EXAMPLE);
  const up = await runUp(story, config, pending);
  if (up.exitCode !== EXIT.OK) {
    out.error(`the example migrations did not apply: ${up.message}`);
    return null;
  }
  const after = await readDataProof(db, EACH_BATCH_EXAMPLE);
  say('The data migrations, counted with plain SQL before and after:');
  say(`  NULL prices: ${before.nullPrices} → ${after.nullPrices} (UpdateInventoryPrices; down puts back exactly these NULLs)`);
  say(`  warehouses: ${before.warehouses} → ${after.warehouses} (createRecords)`);
  const dispositions = Object.entries(after.dispositions).map(([name, n]) => `${n} ${name}`).join(', ');
  say(`  discontinued items: ${after.discontinued}, by disposition: ${dispositions || 'none'} (MigrateInventoryData, row by row)`);
  if (after.rowErrors > 0) {
    say(`  ${after.rowErrors} of them could not be processed and were skipped, each recorded in stockrx_migrate.row_errors, e.g.`);
    say(`    ${after.sampleError}`);
  }
  story.workflows.push({ label: 'runner of `up` (its workflow ID is the database lock)', workflowId: runnerWorkflowId(dbKey), runId: up.runnerRunId });
  for (const plan of pending) {
    const workflowId = migrationWorkflowId(dbKey, plan.id, 'up');
    story.workflows.push({ label: `${plan.id} (applied)`, workflowId, runId: await latestRunId(story.client, workflowId) });
  }
  phase.end(`Applied: ${pending.map((p) => p.id).join(', ')}.`);
  return pending;
}

interface FailureResult {
  exitCode: ExitCode;
  plan: MigrationPlan;
  status: string;
  message: string;
}

/** `up` of the failing example: it must fail, be compensated, and leave schema and data as they were. */
async function failAndCompensate(story: Story): Promise<FailureResult> {
  const { db, dbKey, out, say } = story;
  const phase = story.clock.begin('failing up', `A migration that fails on its last step (${displayPath(DEMO_FAILING_DIR)}/, not part of migrations/)`);
  const config: ResolvedConfig = { ...story.config, migrationsDir: DEMO_FAILING_DIR };
  const { pending, warnings } = await preflightUp(db, config);
  for (const warning of warnings) out.warn(formatPlanProblem(warning));
  const plan = pending[0];
  if (!plan || pending.length !== 1) throw new Error(`expected exactly one migration in ${DEMO_FAILING_DIR}, found ${pending.length}`);
  say(`${plan.id}: ${plan.description}`);
  for (const step of plan.steps) say(`  step ${step.index + 1}: ${step.label}${step.kind === 'addIndex' && step.unique ? ` UNIQUE (${step.name})` : ''}`);

  const before = await readSchemaProof(db);
  const run = await runUp(story, config, [plan]);
  const after = await readSchemaProof(db);
  const status = await journalStatus(db, plan.id);
  const workflowId = migrationWorkflowId(dbKey, plan.id, 'up');
  story.workflows.push({ label: 'runner of the failing `up`', workflowId: runnerWorkflowId(dbKey), runId: run.runnerRunId });
  story.workflows.push({ label: `${plan.id} (failed and compensated: see the undo activities at the end)`, workflowId, runId: await latestRunId(story.client, workflowId) });

  if (run.exitCode !== EXIT.MIGRATION_FAILED || status !== 'failed') {
    out.error(`the failing example should have failed and been compensated (exit code 1, status failed); got exit code ${run.exitCode}, status ${status}: ${run.message}`);
    return { exitCode: (run.exitCode === EXIT.OK ? EXIT.MIGRATION_FAILED : run.exitCode) as ExitCode, plan, status, message: run.message };
  }
  say(`It failed as intended (\`up\` would exit with code 1): ${run.message}`);
  say('Schema and data before the run:');
  for (const line of describeProof(before)) say(`  ${line}`);
  say('After the run and its compensation:');
  for (const line of describeProof(after)) say(`  ${line}`);
  if (!sameProof(before, after)) {
    out.error('the database differs from before the failing migration: the compensation did not restore it');
    return { exitCode: EXIT.COMPENSATION_FAILED, plan, status, message: run.message };
  }
  phase.end('Compensated: schema, indexes and data are exactly as before (no sku column, no index left behind, not even an INVALID one).');
  return { exitCode: EXIT.OK, plan, status, message: run.message };
}

function printWebUi(story: Story, uiUrl: string | null): void {
  const { out, workflows } = story;
  const namespace = story.config.temporalNamespace;
  out.info('');
  if (uiUrl) {
    out.info(`Temporal Web UI: ${workflowListUrl(uiUrl, namespace)}`);
    for (const w of workflows) {
      out.info(`  ${w.label}`);
      out.info(`    ${w.workflowId}`);
      out.info(`    ${workflowUrl(uiUrl, namespace, w.workflowId, w.runId)}`);
    }
  } else {
    out.info(`Workflows (open them in your Temporal cluster's Web UI, namespace ${namespace}):`);
    for (const w of workflows) out.info(`  ${w.label}: ${w.workflowId}${w.runId ? ` (run ${w.runId})` : ''}`);
  }
  out.info(`Worker log: ${path.join(story.config.stateDir, 'logs', 'worker.log')}`);
}

/** Everything from the started stack to the closing summary; returns before the keep-alive wait. */
async function tell(story: Story, seedRows: number, uiUrl: string | null): Promise<ExitCode> {
  const { config, clock, out, watch } = story;
  const applied = await applyExamples(story);
  if (!applied) return EXIT.MIGRATION_FAILED;
  watch.check();
  await clock.run('status', 'status', () => statusCommand(config, quiet(out)));

  watch.check();
  const failure = await failAndCompensate(story);
  if (failure.exitCode !== EXIT.OK) return failure.exitCode;
  watch.check();
  // status reads one directory; a view of both lists the failed example with its description.
  const view = await createMigrationsView([DEMO_MIGRATIONS_DIR, DEMO_FAILING_DIR]);
  try {
    await clock.run('status', 'status (with the failing example listed too)', () => statusCommand({ ...config, migrationsDir: view.dir }, quiet(out)));
  } finally {
    await view.remove();
  }

  printWebUi(story, uiUrl);
  out.info(`\nDemo finished in ${formatSeconds(clock.elapsedMs())} (${clock.summary()}).`);
  if (out.json) {
    out.data({
      database: story.dbKey,
      rows: seedRows,
      applied: applied.map((p) => p.id),
      failed: { id: failure.plan.id, status: failure.status, message: failure.message, restored: true },
      webUi: uiUrl,
      workflows: story.workflows,
      seconds: Math.round(clock.elapsedMs()) / 1000,
    });
  }
  return EXIT.OK;
}

/** `out` goes silent on a signal; `raw` is for the few lines about stopping. */
async function runDemo(config: ResolvedConfig, rows: number, keep: boolean, out: Output, raw: Output, watch: InterruptWatch): Promise<ExitCode> {
  const say = (m: string) => out.info(`  ${m}`);
  const clock = createPhaseClock(out, PHASES);
  out.info('stockrx-migrate demo: embedded Postgres + embedded Temporal, the StockRx example migrations, and one that fails and is undone.');
  out.info(`State directory ${config.stateDir}${config.temporalAddress ? `; Temporal at ${config.temporalAddress} (TEMPORAL_ADDRESS)` : ''}`);

  const pgPhase = clock.begin('postgres', 'Embedded Postgres');
  const postgres = await startEmbeddedPostgres({ dataDir: path.join(config.stateDir, 'demo-postgres'), port: DEMO_POSTGRES_PORT, log: say });
  pgPhase.end();
  try {
    watch.check();
    const seed = await watch.race(
      clock.run('seed', `Seed the StockRx database "${DEMO_DATABASE}" (dropped and recreated on every run)`, async () => {
        const result = await seedDemoDatabase(postgres.adminUrl, rows);
        say(`categories:  ${result.categories} rows`);
        say(`inventories: ${result.inventories} rows (name, status, price, quantity, category_id, created_at, updated_at)`);
        say(`             ${result.nullPrices} NULL prices, ${result.distinctNames} distinct names (products in several lots)`);
        return result;
      }),
    );
    if (seed.categories !== CATEGORY_COUNT) throw new Error(`seeding produced ${seed.categories} categories, expected ${CATEGORY_COUNT}`);

    const cfg = demoConfig(config, seed.databaseUrl);
    const dbKey = cfg.lockKey!;
    const temporalPhase = clock.begin('temporal+worker', 'Temporal dev server and an in-process worker (bundling the workflow code takes a few seconds)');
    // This session holds the server while leftovers are ended, before withWorkflows starts the
    // worker, and terminates the demo's workflows if the demo is interrupted.
    const control = await openTemporal(cfg, { log: say });
    try {
      watch.check();
      for (const workflowId of await terminateLeftovers(control.client, dbKey)) say(`Terminated ${workflowId}, left open by an interrupted earlier demo.`);
      return await withWorkflows(cfg, { worker: true }, ({ temporal }) =>
        withTargetDatabase(cfg, async (target) => {
          temporalPhase.end(`Temporal ${temporal.address}${temporal.uiUrl ? `, Web UI ${temporal.uiUrl}` : ''}; worker on task queue ${cfg.taskQueue}.`);
          const story: Story = { config: cfg, client: temporal.client, db: target.db, dbKey, out, say, clock, workflows: [], watch };
          watch.check();
          const told = tell(story, seed.inventories, temporal.uiUrl);
          let code: ExitCode;
          try {
            code = await watch.race(told);
          } catch (error) {
            if (watch.fired()) {
              // Their database is recreated by the next demo anyway: end them rather than compensate.
              const ended = await terminateLeftovers(control.client, dbKey).catch(() => []);
              if (ended.length > 0) raw.info(`  Terminated the demo's running workflows: ${ended.join(', ')}`);
              // The interrupted phase sees its run end and stops at its next check; give it a moment
              // so the worker and connections do not close under it (a call can also hang: then go on).
              tolerateClosedTemporalChannels();
              await Promise.race([told.then(() => undefined, () => undefined), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
            }
            throw error;
          }
          if (keep && code === EXIT.OK) {
            out.info(`\nStill running so you can look around: the Temporal Web UI${temporal.uiUrl ? ` (${temporal.uiUrl})` : ''}, the worker and Postgres.`);
            out.info('Meanwhile, try the CLI on the demo database in another terminal (the embedded cluster listens on loopback only; its password is fixed):');
            out.info(`  export PGPASSWORD=stockrx DATABASE_URL=postgres://postgres@127.0.0.1:${postgres.port}/${DEMO_DATABASE} STOCKRX_STATE_DIR=${config.stateDir}`);
            out.info('  npx stockrx-migrate status        npx stockrx-migrate down        npx stockrx-migrate up');
            out.info('Press Ctrl-C to stop everything the demo started.');
            await watch.signal;
          }
          return code;
        }),
      );
    } finally {
      await control.close();
    }
  } finally {
    await postgres.stop();
  }
}

export async function demoCommand(config: ResolvedConfig, options: DemoOptions, out: Output): Promise<ExitCode> {
  const { rows } = options;
  if (!Number.isInteger(rows) || rows < MIN_DEMO_ROWS || rows > MAX_DEMO_ROWS) {
    throw new CliExit(EXIT.BAD_INPUT, `--rows must be a whole number from ${MIN_DEMO_ROWS} to ${MAX_DEMO_ROWS}, got "${String(rows)}"`);
  }
  const keep = options.keep && process.stdout.isTTY === true && !out.json;
  let finished = false;
  const watch = watchInterrupts((signal) => {
    out.info(`\n${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping the worker, Temporal and Postgres the demo started …`);
  });
  try {
    const code = await runDemo(config, rows, keep, gated(out, watch), out, watch);
    finished = true;
    return code;
  } catch (error) {
    // Whatever failed after a signal (a killed child, a closed pool) is a consequence of it.
    if (!(error instanceof DemoInterrupted) && !watch.fired()) throw error;
    return EXIT.MIGRATION_FAILED;
  } finally {
    watch.dispose();
    const signal = watch.fired();
    if (signal && !finished) {
      // Interrupted half-way: everything is stopped; end with the signal's conventional status.
      process.kill(process.pid, signal);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}
