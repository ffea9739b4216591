// The services a benchmark runs against, started by the benchmark itself so that every number in
// BENCHMARKS.md comes from one command: embedded Postgres 18 (its own data directory, default
// settings, as in the issue's calibration), a private headless Temporal dev server (temp SQLite
// file, free port), the workflow bundle built once, and `stockrx-migrate worker` processes.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { acquireDevServer, type DevServerHandle } from '../../src/embedded/dev-server';
import { freePort } from '../../src/embedded/free-port';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/embedded/postgres';
import { resolveTemporalCli } from '../../src/embedded/temporal-cli';
import { SEARCH_ATTRIBUTES } from '../../src/client/search-attributes';
import { benchHeader, isBenchUsageError, wantsHelp } from './args';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const STATE_DIR = path.join(REPO_ROOT, '.stockrx');
const BIN = path.join(REPO_ROOT, 'bin', 'stockrx-migrate.js');

export const say = (msg: string) => console.log(`[bench] ${msg}`);

// Teardown, last in first out, however the benchmark ends.
const cleanups: Array<() => Promise<void>> = [];
export function onCleanup(step: () => Promise<void>): void {
  cleanups.push(step);
}
export async function cleanup(): Promise<void> {
  for (let step = cleanups.pop(); step; step = cleanups.pop()) {
    try {
      await step();
    } catch (error) {
      console.error(`[bench] teardown: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/** Runs main, always tears down, and exits with its code: 2 on a usage error (args.ts), 1 on any
 *  other error. With --help it prints the script's header, where its options are documented. */
export function runBench(main: () => Promise<number>): void {
  const script = process.argv[1] ?? '';
  if (wantsHelp(process.argv.slice(2))) {
    console.log(benchHeader(fs.readFileSync(script, 'utf8')));
    process.exit(0);
  }
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      interrupted = true;
      say(`${sig}: stopping`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  main()
    .then(
      async (code) => {
        await cleanup();
        process.exit(code);
      },
      async (error: unknown) => {
        if (isBenchUsageError(error)) {
          console.error(`[bench] ${error.message}; run \`node --import tsx ${path.relative(process.cwd(), script)} --help\` for the options`);
        } else {
          console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
        }
        await cleanup();
        process.exit(interrupted ? 130 : isBenchUsageError(error) ? 2 : 1);
      },
    );
}

export async function startPostgres(): Promise<EmbeddedPostgresHandle> {
  // Separate from the test and demo clusters: benchmarks must not share a server with them.
  const dataDir = path.join(STATE_DIR, 'bench-postgres');
  // BENCH_STATEMENTS=1: pg_stat_statements (with planning time), for statementReport() below.
  const statements = process.env.BENCH_STATEMENTS ? ['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track_planning=on', '-c', 'pg_stat_statements.track=all'] : [];
  const handle = await startEmbeddedPostgres({ dataDir, postgresFlags: ['-c', 'max_connections=100', ...statements], log: say });
  onCleanup(() => handle.stop());
  return handle;
}

export interface BenchTemporal {
  address: string;
  pid: number;
  cliPath: string;
  stateDir: string;
}

export async function startTemporal(dynamicConfig: Record<string, string | number | boolean> = {}): Promise<BenchTemporal> {
  const stateDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'stockrx-bench-'));
  onCleanup(() => fsp.rm(stateDir, { recursive: true, force: true }));
  const cliPath = await resolveTemporalCli({ stateDir: STATE_DIR, log: say });
  const server: DevServerHandle = await acquireDevServer({
    stateDir,
    cliPath,
    port: await freePort(),
    headless: true,
    searchAttributes: SEARCH_ATTRIBUTES,
    dynamicConfig,
  });
  onCleanup(() => server.release());
  say(`Temporal dev server ${server.address} (pid ${server.pid})${Object.keys(dynamicConfig).length ? ` with ${JSON.stringify(dynamicConfig)}` : ''}`);
  return { address: server.address, pid: server.pid, cliPath, stateDir };
}

/** The workflow bundle, built once per benchmark run (webpack takes seconds; workers start fast). */
export async function buildWorkflowBundle(dir: string): Promise<string> {
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const quiet = { log: () => {}, trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: (m: string) => console.error(m) };
  const bundle = await bundleWorkflowCode({ workflowsPath: path.join(REPO_ROOT, 'src', 'workflows', 'index.ts'), logger: quiet });
  const file = path.join(dir, 'workflow-bundle.js');
  await fsp.writeFile(file, bundle.code);
  return file;
}

/** A fresh database on the bench server (dropped first if a previous run left it). */
export async function recreateDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** VmHWM (peak resident set) in MiB, as the kernel accounts it for the process. */
  peakRssMb(): number | null;
  /** VmRSS now, MiB. */
  rssMb(): number | null;
  stop(): Promise<void>;
}

export interface WorkerEnv {
  databaseUrl: string;
  temporalAddress: string;
  taskQueue: string;
  migrationsDir: string;
  bundlePath: string;
  extra?: Record<string, string>;
}

