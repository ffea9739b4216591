// One shared embedded Temporal dev server per state directory.
//
// Every command that needs Temporal (up, down, watch, dev, tests) calls acquireDevServer(). Commands
// running at the same time share ONE server, and there are never two servers on one SQLite state
// file (SQLite would be corrupted and history lost). All decisions about starting, reusing and
// stopping are made under a cross-process lock; users are reference-counted by files named after
// their pid, so users that crashed are pruned instead of keeping the server alive forever.
//
// Files under stateDir:
//   temporal.db          the server's SQLite store: history survives restarts
//   temporal.json        the running server {pid, address, uiUrl, startedAt, …}
//   temporal.log         the server's stdout/stderr, appended per start
//   temporal.lock.d/     the mutex (atomic mkdir, owner pid inside)
//   temporal-users/      one file per acquired handle: "<pid>-<seq>-<random>"
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryDirLockSync, withDirLock } from './dir-lock';
import { LOOPBACK, pickPort } from './free-port';
import { findProcesses, isPidAlive, readCommandLine, signalProcessGroupSync, stopProcessGroup } from './process-control';
import { canConnect, splitAddress, waitForPort } from './wait-for-port';

export type SearchAttributeType = 'Keyword' | 'Double' | 'Int' | 'Text' | 'Bool' | 'Datetime';

export interface AcquireDevServerOptions {
  stateDir: string;
  cliPath: string;
  /** Frontend gRPC port; default 7233, or a free port when that is taken. */
  port?: number;
  /** Web UI port; default 8233, or a free port when that is taken. Ignored when headless. */
  uiPort?: number;
  headless?: boolean;
  searchAttributes: Record<string, SearchAttributeType>;
  /** `--dynamic-config-value`; strings are JSON-quoted, numbers and booleans passed as is. */
  dynamicConfig?: Record<string, string | number | boolean>;
  /**
   * `stockrx-migrate dev`: the server is not stopped by other users' releases, even the last one;
   * only a keep handle's own release stops it (once no other live user remains).
   */
  keep?: boolean;
  /** How long to wait for a new server to accept connections. Default 30 s. */
  startTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface DevServerRecord {
  pid: number;
  address: string;
  uiUrl: string | null;
  startedAt: string;
  dbFile: string;
  logFile: string;
  /** Started or adopted by a keep (foreground `dev`) user. */
  keep: boolean;
  searchAttributes: Record<string, SearchAttributeType>;
  /** Set when a process signalled the server from an exit handler and could not wait for it. */
  stopping?: boolean;
}

export interface DevServerHandle {
  address: string;
  uiUrl: string | null;
  pid: number;
  /** True when an already running server was reused. */
  reused: boolean;
  /** Drops this user; stops the server when it was the last one (see `keep`). Idempotent. */
  release(): Promise<void>;
}

export function devServerPaths(stateDir: string) {
  const dir = path.resolve(stateDir);
  return {
    dir,
    dbFile: path.join(dir, 'temporal.db'),
    recordFile: path.join(dir, 'temporal.json'),
    logFile: path.join(dir, 'temporal.log'),
    lockDir: path.join(dir, 'temporal.lock.d'),
    usersDir: path.join(dir, 'temporal-users'),
  };
}
type Paths = ReturnType<typeof devServerPaths>;

// ---------------------------------------------------------------------------------------------
// State file and users

function readRecordSync(file: string): DevServerRecord | null {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as DevServerRecord;
    return typeof parsed.pid === 'number' && typeof parsed.address === 'string' ? parsed : null;
  } catch {
    return null;
  }
}

