// The test harness behind `npm test` (started by scripts/test.mjs once dependencies exist).
//
// Tests run against real services (DESIGN.md, style 9), started here once per run:
//   - a PRIVATE Temporal dev server (temp SQLite file, free ports), never the shared developer
//     server, so tests neither see nor disturb a developer's workflows; its Web UI runs too, on a
//     free port, for the test that drives it with Chromium (test/integration/web-ui.test.ts);
//   - Postgres: TEST_DATABASE_URL if given, else embedded Postgres in .stockrx/test-postgres;
//   - the workflow bundle, built once instead of once per test worker (webpack takes seconds).
// Then `node --test` runs the test files (two at a time) with the addresses in the env, and every
// workflow history they wrote is replayed against the bundle (scripts/replay-audit.ts).
// Usage: npm test [-- <files or dirs>…] [--test-name-pattern=…]
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { redactUrl } from '../src/config/redact';
import { acquireDevServer } from '../src/embedded/dev-server';
import { freePort } from '../src/embedded/free-port';
import { startEmbeddedPostgres } from '../src/embedded/postgres';
import { resolveTemporalCli } from '../src/embedded/temporal-cli';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stateDir = path.join(repo, '.stockrx');
const say = (msg: string) => console.log(`[test] ${msg}`);

const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

// Teardown steps, run last-in-first-out: whatever was started is stopped, however we exit.
const cleanups: Array<() => Promise<void>> = [];
let interrupted: NodeJS.Signals | undefined;
let child: ChildProcess | undefined;

