// Bad input exits 2 before anything starts: the message names the file, the step (where there is
// one) and the fix, and the database is untouched: its snapshot is equal before and after, the
// journal schema was not even created (or, once it exists, not one journal row changed), and no
// runner workflow was started. Also the other side: a later step may use what an earlier step of
// the same run creates, and that must not be refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { runCli, type CliEnv, type CliResult } from '../helpers/cli';
import { createTestDatabase, type TestDatabase, uniqueTaskQueue } from '../helpers/env';
import { createMigrationsDir, migrationSource, type MigrationsDir } from '../helpers/migrations';
import { dumpJournal, query, stockrxSchemas } from '../helpers/pg-probe';
import { snapshotDatabase } from '../helpers/snapshot';
import { testClient } from '../helpers/temporal';
import { dbKeyFromUrl } from '../../src/config/db-key';
import { runnerWorkflowId } from '../../src/workflows/definitions';

/** A valid migration sorted before every bad one: it must not be applied either. */
const GOOD = { '20240101000000_add_barcode.ts': migrationSource([`m.addColumn('inventories', 'barcode', 'text')`]) };

let fresh: TestDatabase;
const databases: TestDatabase[] = [];
const dirs: MigrationsDir[] = [];

async function seededDatabase(prefix: string): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix);
  databases.push(db);
  await query(
    db.url,
    `CREATE TABLE categories (id serial PRIMARY KEY, name text NOT NULL);
     CREATE TABLE inventories (id serial PRIMARY KEY, name text, status text, price numeric, category_id int);
     INSERT INTO categories (name) SELECT 'c' || g FROM generate_series(1, 5) g;
     INSERT INTO inventories (name, status, price, category_id) SELECT 'i' || g, 'active', g, 1 + g % 5 FROM generate_series(1, 300) g;`,
  );
  return db;
}

before(async () => {
  fresh = await seededDatabase('bad_input');
});

after(async () => {
  for (const dir of dirs) await dir.cleanup();
  for (const db of databases) await db.drop();
});

/** A migrations directory holding exactly `files` (names with their extension). */
async function migrationsWith(files: Record<string, string>): Promise<MigrationsDir> {
  const dir = await createMigrationsDir('bad-input');
  dirs.push(dir);
  for (const [name, source] of Object.entries(files)) await writeFile(path.join(dir.dir, name), source);
  return dir;
}

function cliEnv(db: TestDatabase, dir: MigrationsDir, extra: Record<string, string> = {}): CliEnv {
  return { databaseUrl: db.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue('bad-input'), extra: { STOCKRX_METRICS_PORT: '0', ...extra } };
}

/** The run ID of the database's runner workflow (the lock), or null when none was ever started. */
async function runnerRunId(db: TestDatabase): Promise<string | null> {
  const temporal = await testClient();
  try {
    return (await temporal.client.workflow.getHandle(runnerWorkflowId(dbKeyFromUrl(db.url))).describe()).runId;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  } finally {
    await temporal.close();
  }
}

interface DatabaseState {
  snapshot: Awaited<ReturnType<typeof snapshotDatabase>>;
  schemas: string[];
  journal: Awaited<ReturnType<typeof dumpJournal>>;
  runner: string | null;
}

async function stateOf(db: TestDatabase): Promise<DatabaseState> {
  return { snapshot: await snapshotDatabase(db.url), schemas: await stockrxSchemas(db.url), journal: await dumpJournal(db.url), runner: await runnerRunId(db) };
}

/**
 * Runs the CLI and asserts the refusal: exit 2, every pattern in stderr, and the database (user
 * schema, journal, lock workflow) exactly as before. Without `journalExists`, the journal schema
 * must not exist afterwards either.
 */
async function assertRefused(
  db: TestDatabase,
  args: string[],
  dir: MigrationsDir,
  patterns: RegExp[],
  options: { journalExists?: boolean } = {},
): Promise<CliResult> {
  const before = await stateOf(db);
  const result = await runCli(args, cliEnv(db, dir), 90_000);
  const output = `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
  assert.equal(result.code, 2, `\`${args.join(' ')}\` should exit 2:\n${output}`);
  for (const pattern of patterns) assert.match(result.stderr, pattern, output);
  assert.deepEqual(await stateOf(db), before, `\`${args.join(' ')}\` changed the database:\n${output}`);
  if (!options.journalExists) assert.deepEqual(before.schemas, [], 'the journal schema stockrx_migrate was created');
  return result;
}