function writeRecordSync(file: string, record: DevServerRecord): void {
  // Write-then-rename so a reader never sees half a record.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

/** The recorded pid is alive AND is really our server (pids are reused after a reboot or crash). */
function isRecordedServerAlive(record: DevServerRecord): boolean {
  if (!isPidAlive(record.pid)) return false;
  const argv = readCommandLine(record.pid);
  return argv === null || (argv.includes('start-dev') && argv.includes(record.dbFile));
}

interface UserEntry {
  file: string;
  pid: number;
  keep: boolean;
}

let userSeq = 0;

function addUser(paths: Paths, keep: boolean): string {
  fs.mkdirSync(paths.usersDir, { recursive: true });
  const file = path.join(paths.usersDir, `${process.pid}-${++userSeq}-${randomUUID().slice(0, 8)}`);
  fs.writeFileSync(file, `${JSON.stringify({ pid: process.pid, keep, since: new Date().toISOString() })}\n`);
  return file;
}

/** Live users; entries of dead processes are deleted on the way. */
function liveUsers(paths: Paths): UserEntry[] {
  let names: string[];
  try {
    names = fs.readdirSync(paths.usersDir);
  } catch {
    return [];
  }
  const live: UserEntry[] = [];
  for (const name of names) {
    const file = path.join(paths.usersDir, name);
    const pid = Number(name.split('-')[0]);
    if (!isPidAlive(pid)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    let keep = false;
    try {
      keep = (JSON.parse(fs.readFileSync(file, 'utf8')) as { keep?: boolean }).keep === true;
    } catch {
      // Being written right now; counts as a plain user.
    }
    live.push({ file, pid, keep });
  }
  return live;
}

// ---------------------------------------------------------------------------------------------
// Starting the server

/** The CLI reads TEMPORAL_* (address, TLS, API key, profile); none of it may leak into our server. */
function cliEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('TEMPORAL_')));
}

function dynamicConfigArg(key: string, value: string | number | boolean): string {
  return `${key}=${typeof value === 'string' ? JSON.stringify(value) : String(value)}`;
}

