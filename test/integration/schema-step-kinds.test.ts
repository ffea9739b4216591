// Every schema step kind, through the real CLI on a StockRx-like database:
//   (a) each kind (and variant) is its own migration, applied with a failure injected right after
//       it: `up` exits 1 and the compensation puts the database back exactly (snapshot equal to
//       the one taken before `up`, no journal step records, nothing left in the backup schema);
//   (b) all of them applied together in one migration: every specific catalog/data change is
//       asserted (so the test cannot pass by doing nothing), then `down` exits 0 and the snapshot
//       is again the one from before `up`. The steps are chosen so that they touch different
//       objects and each kind's check holds in the combined result.
// Migration ids increase with every file written; each file is removed once its run is checked.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { runCli, type CliEnv, type CliResult } from '../helpers/cli';
import { createTestDatabase, type TestDatabase, uniqueTaskQueue } from '../helpers/env';
import { createMigrationsDir, migrationSource, type MigrationsDir } from '../helpers/migrations';
import { snapshotDatabase } from '../helpers/snapshot';
import {
  backupLeftovers,
  columnInfo,
  constraintInfo,
  countRows,
  indexInfo,
  INJECTED_FAILURE_STEP,
  INVENTORY_ROWS,
  journalEntry,
  seedStockrxSchema,
  tableExists,
  userRelations,
  withClient,
} from '../helpers/stockrx-schema';

let db: TestDatabase;
let dir: MigrationsDir;
let env: CliEnv;
let sequence = 0;

/** Ids sort in creation order, so every new migration is the newest one. */
function nextId(slug: string): string {
  sequence += 1;
  return `20250201${String(sequence).padStart(6, '0')}_${slug}`;
}