const esc = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** `<file>, step N (<label>): <message>` as the CLI prints a problem. */
const problem = (file: string, step: number | null, label: string | null, message: string) =>
  new RegExp(`${esc(file)}${step === null ? '' : `, step ${step} \\(${esc(label!)}\\)`}: ${message}`);

test('an unknown table: file, step, fix; nothing changed', async () => {
  const dir = await migrationsWith({
    ...GOOD,
    '20250101000000_index_warehouse.ts': migrationSource([`m.addColumn('inventories', 'sku', 'text')`, `m.addIndex('warehouse', ['name'])`]),
  });
  for (const verb of ['up', 'plan']) {
    await assertRefused(fresh, [verb], dir, [
      /nothing was changed/,
      problem('20250101000000_index_warehouse.ts', 2, 'addIndex warehouse(name)', 'table warehouse does not exist; fix: check the table name, or create the table in an earlier step'),
    ]);
  }
});

test('an unknown column in addIndex, renameColumn, dropColumn and addForeignKey: each refused on its own', async () => {
  const cases: { step: string; label: string; column: string }[] = [
    { step: `m.addIndex('inventories', ['nmae'])`, label: 'addIndex inventories(nmae)', column: 'inventories.nmae' },
    { step: `m.renameColumn('inventories', 'stauts', 'state')`, label: 'renameColumn inventories.stauts → state', column: 'inventories.stauts' },
    { step: `m.dropColumn('inventories', 'prise')`, label: 'dropColumn inventories.prise', column: 'inventories.prise' },
    { step: `m.addForeignKey('inventories', 'categry_id', 'categories')`, label: 'addForeignKey inventories.categry_id → categories.id', column: 'inventories.categry_id' },
    {
      step: `m.addForeignKey('inventories', 'category_id', 'categories', { column: 'uuid' })`,
      label: 'addForeignKey inventories.category_id → categories.uuid',
      column: 'categories.uuid',
    },
  ];
  for (const c of cases) {
    const dir = await migrationsWith({ ...GOOD, '20250101000000_bad_column.ts': migrationSource([`m.addColumn('inventories', 'sku', 'text')`, c.step]) });
    const table = c.column.split('.')[0]!;
    await assertRefused(fresh, ['up'], dir, [
      problem('20250101000000_bad_column.ts', 2, c.label, `column ${esc(c.column)} does not exist; fix: check the column name \\(${table} has [^)]*\\bid\\b[^)]*\\), or add the column in an earlier step`),
    ]);
  }
});

test('a duplicate migration id (.ts and .js) is refused', async () => {
  const dir = await migrationsWith({
    ...GOOD,
    '20250101000000_add_sku.ts': migrationSource([`m.addColumn('inventories', 'sku', 'text')`]),
    '20250101000000_add_sku.js': migrationSource([`m.addColumn('inventories', 'sku', 'varchar(32)')`]),
  });
  await assertRefused(fresh, ['up'], dir, [
    problem('20250101000000_add_sku.ts', null, null, esc('duplicate migration id 20250101000000_add_sku (also 20250101000000_add_sku.js); rename one of them')),
  ]);
});

test('malformed files: a TypeScript syntax error, a default export that is not defineMigration, steps() throwing', async () => {
  const syntax = await migrationsWith({
    ...GOOD,
    '20250101000000_broken.ts': `import { defineMigration } from 'stockrx-migrate';\n\nexport default defineMigration({\n  steps: (m) => [\n    m.addIndex('inventories', ['name'],\n  ],\n});\n`,
  });
  // The position and the reason, not just esbuild's "Transform failed with 1 error:".
  await assertRefused(fresh, ['up'], syntax, [
    problem('20250101000000_broken.ts', null, null, `cannot be loaded: .*20250101000000_broken\\.ts:6:\\d+: ERROR: .+; fix: correct the file so it compiles`),
  ]);

  const notDefined = await migrationsWith({
    ...GOOD,
    '20250101000000_plain_object.ts': `export default { steps: (m: { addColumn: (...a: string[]) => unknown }) => [m.addColumn('inventories', 'sku', 'text')] };\n`,
    '20250101000001_named_export.ts': `import { defineMigration } from 'stockrx-migrate';\n\nexport const migration = defineMigration({ steps: (m) => [m.addColumn('inventories', 'sku', 'text')] });\n`,
  });
  const exportMessage = esc("its default export must be `defineMigration({...})` imported from 'stockrx-migrate'");
  await assertRefused(fresh, ['up'], notDefined, [
    problem('20250101000000_plain_object.ts', null, null, exportMessage),
    problem('20250101000001_named_export.ts', null, null, exportMessage),
  ]);

  const throwing = await migrationsWith({
    ...GOOD,
    '20250101000000_throws.ts': `import { defineMigration } from 'stockrx-migrate';\n\nexport default defineMigration({\n  steps: () => {\n    throw new Error('no steps today');\n  },\n});\n`,
  });
  await assertRefused(fresh, ['up'], throwing, [problem('20250101000000_throws.ts', null, null, 'steps\\(\\) threw: no steps today; fix: make steps\\(\\) only build and return the steps')]);
});