async function teardown(): Promise<void> {
  for (let step = cleanups.pop(); step; step = cleanups.pop()) {
    try {
      await step();
    } catch (error) {
      console.error(`[test] teardown: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

function checkInterrupted(): void {
  if (interrupted) throw new Error(`interrupted (${interrupted})`);
}

/** test/**\/*.test.ts, or the given files and directories, sorted for a stable order. */
async function collectTestFiles(targets: string[]): Promise<string[]> {
  const files = new Set<string>();
  const walk = async (dir: string) => {
    for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() && entry.name.endsWith('.test.ts')) files.add(full);
    }
  };
  for (const target of targets.length > 0 ? targets : ['test']) {
    const full = path.resolve(repo, target);
    const stat = await fsp.stat(full).catch(() => null);
    if (!stat) throw new Error(`no such test file or directory: ${target}`);
    if (stat.isDirectory()) await walk(full);
    else files.add(full);
  }
  return [...files].sort().map((file) => path.relative(repo, file));
}

/** Webpack output is noise in a test log; only its warnings and errors are worth showing. */
const quietLogger = {
  log: (level: string, message: string) => {
    if (level === 'WARN' || level === 'ERROR') console.error(`[test] bundler ${level.toLowerCase()}: ${message}`);
  },
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (message: string) => console.error(`[test] bundler warning: ${message}`),
  error: (message: string) => console.error(`[test] bundler error: ${message}`),
};

async function bundleWorkflows(tmpDir: string): Promise<string | null> {
  const workflowsPath = path.join(repo, 'src', 'workflows', 'index.ts');
  if (!fs.existsSync(workflowsPath)) {
    say(`warning: ${path.relative(repo, workflowsPath)} does not exist; STOCKRX_WORKFLOW_BUNDLE is not set`);
    return null;
  }
  // Imported lazily: loading the worker package pulls in the native bridge and webpack.
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const bundle = await bundleWorkflowCode({ workflowsPath, logger: quietLogger });
  const file = path.join(tmpDir, 'workflow-bundle.js');
  await fsp.writeFile(file, bundle.code);
  return file;
}

// Two test files at a time: most of a file's wall time is spent waiting (CLI start-up, Temporal
// timers, heartbeat timeouts), so two overlap well on two cores, and every file has its own
// database and task queues. STOCKRX_TEST_CONCURRENCY=1 runs them one by one.
const concurrency = Math.max(1, Number(process.env.STOCKRX_TEST_CONCURRENCY) || 2);

function runTests(files: string[], nodeTestFlags: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...nodeTestFlags, ...files],
      { cwd: repo, stdio: 'inherit', env },
    );
    child.once('error', (error) => {
      console.error(`[test] could not start the test runner: ${error.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? (SIGNAL_EXIT[signal] ?? 1) : 1)));
  });
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  // Flags go to `node --test` (e.g. --test-name-pattern); everything else names tests to run.
  const nodeTestFlags = args.filter((arg) => arg.startsWith('-'));
  const files = await collectTestFiles(args.filter((arg) => !arg.startsWith('-')));
  if (files.length === 0) {
    say('no test files found');
    return 1;
  }

  const tmpDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'stockrx-test-'));
  cleanups.push(() => fsp.rm(tmpDir, { recursive: true, force: true }));

  const cliPath = await resolveTemporalCli({ stateDir, log: say });
  checkInterrupted();
  const server = await acquireDevServer({
    stateDir: tmpDir,
    cliPath,
    port: await freePort(),
    // The Web UI is one more Go HTTP server inside the same process: cheap, and the only way to
    // test what an operator sees. TEMPORAL_UI_URL below tells the tests where it is.
    headless: false,
    uiPort: await freePort(),
    searchAttributes: { StockrxMigrationId: 'Keyword', StockrxStatus: 'Keyword', StockrxProgress: 'Double' },
    // Small, so tests exercise continue-as-new without writing thousands of events.
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 40 },
  });
  cleanups.push(() => server.release());
  checkInterrupted();

  let adminDatabaseUrl = process.env.TEST_DATABASE_URL;
  let databaseLabel = 'from TEST_DATABASE_URL';
  if (!adminDatabaseUrl) {
    const dataDir = path.join(stateDir, 'test-postgres');
    const pg = await startEmbeddedPostgres({ dataDir, postgresFlags: ['-c', 'max_connections=200', '-c', 'synchronous_commit=off'] });
    cleanups.push(() => pg.stop());
    adminDatabaseUrl = pg.adminUrl;
    databaseLabel = `embedded in ${path.relative(repo, dataDir)}${pg.reused ? ', already running' : ''}`;
  }
  checkInterrupted();

  const bundlePath = await bundleWorkflows(tmpDir);
  checkInterrupted();

  say(
    `started Temporal dev server ${server.address} (private, ${cliPath}; Web UI ${server.uiUrl ?? 'none'}), ` +
      `Postgres ${redactUrl(adminDatabaseUrl)} (${databaseLabel}), ` +
      `workflow bundle ${bundlePath ? `${Math.round(fs.statSync(bundlePath).size / 1024)} KB` : 'none'}; ` +
      `running ${files.length} test file${files.length === 1 ? '' : 's'}`,
  );

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: server.address,
    TEST_DATABASE_URL: adminDatabaseUrl,
    TEMPORAL_UI_URL: server.uiUrl ?? '',
    STOCKRX_TEMPORAL_CLI: cliPath,
  };
  if (bundlePath) env.STOCKRX_WORKFLOW_BUNDLE = bundlePath;
  else delete env.STOCKRX_WORKFLOW_BUNDLE;
  const testsCode = await runTests(files, nodeTestFlags, env);
  if (!bundlePath || interrupted) return testsCode;
  say('replaying every workflow history the tests wrote against the workflow bundle (determinism audit)');
  const { replayAudit } = await import('./replay-audit');
  const audit = await replayAudit({ address: server.address, bundlePath, artifactsDir: path.join(repo, 'test-artifacts') });
  for (const failure of audit.failures) console.error(`[test] NONDETERMINISTIC: ${failure}`);
  say(`determinism audit: ${audit.replayed} workflow histories replayed, ${audit.failures.length} nondeterministic`);
  return audit.failures.length > 0 ? testsCode || 1 : testsCode;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    interrupted ??= signal;
    // The test runner shares our terminal (so it usually got SIGINT already); forwarding also
    // covers signals sent to this process alone. Teardown follows when it has exited.
    child?.kill(signal);
  });
}

void main()
  .catch((error: unknown) => {
    console.error(`[test] ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  })
  .then(async (code) => {
    await teardown();
    // Exit explicitly: gRPC channels or timers left by the bundler must not keep us alive.
    process.exit(interrupted ? (SIGNAL_EXIT[interrupted] ?? 1) : code);
  });
