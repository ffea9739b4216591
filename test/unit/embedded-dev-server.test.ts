// The shared dev server: one server per state dir, reference-counted across handles and
// processes, never two on one state file. Uses the real `temporal` binary (skipped without one).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { acquireDevServer, ensureSearchAttributes, readRunningDevServer, type AcquireDevServerOptions } from '../../src/embedded/dev-server';
import { freePort } from '../../src/embedded/free-port';
import { isPidAlive } from '../../src/embedded/process-control';
import { resolveTemporalCli } from '../../src/embedded/temporal-cli';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const devServerModule = pathToFileURL(path.join(repo, 'src/embedded/dev-server.ts')).href;

// The harness passes its CLI; run directly, use whatever is already installed, never install.
const cliPath =
  process.env.STOCKRX_TEMPORAL_CLI ??
  (await resolveTemporalCli({ stateDir: path.join(repo, '.stockrx'), install: false }).catch(() => undefined));
const skip = cliPath ? false : 'no temporal CLI available (run through `npm test`, or set TEMPORAL_CLI_PATH)';

const roots: string[] = [];
after(() => Promise.all(roots.map((root) => fs.rm(root, { recursive: true, force: true }))));

async function options(extra: Partial<AcquireDevServerOptions> = {}): Promise<AcquireDevServerOptions> {
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stockrx-devserver-test-'));
  roots.push(stateDir);
  // Explicit free ports: never take a developer's 7233/8233 while tests run.
  return { stateDir, cliPath: cliPath!, port: await freePort(), headless: true, searchAttributes: { StockrxStatus: 'Keyword' }, ...extra };
}

function listSearchAttributes(address: string): Record<string, string> {
  const out = spawnSync(cliPath!, ['operator', 'search-attribute', 'list', '--address', address, '--output', 'json'], { encoding: 'utf8' });
  return (JSON.parse(out.stdout) as { customAttributes: Record<string, string> }).customAttributes;
}

/** Another process holding a handle; it obeys "release" / "exit" lines on stdin. */
interface OtherProcess {
  child: ChildProcess;
  handle: { address: string; pid: number; reused: boolean };
  send(command: 'release' | 'exit'): Promise<void>;
}

async function acquireInOtherProcess(opts: AcquireDevServerOptions, releaseOnExit = false): Promise<OtherProcess> {
  const script = `
    import { acquireDevServer, releaseOnExit } from ${JSON.stringify(devServerModule)};
    const handle = await acquireDevServer(JSON.parse(process.env.OPTS));
    if (process.env.ON_EXIT) releaseOnExit(handle);
    console.log(JSON.stringify({ address: handle.address, pid: handle.pid, reused: handle.reused }));
    process.stdin.setEncoding('utf8').on('data', async (line) => {
      if (line.includes('release')) await handle.release();
      process.exit(0);
    });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repo,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, OPTS: JSON.stringify(opts), ON_EXIT: releaseOnExit ? '1' : '' },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const first = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before acquiring`)));
  });
  return {
    child,
    handle: JSON.parse(first) as OtherProcess['handle'],
    async send(command) {
      child.stdin!.write(`${command}\n`);
      await exited;
    },
  };
}

test('two handles in one process share one server; it stops after the last release', { skip }, async () => {
  const opts = await options();
  const [a, b] = await Promise.all([acquireDevServer(opts), acquireDevServer(opts)]);
  assert.equal(a.pid, b.pid, 'one server');
  assert.equal(a.address, b.address);
  assert.deepEqual([a.reused, b.reused].sort(), [false, true]);
  assert.equal((await readRunningDevServer(opts.stateDir))?.pid, a.pid);

  await a.release();
  await a.release(); // idempotent: must not drop b's reference
  assert.ok(isPidAlive(a.pid), 'still used by b');
  assert.ok(await readRunningDevServer(opts.stateDir));

  await b.release();
  assert.equal(isPidAlive(a.pid), false, 'stopped after the last release');
  assert.equal(await readRunningDevServer(opts.stateDir), null);
});

test('handles in different processes share one server; dead users are pruned', { skip }, async () => {
  const opts = await options();
  const mine = await acquireDevServer(opts);
  const other = await acquireInOtherProcess(opts);
  assert.equal(other.handle.pid, mine.pid);
  assert.equal(other.handle.reused, true);

  // The other process dies without releasing: its entry must not keep the server alive forever.
  other.child.kill('SIGKILL');
  await new Promise((resolve) => other.child.once('exit', resolve));
  await mine.release();
  assert.equal(isPidAlive(mine.pid), false);
});

test('the server outlives its starter while another process uses it', { skip }, async () => {
  const opts = await options();
  const starter = await acquireInOtherProcess(opts);
  const mine = await acquireDevServer(opts);
  assert.equal(mine.reused, true);
  await starter.send('release');
  assert.ok(isPidAlive(mine.pid), 'still in use by this process');
  await mine.release();
  assert.equal(isPidAlive(mine.pid), false);
});