test('an sql step without down is refused, with how to declare it irreversible', async () => {
  const dir = await migrationsWith({ ...GOOD, '20250101000000_zero_prices.ts': migrationSource([`m.sql({ up: 'UPDATE inventories SET price = 0 WHERE price IS NULL' })`]) });
  await assertRefused(fresh, ['up'], dir, [
    problem(
      '20250101000000_zero_prices.ts',
      1,
      'sql UPDATE inventories SET price = 0 WHERE price IS NULL',
      esc('sql() needs a `down` statement that undoes `up`; if it truly cannot be undone, pass `irreversible: true`'),
    ),
  ]);
});

test('identifiers that are not plain names are refused before they reach SQL', async () => {
  const notPlain = esc('is not a plain name (letters, digits and _; not starting with a digit)');
  const table = await migrationsWith({ ...GOOD, '20250101000000_sneaky_table.ts': migrationSource([`m.addIndex('inventories; drop table categories', ['name'])`]) });
  await assertRefused(fresh, ['up'], table, [problem('20250101000000_sneaky_table.ts', 1, 'addIndex inventories; drop table categories(name)', `"inventories; drop table categories" ${notPlain}`)]);

  const column = await migrationsWith({ ...GOOD, '20250101000000_spaced_column.ts': migrationSource([`m.addColumn('inventories', 'unit price', 'numeric')`]) });
  await assertRefused(fresh, ['up'], column, [problem('20250101000000_spaced_column.ts', 1, 'addColumn inventories.unit price', `"unit price" ${notPlain}`)]);

  const quoted = await migrationsWith({
    ...GOOD,
    '20250101000000_quoted_names.ts': migrationSource([`m.dropTable('categories"; DROP TABLE inventories; --')`, `m.addIndex('inventories', ['name) WHERE (true'])`]),
  });
  await assertRefused(fresh, ['up'], quoted, [
    problem('20250101000000_quoted_names.ts', 1, 'dropTable categories"; DROP TABLE inventories; --', `"categories\\"; DROP TABLE inventories; --" ${notPlain}`),
    problem('20250101000000_quoted_names.ts', 2, 'addIndex inventories(name) WHERE (true)', `"name\\) WHERE \\(true" ${notPlain}`),
  ]);
});

test('a file name that is not <timestamp>_<name> is refused', async () => {
  const dir = await migrationsWith({
    ...GOOD,
    'add_sku.ts': migrationSource([`m.addColumn('inventories', 'sku', 'text')`]),
    '20250101_add_ean.ts': migrationSource([`m.addColumn('inventories', 'ean', 'text')`]),
    '20250101000000_AddUpc.ts': migrationSource([`m.addColumn('inventories', 'upc', 'text')`]),
  });
  const message = esc('the file name must be <UTC timestamp>_<snake_name>.ts, e.g. 20250101120000_add_index_to_inventories.ts (create one with `stockrx-migrate new NAME`)');
  await assertRefused(fresh, ['up'], dir, [
    problem('add_sku.ts', null, null, message),
    problem('20250101_add_ean.ts', null, null, message),
    problem('20250101000000_AddUpc.ts', null, null, message),
  ]);
});