function readStatusKb(pid: number, field: string): number | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** `stockrx-migrate worker` as its own process, the way it runs in production. */
export async function startWorkerProcess(env: WorkerEnv): Promise<WorkerProcess> {
  // BENCH_WORKER_NODE_ARGS, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, to profile the worker.
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'worker'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: env.databaseUrl,
      TEMPORAL_ADDRESS: env.temporalAddress,
      STOCKRX_TASK_QUEUE: env.taskQueue,
      STOCKRX_MIGRATIONS_DIR: env.migrationsDir,
      STOCKRX_WORKFLOW_BUNDLE: env.bundlePath,
      STOCKRX_METRICS_PORT: '0',
      STOCKRX_LOG_LEVEL: process.env.STOCKRX_LOG_LEVEL ?? 'warn',
      ...env.extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  child.stderr!.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-8000);
    if (process.env.BENCH_VERBOSE) process.stderr.write(d);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start polling within 60 s:\n${output}`)), 60_000);
    const check = () => {
      if (/polling task queue/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (code ${code}, signal ${signal}) before polling:\n${output}`));
    });
  });
  const pid = child.pid!;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
  };
  onCleanup(stop);
  return {
    child,
    pid,
    peakRssMb: () => {
      const kb = readStatusKb(pid, 'VmHWM');
      return kb === null ? null : kb / 1024;
    },
    rssMb: () => {
      const kb = readStatusKb(pid, 'VmRSS');
      return kb === null ? null : kb / 1024;
    },
    stop,
  };
}

/** One line describing the machine, for BENCHMARKS.md. */
export async function describeMachine(adminUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  let pgVersion = '?';
  let settings = '';
  try {
    pgVersion = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
    const rows = (
      await client.query<{ name: string; setting: string }>(
        `SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name IN ('shared_buffers','synchronous_commit','fsync','wal_level','max_wal_size','full_page_writes')`,
      )
    ).rows;
    settings = rows.map((r) => `${r.name}=${r.setting}`).join(' ');
  } finally {
    await client.end();
  }
  const cpu = os.cpus()[0]?.model ?? '?';
  return `${os.cpus().length} cores (nproc ${os.availableParallelism()}, ${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}, PostgreSQL ${pgVersion} (embedded; ${settings}); code ${codeState()}`;
}

/**
 * Which code was measured: the commit, plus a hash of any uncommitted change under src/ (the tree
 * is shared with other sessions, so a result must say exactly what it ran).
 */
export function codeState(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const diff = execFileSync('git', ['diff', 'HEAD', '--', 'src'], { cwd: REPO_ROOT, encoding: 'utf8' });
    return diff ? `${head} + uncommitted src changes ${createHash('sha256').update(diff).digest('hex').slice(0, 12)}` : `${head} (src clean)`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** Load average right now: the machine is shared, so every result line says how busy it was. */
export function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

// CPU accounting from /proc (Linux): on a 2-core machine CPU is what the variants compete for.
const CLOCK_TICKS = 100; // USER_HZ; `getconf CLK_TCK` is 100 on Linux

interface ProcTimes {
  ppid: number;
  /** utime + stime, seconds. */
  own: number;
  /** cutime + cstime: children that exited and were waited for, seconds. */
  reaped: number;
}

function procTimes(pid: number): ProcTimes | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(f[i - 3]);
    return { ppid: n(4), own: (n(14) + n(15)) / CLOCK_TICKS, reaped: (n(16) + n(17)) / CLOCK_TICKS };
  } catch {
    return null;
  }
}

/** CPU seconds used so far by a process (and its exited children). */
export function processCpuSeconds(pid: number): number {
  const t = procTimes(pid);
  return t ? t.own + t.reaped : 0;
}

/** CPU seconds used so far by a Postgres server: the postmaster, its live backends and the exited ones. */
export function postgresCpuSeconds(dataDir: string = path.join(STATE_DIR, 'bench-postgres')): number {
  let postmaster: number;
  try {
    postmaster = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return 0;
  }
  let total = processCpuSeconds(postmaster);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const t = procTimes(Number(entry));
    if (t && t.ppid === postmaster) total += t.own;
  }
  return total;
}

/**
 * With BENCH_STATEMENTS=1: the statements that took the most server time (execution + planning)
 * since the last call, one line each, then resets the counters. Empty otherwise.
 */
export async function statementReport(url: string, top = 8): Promise<string[]> {
  if (!process.env.BENCH_STATEMENTS) return [];
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    const { rows } = await client.query<{ calls: string; exec: number; plan: number; query: string }>(
      `SELECT calls, total_exec_time AS exec, total_plan_time AS plan, regexp_replace(query, '\\s+', ' ', 'g') AS query
       FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT $1`,
      [top],
    );
    await client.query('SELECT pg_stat_statements_reset()');
    return rows.map((r) => `${String(r.calls).padStart(6)} calls  exec ${r.exec.toFixed(0).padStart(6)} ms  plan ${r.plan.toFixed(0).padStart(5)} ms  ${r.query.slice(0, 160)}`);
  } finally {
    await client.end();
  }
}
