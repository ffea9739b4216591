// Runs the real CLI (bin/stockrx-migrate.js) as a child process against the harness's services,
// the way a user would, with the prebuilt workflow bundle so its in-process worker starts fast.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testEnv } from './env';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(REPO_ROOT, 'bin', 'stockrx-migrate.js');

export interface CliEnv {
  databaseUrl: string;
  migrationsDir: string;
  taskQueue: string;
  stateDir?: string;
  extra?: Record<string, string>;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function cliEnvironment(env: CliEnv): NodeJS.ProcessEnv {
  const harness = testEnv();
  return {
    ...process.env,
    DATABASE_URL: env.databaseUrl,
    TEMPORAL_ADDRESS: harness.temporalAddress,
    STOCKRX_MIGRATIONS_DIR: env.migrationsDir,
    STOCKRX_TASK_QUEUE: env.taskQueue,
    STOCKRX_WORKFLOW_BUNDLE: harness.workflowBundlePath,
    STOCKRX_STATE_DIR: env.stateDir ?? path.join(env.migrationsDir, '.state'),
    ...env.extra,
  };
}

export function spawnCli(args: string[], env: CliEnv): { child: ChildProcess; result: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: cliEnvironment(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, result };
}

export async function runCli(args: string[], env: CliEnv, timeoutMs = 120_000): Promise<CliResult> {
  const { child, result } = spawnCli(args, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    return await result;
  } finally {
    clearTimeout(timer);
  }
}
