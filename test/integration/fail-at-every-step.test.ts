// A migration of eight steps of different kinds, made to fail at step k for every k (the step is
// replaced by one that raises), plus two steps that fail for real (a unique index build that finds
// duplicates and leaves an INVALID index behind; a foreign key whose VALIDATE finds orphan rows).
// Each time: `up` exits 1, the database equals its pre-`up` snapshot, the journal says `failed`
// with the error, and no step records are left for the migration.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runCli, type CliEnv, type CliResult } from '../helpers/cli';
import { createTestDatabase, type TestDatabase, uniqueTaskQueue } from '../helpers/env';
import { createMigrationsDir, migrationSource, type MigrationsDir } from '../helpers/migrations';
import { type DatabaseSnapshot, snapshotDatabase } from '../helpers/snapshot';
import { backupLeftovers, INJECTED_FAILURE_STEP, journalEntry, seedStockrxSchema, userRelations } from '../helpers/stockrx-schema';

let db: TestDatabase;
let dir: MigrationsDir;
let env: CliEnv;
let seeded: DatabaseSnapshot;
let sequence = 0;
/** Every migration this file ran, with what its journal entry must say. */
const failedRuns: { id: string; error: RegExp }[] = [];

const STEPS = [
  `m.addColumn('inventories', 'reorder_level', 'integer', (c) => c.notNull().defaultTo(10))`,
  `m.createTable('warehouses', (t) => t.addColumn('id', 'serial', (c) => c.primaryKey()).addColumn('code', 'varchar(32)', (c) => c.notNull().unique()).addColumn('name', 'text'))`,
  `m.addIndex('inventories', ['category_id', 'price'])`,
  `m.renameColumn('inventories', 'description', 'notes')`,
  `m.dropColumn('inventories', 'supplier_code')`,
  `m.dropIndex('inventories_created_at_idx')`,
  `m.addForeignKey('inventories', 'category_id', 'categories')`,
  `m.sql({ up: 'UPDATE inventories SET quantity = quantity + 1', down: 'UPDATE inventories SET quantity = quantity - 1' })`,
];

const output = (r: CliResult) => `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

before(async () => {
  db = await createTestDatabase('fail_at_every_step');
  dir = await createMigrationsDir('fail-at-every-step');
  env = { databaseUrl: db.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue('fail-at-every-step') };
  await seedStockrxSchema(db.url);
  seeded = await snapshotDatabase(db.url);
});

after(async () => {
  await dir.cleanup();
  await db.drop();
});

/** STEPS with step k (1-based) replaced by `failing`. */
function failingAt(k: number, failing: string): string[] {
  return STEPS.map((step, i) => (i === k - 1 ? failing : step));
}

async function expectCompensatedFailure(slug: string, steps: string[], error: RegExp): Promise<void> {
  sequence += 1;
  const id = `20250301${String(sequence).padStart(6, '0')}_${slug}`;
  const beforeUp = await snapshotDatabase(db.url);
  assert.deepEqual(beforeUp, seeded, 'an earlier run left the database changed');
  const relationsBefore = await userRelations(db.url);
  await dir.write(id, migrationSource(steps));
  try {
    const up = await runCli(['up'], env);
    assert.equal(up.code, 1, output(up));
    assert.match(up.stderr, error);
    assert.deepEqual(await snapshotDatabase(db.url), beforeUp);
    assert.deepEqual(await userRelations(db.url), relationsBefore);
    assert.deepEqual(await backupLeftovers(db.url), [], 'nothing is left in the backup schema');
    const entry = await journalEntry(db.url, id);
    assert.ok(entry, `${id} is in the journal`);
    assert.equal(entry.status, 'failed');
    assert.match(entry.lastError ?? '', error);
    assert.equal(entry.stepRecords, 0, 'no step records are left for the migration');
    failedRuns.push({ id, error });
  } finally {
    await dir.remove(id);
  }
}

for (let k = 1; k <= STEPS.length; k++) {
  test(`failing at step ${k} of ${STEPS.length}: the ${k - 1} applied step(s) are undone`, async () => {
    // The journal names the failing step, so steps 1..k-1 had run before it.
    await expectCompensatedFailure(`fails_at_step_${k}`, failingAt(k, INJECTED_FAILURE_STEP), new RegExp(`step ${k} \\(sql DO .*\\) failed: injected`));
  });
}

test('a unique index build that finds duplicates (step 3) leaves no INVALID index behind', async () => {
  await expectCompensatedFailure(
    'unique_index_on_duplicates',
    failingAt(3, `m.addIndex('inventories', ['category_id'], { name: 'inventories_category_id_key', unique: true })`),
    /step 3 \(addIndex inventories\(category_id\)\) failed: .*could not create unique index "inventories_category_id_key"/,
  );
});

test('a foreign key whose VALIDATE finds orphan rows (step 7) is dropped with everything before it', async () => {
  await expectCompensatedFailure(
    'foreign_key_on_orphans',
    failingAt(7, `m.addForeignKey('inventory_logs', 'inventory_id', 'inventories')`),
    /step 7 \(addForeignKey inventory_logs\.inventory_id → inventories\.id\) failed: .*violates foreign key constraint "inventory_logs_inventory_id_fkey"/,
  );
});

test('status --json reports every run as failed with its error', async () => {
  assert.equal(failedRuns.length, STEPS.length + 2, 'every earlier test recorded its run');
  const status = await runCli(['status', '--json'], env);
  assert.equal(status.code, 0, output(status));
  const parsed = JSON.parse(status.stdout) as { migrations: { id: string; status: string; lastError: string | null }[] };
  assert.deepEqual(
    parsed.migrations.map((m) => m.id),
    failedRuns.map((r) => r.id),
  );
  for (const run of failedRuns) {
    const row = parsed.migrations.find((m) => m.id === run.id);
    assert.ok(row, run.id);
    assert.equal(row.status, 'failed', run.id);
    assert.match(row.lastError ?? '', run.error);
  }
  assert.deepEqual(await snapshotDatabase(db.url), seeded);
});