test('a bad DATABASE_URL exits 2 with the fix, and never prints the password', async () => {
  const password = `p@ss:w0rd/${randomBytes(6).toString('hex')}`;
  const encoded = encodeURIComponent(password);
  const dir = await migrationsWith(GOOD);
  // A port that accepts connections but never answers: a firewalled host behaves the same way.
  const silent = net.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as net.AddressInfo).port;
  try {
    const cases: { url: string; args: string[]; shown: RegExp; maxMs?: number }[] = [
      { url: `postgres://app:${encoded}@127.0.0.1:1/shop`, args: ['up'], shown: /cannot connect to the database postgres:\/\/app:\*\*\*@127\.0\.0\.1:1\/shop: .*ECONNREFUSED/ },
      { url: `postgres://app:${encoded}@127.0.0.1:1/shop`, args: ['down'], shown: /cannot connect to the database postgres:\/\/app:\*\*\*@127\.0\.0\.1:1\/shop/ },
      { url: `postgres://app:${encoded}@db.invalid:5432/shop`, args: ['up'], shown: /cannot connect to the database postgres:\/\/app:\*\*\*@db\.invalid:5432\/shop: .*ENOTFOUND/ },
      { url: `postgres://app:${encoded}@127.0.0.1:${silentPort}/shop`, args: ['up'], shown: /cannot connect to the database postgres:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/shop: .*timeout/, maxMs: 60_000 },
      // Not even a URL (port out of range): refused before any connection, without echoing it.
      { url: `postgres://app:${encoded}@127.0.0.1:99999/shop`, args: ['up'], shown: /Invalid env DATABASE_URL: database URL could not be parsed/ },
    ];
    for (const c of cases) {
      const started = Date.now();
      const result = await runCli(c.args, { databaseUrl: c.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue('bad-url') }, 90_000);
      const output = `${result.stdout}\n${result.stderr}`;
      assert.equal(result.code, 2, `${c.args.join(' ')} with ${c.shown}: exit ${result.code}\n${output}`);
      assert.match(result.stderr, c.shown, output);
      assert.match(result.stderr, /fix: .*(check DATABASE_URL|Use postgres:\/\/USER:)/, output);
      for (const secret of [password, encoded, 'w0rd']) assert.ok(!output.includes(secret), `the password leaked (${secret}):\n${output}`);
      if (c.maxMs) assert.ok(Date.now() - started < c.maxMs, `took ${Date.now() - started} ms: a silent server must not hang the CLI`);
    }
  } finally {
    silent.close();
  }
  assert.deepEqual(await stockrxSchemas(fresh.url), []);
});

test('--to naming a missing id is refused, and the pending migrations are not applied', async () => {
  const dir = await migrationsWith(GOOD);
  for (const verb of ['up', 'plan']) {
    await assertRefused(fresh, [verb, '--to', '20991231000000_nope'], dir, [
      problem('20991231000000_nope', null, null, '--to names no migration in .*; fix: pass the id of a migration file'),
    ]);
  }
});

test('an unknown flag or verb exits 2 with usage, and applies nothing', async () => {
  const dir = await migrationsWith(GOOD);
  await assertRefused(fresh, ['up', '--frobnicate'], dir, [/unknown option '--frobnicate'/, /Usage: stockrx-migrate up \[options\]/]);
  await assertRefused(fresh, ['upp'], dir, [/unknown command 'upp'/, /Usage: stockrx-migrate \[options\] \[command\]/, /up \[options\]\s+apply pending migrations/]);
  await assertRefused(fresh, ['down', '--steps', '0'], dir, [/--steps must be a positive integer, got "0"/]);
});

test('an applied migration edited afterwards is refused (checksum), and nothing else is applied', async () => {
  const db = await seededDatabase('bad_input_checksum');
  const applied = migrationSource([`m.addColumn('inventories', 'sku', 'text')`]);
  const dir = await migrationsWith({ '20250201000000_add_sku.ts': applied });
  const up = await runCli(['up'], cliEnv(db, dir));
  assert.equal(up.code, 0, up.stdout + up.stderr);

  await dir.write('20250201000000_add_sku', migrationSource([`m.addColumn('inventories', 'sku', 'varchar(64)')`]));
  await dir.write('20250202000000_index_sku', migrationSource([`m.addIndex('inventories', ['sku'])`]));
  const edited = problem(
    '20250201000000_add_sku.ts',
    null,
    null,
    esc('was edited after it was applied (checksum differs); restore the applied version, or write a new migration for the change'),
  );
  await assertRefused(db, ['up'], dir, [edited], { journalExists: true });
  await assertRefused(db, ['plan'], dir, [edited], { journalExists: true });

  const status = await runCli(['status', '--json'], cliEnv(db, dir));
  const entries = (JSON.parse(status.stdout) as { migrations: { id: string; status: string; edited: boolean }[] }).migrations;
  assert.deepEqual(entries.map((e) => [e.id, e.status, e.edited]), [
    ['20250201000000_add_sku', 'applied', true],
    ['20250202000000_index_sku', 'pending', false],
  ]);

  // Restoring the applied version is the fix: then the new migration applies.
  await dir.write('20250201000000_add_sku', applied);
  const again = await runCli(['up'], cliEnv(db, dir));
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /Applied: 20250202000000_index_sku \(applied\)/);
});

