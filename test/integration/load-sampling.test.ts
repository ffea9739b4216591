// Load sampling against a real Postgres: the database sampler sees a backend running a statement
// and a session waiting on a row lock, and the canary times real primary-key lookups (and reports
// a lookup stuck behind a table lock as slow instead of hanging). Host load is read for real too.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/env';
import { openTargetDatabase, type TargetDatabase } from '../../src/db/connect';
import { sampleDatabaseLoad } from '../../src/activities/load/database-load';
import { createCanary, withDedicatedCanary } from '../../src/activities/load/canary';
import { startCanarySampler } from '../../src/activities/load/canary-sampler';
import { createHostLoadSampler, sampleHostLoad, type HostLoadSource } from '../../src/activities/load/host-load';

let database: TestDatabase;
let target: TargetDatabase;
const clients: pg.Client[] = [];

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, application_name: 'stockrx-test load' });
  await c.connect();
  clients.push(c);
  return c;
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

before(async () => {
  database = await createTestDatabase('load_sampling');
  target = openTargetDatabase(database.url, { max: 4 });
  const admin = await client(database.url);
  await admin.query(`
    CREATE TABLE items (id bigserial PRIMARY KEY, v int NOT NULL DEFAULT 0);
    INSERT INTO items (v) SELECT g FROM generate_series(1, 20000) g;
    CREATE TABLE tokens (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), at timestamp NOT NULL DEFAULT now());
    INSERT INTO tokens SELECT FROM generate_series(1, 50);
    CREATE TABLE events (at timestamp PRIMARY KEY);
    INSERT INTO events SELECT timestamp '2025-01-01 00:00:00.123456' + g * interval '1 second' FROM generate_series(1, 50) g;
    CREATE TABLE empty_things (id int PRIMARY KEY);
    ANALYZE;`);
});

after(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await target?.close();
  await database?.drop();
});

/** No pooled session keeps a statement_timeout (checks out every idle one at once). */
async function assertNoPooledStatementTimeout(): Promise<void> {
  const sessions = await Promise.all(Array.from({ length: target.pool.totalCount }, () => target.pool.connect()));
  try {
    for (const session of sessions) {
      const { rows } = await session.query<{ t: string }>("SELECT current_setting('statement_timeout') AS t");
      assert.equal(rows[0]!.t, '0');
    }
  } finally {
    sessions.forEach((s) => s.release());
  }
}

describe('database load', () => {
  test('an extra active backend is counted while it runs, and not after', async () => {
    const idle = await sampleDatabaseLoad(target.db, { scope: 'database' });
    assert.equal(idle.activeBackends, 0, 'the sampling session does not count itself; idle sessions do not count');
    assert.equal(idle.seesAllSessions, true);

    const sleeper = await client(database.url);
    const sleeping = sleeper.query('SELECT pg_sleep(2)');
    try {
      const busy = await until('an active backend', () => sampleDatabaseLoad(target.db, { scope: 'database' }), (l) => l.activeBackends >= 1);
      assert.equal(busy.activeBackends, 1);
      const server = await sampleDatabaseLoad(target.db);
      assert.ok(server.activeBackends >= 1, 'the server-wide count includes this database');
    } finally {
      await sleeping;
    }
    assert.equal((await sampleDatabaseLoad(target.db, { scope: 'database' })).activeBackends, 0);
  });

  test('a session waiting on a row lock is a lock waiter', async () => {
    const holder = await client(database.url);
    const waiter = await client(database.url);
    await holder.query('BEGIN');
    await holder.query('UPDATE items SET v = v + 1 WHERE id = 1');
    const blocked = waiter.query('UPDATE items SET v = v + 1 WHERE id = 1');
    try {
      const load = await until('a lock waiter', () => sampleDatabaseLoad(target.db, { scope: 'database' }), (l) => l.lockWaiters >= 1);
      assert.equal(load.lockWaiters, 1);
      assert.equal(load.activeBackends, 1, 'the blocked UPDATE is active (waiting); the holder is idle in transaction');
    } finally {
      await holder.query('COMMIT');
      await blocked;
    }
    assert.equal((await sampleDatabaseLoad(target.db, { scope: 'database' })).lockWaiters, 0);
  });

  test('no replicas: replica lag is null, not 0', async () => {
    const { rows } = await target.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_replication');
    if (rows[0]!.n > 0) return; // a server with real replicas: nothing to assert here
    assert.equal((await sampleDatabaseLoad(target.db)).replicaLagMs, null);
  });
});