const output = (r: CliResult) => `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

before(async () => {
  db = await createTestDatabase('schema_step_kinds');
  dir = await createMigrationsDir('schema-step-kinds');
  env = { databaseUrl: db.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue('schema-step-kinds') };
  await seedStockrxSchema(db.url);
});

after(async () => {
  await dir.cleanup();
  await db.drop();
});

interface StepKindCase {
  title: string;
  slug: string;
  steps: string[];
  /** Asserts, on the applied database, the change the steps must have made. */
  applied(client: pg.Client): Promise<void>;
}

const CASES: StepKindCase[] = [
  {
    title: 'createTable (serial key, unique, default, foreign key)',
    slug: 'create_table_warehouses',
    steps: [
      `m.createTable('warehouses', (t) => t
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('code', 'varchar(32)', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('capacity', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('category_id', 'integer', (c) => c.references('categories.id').onDelete('set null')))`,
    ],
    async applied(client) {
      assert.equal(await tableExists(client, 'public.warehouses'), true);
      assert.equal(await tableExists(client, 'public.warehouses_id_seq'), true);
      assert.deepEqual(await columnInfo(client, 'warehouses', 'capacity'), { type: 'integer', notNull: true, defaultExpression: '0' });
      assert.equal((await constraintInfo(client, 'warehouses', 'warehouses_code_key'))?.type, 'u');
      const fk = await constraintInfo(client, 'warehouses', 'warehouses_category_id_fkey');
      assert.equal(fk?.definition, 'FOREIGN KEY (category_id) REFERENCES categories(id) ON DELETE SET NULL');
    },
  },
  {
    title: 'dropTable (data, index, serial sequence kept for undo)',
    slug: 'drop_table_inventory_logs',
    steps: [`m.dropTable('inventory_logs')`],
    async applied(client) {
      assert.equal(await tableExists(client, 'public.inventory_logs'), false);
      assert.equal(await tableExists(client, 'public.inventory_logs_id_seq'), false);
      assert.equal(await indexInfo(client, 'inventory_logs_inventory_id_idx'), null);
      assert.equal((await backupLeftovers(db.url)).some((name) => name.endsWith('inventory_logs')), true, 'the dropped table waits in the backup schema');
    },
  },
  {
    title: 'addColumn (nullable)',
    slug: 'add_column_barcode',
    steps: [`m.addColumn('inventories', 'barcode', 'varchar(64)')`],
    async applied(client) {
      assert.deepEqual(await columnInfo(client, 'inventories', 'barcode'), { type: 'character varying(64)', notNull: false, defaultExpression: null });
      assert.equal(await countRows(client, 'inventories WHERE barcode IS NULL'), INVENTORY_ROWS);
    },
  },
  {
    title: 'addColumn NOT NULL DEFAULT',
    slug: 'add_column_reorder_level',
    steps: [`m.addColumn('inventories', 'reorder_level', 'integer', (c) => c.notNull().defaultTo(10))`],
    async applied(client) {
      assert.deepEqual(await columnInfo(client, 'inventories', 'reorder_level'), { type: 'integer', notNull: true, defaultExpression: '10' });
      assert.equal(await countRows(client, 'inventories WHERE reorder_level = 10'), INVENTORY_ROWS);
    },
  },
  {
    title: 'dropColumn of NOT NULL columns (default + CHECK + multi-column and partial indexes; UNIQUE constraint)',
    slug: 'drop_column_status_name',
    steps: [`m.dropColumn('inventories', 'status')`, `m.dropColumn('categories', 'name')`],
    async applied(client) {
      assert.equal(await columnInfo(client, 'inventories', 'status'), null);
      assert.equal(await indexInfo(client, 'inventories_status_created_at_idx'), null);
      assert.equal(await indexInfo(client, 'inventories_active_name_idx'), null, 'its predicate used status');
      assert.equal(await constraintInfo(client, 'inventories', 'inventories_status_check'), null);
      assert.equal(await columnInfo(client, 'categories', 'name'), null);
      assert.equal(await constraintInfo(client, 'categories', 'categories_name_key'), null);
      assert.equal(await indexInfo(client, 'categories_name_key'), null);
      // The NULLs in other columns of the same rows are untouched.
      assert.equal(await countRows(client, 'inventories WHERE description IS NULL'), INVENTORY_ROWS / 3);
      const backups = await backupLeftovers(db.url);
      assert.ok(backups.some((name) => name.endsWith('_inventories')) && backups.some((name) => name.endsWith('_categories')), "the columns' values wait in the backup schema");
    },
  },
  {
    // `active` appears in no index, only as the string 'active' in the predicate of
    // inventories_active_name_idx. That index survives the drop, so the undo must not try to
    // recreate it (it did, and failed: the (a) run of this case caught it).
    title: 'dropColumn of a legacy flag whose name is only a string in another index predicate',
    slug: 'drop_column_active',
    steps: [`m.dropColumn('inventories', 'active')`],
    async applied(client) {
      assert.equal(await columnInfo(client, 'inventories', 'active'), null);
    },
  },
  {
    title: 'dropColumn of nullable columns holding NULLs (default + CHECK + partial and expression indexes; self-referencing foreign key)',
    slug: 'drop_column_price_parent',
    steps: [`m.dropColumn('inventories', 'price')`, `m.dropColumn('categories', 'parent_id')`],
    async applied(client) {
      assert.equal(await columnInfo(client, 'inventories', 'price'), null);
      assert.equal(await indexInfo(client, 'inventories_price_idx'), null);
      assert.equal(await indexInfo(client, 'inventories_stock_value_idx'), null);
      assert.equal(await constraintInfo(client, 'inventories', 'inventories_price_check'), null);
      assert.equal(await columnInfo(client, 'categories', 'parent_id'), null);
      assert.equal(await constraintInfo(client, 'categories', 'categories_parent_id_fkey'), null);
    },
  },
  {
    title: 'renameColumn (of a column under a partial index)',
    slug: 'rename_column_updated_at',
    steps: [`m.renameColumn('inventories', 'updated_at', 'modified_at')`],
    async applied(client) {
      assert.equal(await columnInfo(client, 'inventories', 'updated_at'), null);
      assert.deepEqual(await columnInfo(client, 'inventories', 'modified_at'), { type: 'timestamp with time zone', notNull: false, defaultExpression: null });
      assert.equal(
        (await indexInfo(client, 'inventories_updated_at_idx'))?.definition,
        'CREATE INDEX inventories_updated_at_idx ON public.inventories USING btree (modified_at) WHERE (modified_at IS NOT NULL)',
      );
    },
  },
  {
    title: 'addIndex (CONCURRENTLY by default)',
    slug: 'add_index_name',
    steps: [`m.addIndex('inventories', ['name'])`],
    async applied(client) {
      assert.deepEqual(await indexInfo(client, 'inventories_name_idx'), {
        definition: 'CREATE INDEX inventories_name_idx ON public.inventories USING btree (name)',
        valid: true,
      });
    },
  },
  {
    title: 'addIndex unique + partial where',
    slug: 'add_index_code_unique',
    steps: [`m.addIndex('inventories', ['code'], { name: 'inventories_code_key', unique: true, where: 'code IS NOT NULL' })`],
    async applied(client) {
      assert.deepEqual(await indexInfo(client, 'inventories_code_key'), {
        definition: 'CREATE UNIQUE INDEX inventories_code_key ON public.inventories USING btree (code) WHERE (code IS NOT NULL)',
        valid: true,
      });
    },
  },
  {
    title: 'addIndex concurrently: false',
    slug: 'add_index_category_quantity',
    steps: [`m.addIndex('inventories', ['category_id', 'quantity'], { concurrently: false })`],
    async applied(client) {
      assert.deepEqual(await indexInfo(client, 'inventories_category_id_quantity_idx'), {
        definition: 'CREATE INDEX inventories_category_id_quantity_idx ON public.inventories USING btree (category_id, quantity)',
        valid: true,
      });
    },
  },
  {
    title: 'dropIndex (CONCURRENTLY by default; unique partial index)',
    slug: 'drop_index_sku_key',
    steps: [`m.dropIndex('inventories_sku_key')`],
    async applied(client) {
      assert.equal(await indexInfo(client, 'inventories_sku_key'), null);
    },
  },
  {
    title: 'dropIndex concurrently: false (descending index)',
    slug: 'drop_index_created_at',
    steps: [`m.dropIndex('inventories_created_at_idx', { concurrently: false })`],
    async applied(client) {
      assert.equal(await indexInfo(client, 'inventories_created_at_idx'), null);
    },
  },
  {
    title: 'addForeignKey (NOT VALID, then VALIDATE)',
    slug: 'add_foreign_key_category',
    steps: [`m.addForeignKey('inventories', 'category_id', 'categories', { onDelete: 'set null' })`],
    async applied(client) {
      assert.deepEqual(await constraintInfo(client, 'inventories', 'inventories_category_id_fkey'), {
        type: 'f',
        definition: 'FOREIGN KEY (category_id) REFERENCES categories(id) ON DELETE SET NULL',
        validated: true,
      });
    },
  },
  {
    title: 'sql({ up, down }) (DDL and data in a transaction; CONCURRENTLY outside one)',
    slug: 'sql_up_down',
    steps: [
      `m.sql({ up: 'ALTER TABLE inventories ADD CONSTRAINT inventories_quantity_nonnegative CHECK (quantity >= 0)', down: 'ALTER TABLE inventories DROP CONSTRAINT inventories_quantity_nonnegative' })`,
      `m.sql({ up: 'UPDATE categories SET position = position + 100', down: 'UPDATE categories SET position = position - 100' })`,
      `m.sql({ up: 'CREATE INDEX CONCURRENTLY inventories_lower_name_idx ON inventories (lower(name))', down: 'DROP INDEX CONCURRENTLY IF EXISTS inventories_lower_name_idx', transaction: false })`,
    ],
    async applied(client) {
      assert.equal((await constraintInfo(client, 'inventories', 'inventories_quantity_nonnegative'))?.definition, 'CHECK ((quantity >= 0))');
      assert.equal(await countRows(client, 'categories WHERE position >= 100'), 12);
      assert.equal((await indexInfo(client, 'inventories_lower_name_idx'))?.valid, true);
    },
  },
];

/** The journal after a compensated or rolled-back run: the status, and no pending compensations. */
async function assertJournal(id: string, status: string, errorPattern?: RegExp): Promise<void> {
  const entry = await journalEntry(db.url, id);
  assert.ok(entry, `${id} is in the journal`);
  assert.equal(entry.status, status);
  assert.equal(entry.stepRecords, 0, 'no step records (pending compensations) are left');
  if (errorPattern) assert.match(entry.lastError ?? '', errorPattern);
  assert.deepEqual(await backupLeftovers(db.url), [], 'nothing is left in the backup schema');
}

for (const kind of CASES) {
  test(`(a) ${kind.title}: a failure right after it is compensated exactly`, async () => {
    const beforeUp = await snapshotDatabase(db.url);
    const relationsBefore = await userRelations(db.url);
    const id = nextId(`${kind.slug}_then_fail`);
    await dir.write(id, migrationSource([...kind.steps, INJECTED_FAILURE_STEP]));
    try {
      const up = await runCli(['up'], env);
      assert.equal(up.code, 1, output(up));
      assert.match(up.stderr, /injected/);
      assert.deepEqual(await snapshotDatabase(db.url), beforeUp);
      assert.deepEqual(await userRelations(db.url), relationsBefore);
      // The failing step is the injected one, so every step before it had been applied.
      await assertJournal(id, 'failed', new RegExp(`step ${kind.steps.length + 1} \\(sql DO .*injected`));
    } finally {
      await dir.remove(id);
    }
  });
}

test('(b) every kind applied in one migration: each change is there, then down restores the snapshot', async () => {
  const beforeUp = await snapshotDatabase(db.url);
  const relationsBefore = await userRelations(db.url);
  const id = nextId('every_schema_step_kind');
  await dir.write(id, migrationSource(CASES.flatMap((kind) => kind.steps)));
  try {
    const up = await runCli(['up'], env);
    assert.equal(up.code, 0, output(up));
    assert.equal((await journalEntry(db.url, id))?.status, 'applied');
    await withClient(db.url, async (client) => {
      for (const kind of CASES) {
        await kind.applied(client).catch((error: unknown) => {
          throw new Error(`after up, the change of "${kind.title}" is missing: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        });
      }
    });
    assert.notDeepEqual(await snapshotDatabase(db.url), beforeUp);

    const down = await runCli(['down'], env);
    assert.equal(down.code, 0, output(down));
    assert.deepEqual(await snapshotDatabase(db.url), beforeUp);
    assert.deepEqual(await userRelations(db.url), relationsBefore);
    await assertJournal(id, 'rolled_back');
  } finally {
    await dir.remove(id);
  }
});