async function logTail(file: string, fromOffset: number, lines = 25): Promise<string> {
  try {
    const text = (await fsp.readFile(file, 'utf8')).slice(fromOffset);
    return text.trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Keeps the appended log from growing without bound across many starts. */
function rotateLog(file: string): void {
  try {
    if (fs.statSync(file).size > 20 * 1024 * 1024) fs.renameSync(file, `${file}.1`);
  } catch {
    // No log yet.
  }
}

/**
 * `start-dev` registers --search-attribute only when it creates a new state file; on a restart
 * with an existing temporal.db new ones are silently ignored (CLI 1.9.1). So we always (re)create
 * them through the operator API, which is idempotent for attributes that already exist.
 */
export async function ensureSearchAttributes(cliPath: string, address: string, attributes: Record<string, SearchAttributeType>, deadline: number): Promise<void> {
  const entries = Object.entries(attributes);
  if (entries.length === 0) return;
  const args = ['operator', 'search-attribute', 'create', '--address', address, '--namespace', 'default'];
  for (const [name, type] of entries) args.push('--name', name, '--type', type);
  for (;;) {
    const output = await runCli(cliPath, args);
    if (output.code === 0) return;
    // The port accepts connections a moment before the frontend serves (CI saw "Frontend is not
    // healthy yet" once in hundreds of starts); that one answer is worth waiting out, others are not.
    if (isStartingUp(output.text) && Date.now() < deadline) {
      await sleep(250);
      continue;
    }
    throw new Error(`Could not register search attributes ${entries.map(([n, t]) => `${n}=${t}`).join(', ')} on ${address}: ${output.text.trim()}`);
  }
}

/** What the CLI says while the server's frontend is still starting (it then answers normally). */
function isStartingUp(cliOutput: string): boolean {
  return /not healthy yet|Unavailable|connection refused/i.test(cliOutput);
}

function runCli(cliPath: string, args: string[]): Promise<{ code: number | null; text: string }> {
  return new Promise((resolve) => {
    let text = '';
    const child = spawn(cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv() });
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.once('error', (error) => resolve({ code: null, text: error.message }));
    child.once('close', (code) => resolve({ code, text }));
  });
}

/** How long a start may take before it is reported as failed (and registering its attributes too). */
const startTimeoutOf = (opts: Pick<AcquireDevServerOptions, 'startTimeoutMs'>): number => opts.startTimeoutMs ?? 30_000;

async function startServer(opts: AcquireDevServerOptions, paths: Paths, log: (m: string) => void): Promise<DevServerRecord> {
  const timeoutMs = startTimeoutOf(opts);
  for (let attempt = 1; ; attempt++) {
    // After a lost port race, retry on fresh free ports rather than the defaults.
    const port = await pickPort(attempt === 1 ? (opts.port ?? 7233) : undefined);
    const uiPort = opts.headless ? null : await pickPort(attempt === 1 ? (opts.uiPort ?? 8233) : undefined, [port]);
    const args = ['server', 'start-dev', '--ip', LOOPBACK, '--port', String(port), '--db-filename', paths.dbFile, '--log-level', 'warn'];
    args.push(...(uiPort === null ? ['--headless'] : ['--ui-port', String(uiPort)]));
    for (const [name, type] of Object.entries(opts.searchAttributes)) args.push('--search-attribute', `${name}=${type}`);
    for (const [key, value] of Object.entries(opts.dynamicConfig ?? {})) args.push('--dynamic-config-value', dynamicConfigArg(key, value));

    rotateLog(paths.logFile);
    const logFd = fs.openSync(paths.logFile, 'a');
    const logOffset = fs.fstatSync(logFd).size;
    fs.writeSync(logFd, `\n--- ${new Date().toISOString()} started by pid ${process.pid}: ${opts.cliPath} ${args.join(' ')}\n`);
    // Detached = its own process group: it outlives this command (other users may share it) and
    // is stopped as a group. Output goes straight to the log file, not through our pipes.
    const child = spawn(opts.cliPath, args, { detached: true, stdio: ['ignore', logFd, logFd], cwd: paths.dir, env: cliEnv() });
    fs.closeSync(logFd);
    let exited: string | undefined;
    child.once('exit', (code, sig) => (exited = `the server process exited during start-up (${sig ?? `exit code ${code}`})`));
    child.once('error', (error) => (exited = `could not run ${opts.cliPath}: ${error.message}`));
    child.unref();
    log(`Starting the Temporal dev server on ${LOOPBACK}:${port} (state ${paths.dbFile}) …`);

    const ready = await waitForPort({ host: LOOPBACK, port, timeoutMs, abortReason: () => exited });
    if (ready.ok && child.pid !== undefined) {
      const address = `${LOOPBACK}:${port}`;
      const record: DevServerRecord = {
        pid: child.pid,
        address,
        uiUrl: uiPort === null ? null : `http://${LOOPBACK}:${uiPort}`,
        startedAt: new Date().toISOString(),
        dbFile: paths.dbFile,
        logFile: paths.logFile,
        keep: opts.keep === true,
        searchAttributes: { ...opts.searchAttributes },
      };
      // Record before anything else can fail, so a failure below still lets us stop it cleanly.
      writeRecordSync(paths.recordFile, record);
      try {
        await ensureSearchAttributes(opts.cliPath, address, opts.searchAttributes, Date.now() + timeoutMs);
      } catch (error) {
        await stopProcessGroup(record.pid);
        fs.rmSync(paths.recordFile, { force: true });
        throw error;
      }
      return record;
    }
    if (child.pid !== undefined) await stopProcessGroup(child.pid, { graceMs: 2000 });
    const tail = await logTail(paths.logFile, logOffset);
    if (exited && /address already in use/i.test(tail) && attempt < 3) {
      log('A port was taken while the server started; retrying on other ports.');
      continue;
    }
    throw new Error(`The Temporal dev server did not start: ${ready.ok ? 'no pid' : ready.reason}.\nLast lines of ${paths.logFile}:\n${tail}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Acquire / release

interface Entry {
  released: boolean;
  release(): Promise<void>;
  releaseSync(): void;
}
const entries = new WeakMap<DevServerHandle, Entry>();
const onExitEntries = new Set<Entry>();

export async function acquireDevServer(opts: AcquireDevServerOptions): Promise<DevServerHandle> {
  const log = opts.log ?? (() => {});
  const paths = devServerPaths(opts.stateDir);
  const keep = opts.keep === true;
  await fsp.mkdir(paths.dir, { recursive: true });
  const lockOpts = { what: 'Temporal dev server lock', timeoutMs: startTimeoutOf(opts) * 3 + 30_000 };

  const { server, reused, userFile } = await withDirLock(
    paths.lockDir,
    async () => {
      let server = readRecordSync(paths.recordFile);
      let reused = false;
      if (server && !server.stopping && isRecordedServerAlive(server) && (await canConnect(splitAddress(server.address).host, splitAddress(server.address).port))) {
        reused = true;
        const missing = Object.entries(opts.searchAttributes).filter(([name]) => !(name in server!.searchAttributes));
        if (missing.length > 0) {
          await ensureSearchAttributes(opts.cliPath, server.address, Object.fromEntries(missing), Date.now() + startTimeoutOf(opts));
          server.searchAttributes = { ...server.searchAttributes, ...Object.fromEntries(missing) };
          writeRecordSync(paths.recordFile, server);
        }
        if (!opts.headless && server.uiUrl === null) log('Reusing a headless Temporal dev server: no Web UI until it restarts.');
        log(`Reusing the Temporal dev server at ${server.address} (pid ${server.pid}).`);
      } else {
        if (server && isRecordedServerAlive(server)) {
          log(server.stopping ? `Waiting for the previous Temporal dev server (pid ${server.pid}) to stop …` : `The recorded Temporal dev server (pid ${server.pid}) does not answer; stopping it.`);
          await stopProcessGroup(server.pid);
        }
        // A server on our state file that is not recorded (record lost) must go too: never two.
        for (const pid of findProcesses((argv) => argv.includes('start-dev') && argv.includes(paths.dbFile))) {
          log(`Stopping an unrecorded Temporal dev server (pid ${pid}) on ${paths.dbFile}.`);
          await stopProcessGroup(pid);
        }
        fs.rmSync(paths.recordFile, { force: true });
        server = await startServer(opts, paths, log);
      }
      if (keep && !server.keep) {
        server.keep = true;
        writeRecordSync(paths.recordFile, server);
      }
      return { server, reused, userFile: addUser(paths, keep) };
    },
    lockOpts,
  );

  const pid = server.pid;
  // Decides, with the lock held, whether this release stops the server.
  const shouldStop = (record: DevServerRecord | null, others: UserEntry[]) =>
    record !== null && record.pid === pid && others.length === 0 && (keep || !record.keep);

  const entry: Entry = {
    released: false,
    async release() {
      if (entry.released) return;
      entry.released = true;
      onExitEntries.delete(entry);
      await withDirLock(
        paths.lockDir,
        async () => {
          fs.rmSync(userFile, { force: true });
          const others = liveUsers(paths);
          const record = readRecordSync(paths.recordFile);
          if (record && shouldStop(record, others)) {
            log(`Stopping the Temporal dev server (pid ${pid}).`);
            await stopProcessGroup(pid);
            fs.rmSync(paths.recordFile, { force: true });
          } else if (record && record.pid === pid && keep && !others.some((u) => u.keep)) {
            // The foreground `dev` left while others still use the server: the last of them stops it.
            record.keep = false;
            writeRecordSync(paths.recordFile, record);
          }
        },
        lockOpts,
      );
    },
    // From an `exit` handler nothing asynchronous runs: signal the server, mark the record
    // "stopping" so the next acquirer waits for it to be gone, and skip it all if the lock is busy.
    releaseSync() {
      if (entry.released) return;
      entry.released = true;
      fs.rmSync(userFile, { force: true });
      const unlock = tryDirLockSync(paths.lockDir);
      if (!unlock) return;
      try {
        const record = readRecordSync(paths.recordFile);
        if (record && shouldStop(record, liveUsers(paths))) {
          signalProcessGroupSync(pid, 'SIGTERM');
          writeRecordSync(paths.recordFile, { ...record, stopping: true });
        }
      } finally {
        unlock();
      }
    },
  };

  const handle: DevServerHandle = { address: server.address, uiUrl: server.uiUrl, pid, reused, release: () => entry.release() };
  entries.set(handle, entry);
  return handle;
}

/** The running server recorded in stateDir (alive and accepting connections), or null. */
export async function readRunningDevServer(stateDir: string): Promise<DevServerRecord | null> {
  const record = readRecordSync(devServerPaths(stateDir).recordFile);
  if (!record || record.stopping || !isRecordedServerAlive(record)) return null;
  const { host, port } = splitAddress(record.address);
  return (await canConnect(host, port)) ? record : null;
}

let exitHandlersInstalled = false;

/**
 * Releases the handle when the process ends: on SIGINT/SIGTERM/SIGHUP (fully, then re-raises the
 * signal so the exit status stays conventional) and on `exit` (best effort, synchronous). When
 * the program has its own handler for a signal, we leave the signal to it and rely on `exit`.
 */
export function releaseOnExit(handle: DevServerHandle): void {
  const entry = entries.get(handle);
  if (!entry) throw new Error('releaseOnExit: not a handle returned by acquireDevServer');
  if (!entry.released) onExitEntries.add(entry);
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', () => {
    for (const e of onExitEntries) e.releaseSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      if (process.listenerCount(sig) > 1) return;
      void Promise.allSettled([...onExitEntries].map((e) => e.release())).finally(() => {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      });
    };
    process.on(sig, onSignal);
  }
}