test('releaseOnExit stops the server when the last user process exits', { skip }, async () => {
  const opts = await options();
  const other = await acquireInOtherProcess(opts, true);
  assert.ok(isPidAlive(other.handle.pid));
  await other.send('exit'); // process.exit() without release(): the exit hook releases
  const deadline = Date.now() + 10_000;
  while (isPidAlive(other.handle.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(isPidAlive(other.handle.pid), false);
  // The next acquirer finds the record marked "stopping" and starts a fresh server.
  const next = await acquireDevServer(opts);
  assert.equal(next.reused, false);
  await next.release();
});

test('keep mode: other users do not stop it; the keeper does once they are gone', { skip }, async () => {
  const opts = await options();
  const keeper = await acquireDevServer({ ...opts, keep: true });
  const user = await acquireDevServer(opts);
  await user.release();
  assert.ok(isPidAlive(keeper.pid), 'a plain release does not stop a kept server');
  await keeper.release();
  assert.equal(isPidAlive(keeper.pid), false);

  // The keeper leaves first: the remaining user becomes responsible for stopping it.
  const keeper2 = await acquireDevServer({ ...opts, keep: true });
  const user2 = await acquireDevServer(opts);
  await keeper2.release();
  assert.ok(isPidAlive(keeper2.pid), 'still in use');
  await user2.release();
  assert.equal(isPidAlive(keeper2.pid), false);
});

test('a restart keeps the state file and registers newly requested search attributes', { skip }, async () => {
  const opts = await options();
  const first = await acquireDevServer(opts);
  await first.release();
  // `start-dev` ignores --search-attribute on an existing state file; acquire must add it anyway.
  const second = await acquireDevServer({ ...opts, searchAttributes: { StockrxStatus: 'Keyword', StockrxProgress: 'Double' } });
  try {
    assert.equal(second.reused, false);
    const attributes = listSearchAttributes(second.address);
    assert.equal(attributes.StockrxStatus, 'INDEXED_VALUE_TYPE_KEYWORD');
    assert.equal(attributes.StockrxProgress, 'INDEXED_VALUE_TYPE_DOUBLE');
    assert.ok((await fs.stat(path.join(opts.stateDir, 'temporal.db'))).size > 0);
  } finally {
    await second.release();
  }
});

test('a start failure reports the tail of the server log', { skip }, async () => {
  // An unknown search attribute type makes `start-dev` exit at once with a usage error.
  const opts = await options({ searchAttributes: { Broken: 'NoSuchType' as 'Keyword' }, startTimeoutMs: 10_000 });
  const started = Date.now();
  await assert.rejects(acquireDevServer(opts), (error: Error) => /exited during start-up/.test(error.message) && /NoSuchType/.test(error.message));
  assert.ok(Date.now() - started < 5000, 'reported when the process exits, not after the timeout');
  assert.equal(await readRunningDevServer(opts.stateDir), null);
});

/** A stand-in for the CLI that answers its first `failures` calls with `message` and exit code 1. */
async function flakyCli(failures: number, message: string): Promise<{ cli: string; calls: () => Promise<number> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stockrx-flaky-cli-'));
  roots.push(dir);
  const counter = path.join(dir, 'calls');
  const cli = path.join(dir, 'temporal');
  await fs.writeFile(
    cli,
    `#!/bin/sh\nn=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}\n` +
      `if [ $n -le ${failures} ]; then echo '${message}' >&2; exit 1; fi\nexit 0\n`,
    { mode: 0o755 },
  );
  return { cli, calls: async () => Number((await fs.readFile(counter, 'utf8')).trim()) };
}

test('registering search attributes waits out a frontend that is not healthy yet', async () => {
  const { cli, calls } = await flakyCli(2, 'failed connecting to Temporal server: Frontend is not healthy yet');
  await ensureSearchAttributes(cli, '127.0.0.1:1', { StockrxStatus: 'Keyword' }, Date.now() + 10_000);
  assert.equal(await calls(), 3, 'two refusals, then the registration');
});

test('registering search attributes fails at once on an answer that is not about start-up', async () => {
  const { cli, calls } = await flakyCli(5, 'invalid search attribute type');
  await assert.rejects(ensureSearchAttributes(cli, '127.0.0.1:1', { StockrxStatus: 'Keyword' }, Date.now() + 10_000), /invalid search attribute type/);
  assert.equal(await calls(), 1);
});

test('registering search attributes gives up at the deadline', async () => {
  const { cli } = await flakyCli(1000, 'Frontend is not healthy yet');
  const started = Date.now();
  await assert.rejects(ensureSearchAttributes(cli, '127.0.0.1:1', { StockrxStatus: 'Keyword' }, Date.now() + 1000), /not healthy yet/);
  assert.ok(Date.now() - started < 5000);
});