describe('canary', () => {
  test('picks existing keys once and times primary-key lookups in positive ms', async () => {
    const canary = await createCanary(target.db, { schema: 'public', name: 'items' }, 'id');
    assert.equal(canary.keys.length, 8);
    assert.equal(new Set(canary.keys).size, 8);
    const { rows } = await target.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM items WHERE id::text = ANY($1)', [canary.keys]);
    assert.equal(rows[0]!.n, 8, 'every key exists');
    const ms = await canary.measure();
    assert.ok(ms > 0 && ms < 1000, `lookup took ${ms} ms`);
    const many = await canary.measureMany(10);
    assert.equal(many.length, 10);
    assert.ok(many.every((x) => x > 0));
    const baseline = await canary.baseline(30, { window: 10, intervalMs: 1 });
    assert.ok(baseline > 0 && baseline < 1000, `baseline ${baseline} ms`);
  });

  test('keys of any type round-trip as text (uuid, timestamp with microseconds); an empty table still measures', async () => {
    for (const [name, column] of [['tokens', 'id'], ['events', 'at']] as const) {
      const canary = await createCanary(target.db, { schema: 'public', name }, column, { keys: 3 });
      assert.equal(canary.keys.length, 3, name);
      const cast = column === 'at' ? 'timestamp' : 'uuid';
      const { rows } = await target.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${name} WHERE ${column} = ANY($1::${cast}[])`, [canary.keys]);
      assert.equal(rows[0]!.n, 3, `${name}: every key finds its row`);
      assert.ok((await canary.measure()) > 0);
    }
    const empty = await createCanary(target.db, { schema: 'public', name: 'empty_things' }, 'id');
    assert.deepEqual(empty.keys, []);
    assert.ok((await empty.measure()) > 0);
  });

  test('a lookup stuck behind a table lock is reported as the timeout, not a hang', async () => {
    const canary = await createCanary(target.db, { schema: 'public', name: 'items' }, 'id', { timeoutMs: 300 });
    const holder = await client(database.url);
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
    try {
      const started = Date.now();
      const ms = await canary.measure();
      assert.ok(ms >= 300, `reported ${ms} ms`);
      assert.ok(Date.now() - started < 3000, 'returned soon after the timeout');
    } finally {
      await holder.query('ROLLBACK');
    }
    // The timeout was SET LOCAL: no pooled session keeps it.
    await assertNoPooledStatementTimeout();
  });
});

describe('dedicated, committing canary (what a data slice uses)', () => {
  test('each lookup commits a transaction id; the session timeout is undone on release; the sampler keeps timing until stopped', async () => {
    const xid = async () => Number((await target.pool.query<{ x: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x')).rows[0]!.x);
    const before = await xid();
    await withDedicatedCanary(target.db, { schema: 'public', name: 'items' }, 'id', async (canary) => {
      const ms = await canary.measureMany(10);
      assert.ok(ms.every((x) => x > 0 && x < 1000), ms.join(', '));
      const sampler = startCanarySampler(canary, { intervalMs: 5, quietAfterMs: 0 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await sampler.stop();
      const sampled = sampler.drain().samples;
      assert.ok(sampled.length >= 5, `${sampled.length} lookups in 300 ms`);
    }, { commits: true, timeoutMs: 1234 });
    assert.ok((await xid()) - before >= 15, 'every lookup assigned and committed a transaction id');
    // Back in the pool without the canary's statement_timeout.
    await assertNoPooledStatementTimeout();
  });
});

describe('host load', () => {
  test('real readings are percentages, cached for about a second', async () => {
    const first = await sampleHostLoad();
    assert.ok(first.cpuPercent >= 0 && first.cpuPercent <= 100, `cpu ${first.cpuPercent}`);
    assert.ok(first.memoryPercent > 0 && first.memoryPercent <= 100, `memory ${first.memoryPercent}`);
    assert.equal(await sampleHostLoad(), first, 'a second call within the TTL reuses the reading');
  });

  test('primes once, shares concurrent readings, refreshes after the TTL, uses available memory', async () => {
    let clock = 0;
    let loads = 0;
    const source: HostLoadSource = {
      currentLoad: async () => ({ currentLoad: [99, 40, 60][loads++] ?? 0 }), // 99: the since-boot figure
      mem: async () => ({ total: 1000, available: 250 }),
    };
    const sampler = createHostLoadSampler({ source, now: () => clock, sleep: async () => undefined, ttlMs: 1000 });
    const [a, b] = await Promise.all([sampler.sample(), sampler.sample()]);
    assert.deepEqual(a, { cpuPercent: 40, memoryPercent: 75 });
    assert.equal(a, b);
    clock = 999;
    assert.equal(await sampler.sample(), a);
    clock = 1000;
    assert.equal((await sampler.sample()).cpuPercent, 60);
    assert.equal(loads, 3);
  });
});
