// The basic user path through the real CLI: plan changes nothing, up applies, status shows it,
// down restores the exact snapshot, and a failing migration exits 1 leaving the database as it was.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { runCli, type CliEnv } from '../helpers/cli';
import { createTestDatabase, type TestDatabase, uniqueTaskQueue } from '../helpers/env';
import { createMigrationsDir, migrationSource, type MigrationsDir } from '../helpers/migrations';
import { snapshotDatabase } from '../helpers/snapshot';

let db: TestDatabase;
let dir: MigrationsDir;
let env: CliEnv;

before(async () => {
  db = await createTestDatabase('cli_up_down');
  dir = await createMigrationsDir('cli-up-down');
  env = { databaseUrl: db.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue('cli-up-down') };
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(`
    CREATE TABLE categories (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE inventories (id serial PRIMARY KEY, name text, status text, created_at timestamptz DEFAULT now(), price numeric, category_id int);
    INSERT INTO categories (name) SELECT 'c' || g FROM generate_series(1, 5) g;
    INSERT INTO inventories (name, status, price, category_id) SELECT 'i' || g, 'active', g, 1 + g % 5 FROM generate_series(1, 2000) g;`);
  await client.end();
});

after(async () => {
  await dir.cleanup();
  await db.drop();
});

test('plan changes nothing; up applies; down restores the snapshot exactly', async () => {
  await dir.write('20250101000000_add_index_to_inventories', migrationSource([`m.addIndex('inventories', ['name'])`, `m.addIndex('inventories', ['status', 'created_at'])`]));
  const before = await snapshotDatabase(db.url);

  const plan = await runCli(['plan'], env);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /addIndex inventories\(name\)/);
  assert.deepEqual(await snapshotDatabase(db.url), before);

  const up = await runCli(['up'], env);
  assert.equal(up.code, 0, up.stderr + up.stdout);
  const applied = await snapshotDatabase(db.url);
  assert.notDeepEqual(applied, before);

  const status = await runCli(['status', '--json'], env);
  assert.equal(status.code, 0, status.stderr);
  const parsed = JSON.parse(status.stdout) as { migrations: { id: string; status: string }[] };
  assert.deepEqual(parsed.migrations.map((m) => [m.id, m.status]), [['20250101000000_add_index_to_inventories', 'applied']]);

  const again = await runCli(['up'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /Nothing to apply/);

  const down = await runCli(['down'], env);
  assert.equal(down.code, 0, down.stderr + down.stdout);
  assert.deepEqual(await snapshotDatabase(db.url), before);
  await dir.remove('20250101000000_add_index_to_inventories');
});

test('a migration failing on its last step exits 1 and leaves the database as it was', async () => {
  const before = await snapshotDatabase(db.url);
  await dir.write(
    '20250102000000_fails_at_the_end',
    migrationSource([
      `m.addColumn('inventories', 'sku', 'text')`,
      `m.createTable('warehouses', (t) => t.addColumn('id', 'serial', (c) => c.primaryKey()).addColumn('name', 'text'))`,
      `m.sql({ up: "DO $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$", down: 'SELECT 1' })`,
    ]),
  );
  const up = await runCli(['up'], env);
  assert.equal(up.code, 1, up.stderr + up.stdout);
  assert.match(up.stderr, /injected failure/);
  assert.deepEqual(await snapshotDatabase(db.url), before);
  const status = JSON.parse((await runCli(['status', '--json'], env)).stdout) as { migrations: { id: string; status: string; lastError: string }[] };
  const row = status.migrations.find((m) => m.id === '20250102000000_fails_at_the_end');
  assert.equal(row?.status, 'failed');
  assert.match(row?.lastError ?? '', /injected failure/);
});