test('down past an irreversible migration is refused up front and rolls nothing back', async () => {
  const db = await seededDatabase('bad_input_irreversible');
  const dir = await migrationsWith({
    '20250301000000_add_sku.ts': migrationSource([`m.addColumn('inventories', 'sku', 'text')`]),
    '20250302000000_uppercase_status.ts': migrationSource([`m.sql({ up: 'UPDATE inventories SET status = upper(status)', irreversible: true })`]),
    '20250303000000_index_status.ts': migrationSource([`m.addIndex('inventories', ['status'])`]),
  });
  const up = await runCli(['up'], cliEnv(db, dir));
  assert.equal(up.code, 0, up.stdout + up.stderr);

  const irreversible = problem(
    '20250302000000_uppercase_status',
    1,
    'sql UPDATE inventories SET status = upper(status)',
    esc('is irreversible, so down cannot pass this migration; nothing was rolled back; fix: roll back only the migrations applied after it'),
  );
  // Neither the newer, reversible migration nor anything else is rolled back.
  await assertRefused(db, ['down', '--steps', '2'], dir, [irreversible], { journalExists: true });
  await assertRefused(db, ['down', '20250301000000_add_sku'], dir, [irreversible], { journalExists: true });

  // The refusal is about passing it: the migration after it still rolls back.
  const down = await runCli(['down'], cliEnv(db, dir));
  assert.equal(down.code, 0, down.stdout + down.stderr);
  assert.match(down.stdout, /Rolled back: 20250303000000_index_status/);
  await assertRefused(db, ['down'], dir, [irreversible], { journalExists: true });
  const [row] = await query<{ n: string }>(db.url, `SELECT count(*) AS n FROM inventories WHERE status = 'ACTIVE'`);
  assert.equal(Number(row!.n), 300, 'the irreversible change is still in place');
});

test('a later step may use what an earlier step of the same run creates: not refused, and applied', async () => {
  const db = await seededDatabase('bad_input_same_run');
  const first = '20250401000000_warehouses.ts';
  const second = '20250402000000_warehouse_codes.ts';
  const dir = await migrationsWith({
    [first]: migrationSource([
      `m.createTable('warehouses', (t) => t.addColumn('id', 'serial', (c) => c.primaryKey()).addColumn('name', 'text').addColumn('code', 'text'))`,
      `m.addIndex('warehouses', ['name'])`,
      `m.addColumn('inventories', 'warehouse_id', 'integer')`,
      `m.addForeignKey('inventories', 'warehouse_id', 'warehouses')`,
      `m.renameColumn('inventories', 'status', 'state')`,
      `m.addIndex('inventories', ['state', 'warehouse_id'])`,
    ]),
    [second]: migrationSource([`m.addIndex('warehouses', ['code'], { unique: true })`, `m.addColumn('warehouses', 'city', 'text')`, `m.addIndex('warehouses', ['city', 'code'])`]),
  });
  const env = cliEnv(db, dir);

  const plan = await runCli(['plan'], env);
  assert.equal(plan.code, 0, plan.stdout + plan.stderr);
  assert.doesNotMatch(plan.stderr, /error|does not exist/);

  const up = await runCli(['up'], env);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  assert.match(up.stdout, /Applied: 20250401000000_warehouses \(applied\), 20250402000000_warehouse_codes \(applied\)/);

  const indexes = await query<{ name: string; valid: boolean }>(
    db.url,
    `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT i.indisprimary ORDER BY 1`,
  );
  assert.deepEqual(indexes, [
    { name: 'inventories_state_warehouse_id_idx', valid: true },
    { name: 'warehouses_city_code_idx', valid: true },
    { name: 'warehouses_code_idx', valid: true },
    { name: 'warehouses_name_idx', valid: true },
  ]);
  const [fk] = await query<{ validated: boolean }>(db.url, `SELECT convalidated AS validated FROM pg_constraint WHERE conname = 'inventories_warehouse_id_fkey'`);
  assert.deepEqual(fk, { validated: true });
  const journal = await query<{ id: string; status: string }>(db.url, 'SELECT id, status FROM stockrx_migrate.migrations ORDER BY id');
  assert.deepEqual(journal, [
    { id: '20250401000000_warehouses', status: 'applied' },
    { id: '20250402000000_warehouse_codes', status: 'applied' },
  ]);
});
