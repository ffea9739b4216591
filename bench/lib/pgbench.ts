// Running pgbench from a benchmark: its environment from a URL, the process, and the latencies
// of the transactions it logged (-l) in a time window.
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeMachine, onCleanup, recreateDatabase, say, startPostgres } from './stack';

export function pgEnv(url: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  return { ...process.env, PGHOST: u.hostname, PGPORT: u.port, PGUSER: decodeURIComponent(u.username), PGPASSWORD: decodeURIComponent(u.password), PGDATABASE: u.pathname.slice(1) };
}

export function runProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${err}`))));
  });
}

/** A transaction pgbench logged (-l): when it ended (epoch ms) and how long it took (ms). */
export interface LoggedTransaction {
  endMs: number;
  latencyMs: number;
}

/** Every transaction in pgbench's -l logs under `prefix` that ended inside [fromEpochMs, toEpochMs]. */
export async function loggedTransactions(logDir: string, prefix: string, fromEpochMs: number, toEpochMs: number): Promise<LoggedTransaction[]> {
  const out: LoggedTransaction[] = [];
  for (const file of await fsp.readdir(logDir)) {
    if (!file.startsWith(prefix)) continue;
    for (const line of (await fsp.readFile(path.join(logDir, file), 'utf8')).split('\n')) {
      // client_id transaction_no time script_no time_epoch time_us
      const f = line.split(' ');
      if (f.length < 6) continue;
      const endMs = Number(f[4]) * 1000 + Number(f[5]) / 1000;
      if (endMs >= fromEpochMs && endMs <= toEpochMs) out.push({ endMs, latencyMs: Number(f[2]) / 1000 });
    }
  }
  return out;
}

/** Latencies (ms) of transactions that ended inside [fromEpochMs, toEpochMs], from pgbench -l logs. */
export async function latencies(logDir: string, prefix: string, fromEpochMs: number, toEpochMs: number): Promise<number[]> {
  return (await loggedTransactions(logDir, prefix, fromEpochMs, toEpochMs)).map((t) => t.latencyMs);
}

/**
 * The bench Postgres with a fresh database `name` that pgbench has initialised at `scale`, a
 * directory for pgbench's logs (removed at teardown), and the machine's description (printed).
 */
export async function pgbenchDatabase(name: string, scale: number): Promise<{ url: string; work: string; machine: string }> {
  const server = await startPostgres();
  const machine = await describeMachine(server.adminUrl);
  say(machine);
  const url = await recreateDatabase(server.adminUrl, name);
  await runProcess('pgbench', ['-i', '-q', '-s', String(scale)], pgEnv(url));
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), `stockrx-${name}-`));
  onCleanup(() => fsp.rm(work, { recursive: true, force: true }));
  return { url, work, machine };
}
