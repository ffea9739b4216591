// Plan checks simulate each step on a copy of the catalog: pure, so tested with hand-made catalogs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePlan } from '../../src/authoring/compile-plan';
import { defineMigration, type MigrationDefinition } from '../../src/authoring/define-migration';
import { checkPlans } from '../../src/core/plan-checks';
import { type Catalog } from '../../src/db/catalog';

const catalog: Catalog = {
  tables: [
    {
      schema: 'public',
      name: 'inventories',
      columns: ['id', 'name', 'status', 'price', 'category_id'].map((name) => ({ name, type: 'text', notNull: false, defaultExpression: null })),
      constraints: [{ name: 'inventories_pkey', type: 'p', definition: 'PRIMARY KEY (id)', validated: true }],
      primaryKey: ['id'],
      estimatedRows: 500_000,
    },
    {
      schema: 'public',
      name: 'categories',
      columns: ['id', 'name'].map((name) => ({ name, type: 'text', notNull: false, defaultExpression: null })),
      constraints: [],
      primaryKey: ['id'],
      estimatedRows: 10,
    },
    { schema: 'public', name: 'events', columns: [{ name: 'payload', type: 'jsonb', notNull: false, defaultExpression: null }], constraints: [], primaryKey: [], estimatedRows: 0 },
  ],
  indexes: [{ schema: 'public', name: 'inventories_pkey', table: 'inventories', definition: '', valid: true, constraintBacked: true }],
};

let seq = 0;
const plan = (steps: MigrationDefinition['steps'], validate?: MigrationDefinition['validate']) => {
  seq += 1;
  const id = `2025010112${String(seq).padStart(4, '0')}_m${seq}`;
  return compilePlan(id, `${id}.ts`, defineMigration({ steps, ...(validate ? { validate } : {}) }));
};
const messages = (result: ReturnType<typeof checkPlans>) => result.problems.map((p) => `${p.step ? `${p.step.number}: ` : ''}${p.message}`);

test('unknown tables and columns are problems, with the step number', () => {
  const result = checkPlans(
    [plan((m) => [m.addIndex('inventory', ['name']), m.addIndex('inventories', ['nme']), m.renameColumn('inventories', 'sttus', 'state'), m.addForeignKey('inventories', 'category_id', 'categories', { column: 'uid' })])],
    catalog,
  );
  assert.deepEqual(messages(result), [
    '1: table inventory does not exist',
    '2: column inventories.nme does not exist',
    '3: column inventories.sttus does not exist',
    '4: column categories.uid does not exist',
  ]);
});

test('later steps and later migrations see what earlier ones create, rename and drop', () => {
  const result = checkPlans(
    [
      plan((m) => [
        m.createTable('warehouses', (t) => t.addColumn('id', 'serial', (c) => c.primaryKey()).addColumn('name', 'text')),
        m.addIndex('warehouses', ['name']),
        m.addColumn('inventories', 'warehouse_id', 'integer'),
        m.addForeignKey('inventories', 'warehouse_id', 'warehouses'),
        m.renameColumn('inventories', 'status', 'state'),
      ]),
      plan((m) => [m.addIndex('inventories', ['state']), m.dropIndex('warehouses_name_idx'), m.dropColumn('inventories', 'warehouse_id')], (v) => [v.noRows('warehouses', 'name IS NULL')]),
    ],
    catalog,
  );
  assert.deepEqual(messages(result), []);
  const stale = checkPlans([plan((m) => [m.renameColumn('inventories', 'status', 'state'), m.addIndex('inventories', ['status'])])], catalog);
  assert.deepEqual(messages(stale), ['2: column inventories.status does not exist']);
});

test('duplicates: existing table, column, index name', () => {
  const result = checkPlans(
    [plan((m) => [m.createTable('categories', (t) => t.addColumn('id', 'integer')), m.addColumn('inventories', 'name', 'text'), m.addIndex('inventories', ['id'], { name: 'inventories_pkey' })])],
    catalog,
  );
  assert.equal(result.problems.length, 3);
  assert.match(messages(result)[2]!, /^3: a relation named inventories_pkey already exists/);
});

test('dropColumn needs a primary key to keep the values for down', () => {
  assert.match(messages(checkPlans([plan((m) => [m.dropColumn('events', 'payload')])], catalog))[0]!, /no primary key/);
  assert.match(messages(checkPlans([plan((m) => [m.dropColumn('inventories', 'id')])], catalog))[0]!, /part of the primary key/);
});

test('after an sql step, missing objects are warnings: the statement may have created them', () => {
  const result = checkPlans([plan((m) => [m.sql({ up: 'CREATE TABLE t (id int)', down: 'DROP TABLE t' }), m.addIndex('t', ['id'])])], catalog);
  assert.deepEqual(result.problems, []);
  assert.ok(result.warnings.some((w) => /table t does not exist/.test(w.message)));
});

test('a blocking index build on a large table is a lint warning', () => {
  const result = checkPlans([plan((m) => [m.addIndex('inventories', ['name'], { concurrently: false })])], catalog);
  assert.deepEqual(result.problems, []);
  assert.match(result.warnings[0]!.message, /without CONCURRENTLY.*writes are blocked/);
});

test('data steps: unknown set/where/row columns and a missing primary key are problems', () => {
  const result = checkPlans(
    [
      plan((m) => [
        m.updateRecords('inventories', { where: { prise: null }, set: { price: 0, sttatus: 'x' } }),
        m.createRecords('categories', [{ name: 'a', colour: 'red' }]),
        m.deleteRecords('events', { where: "payload->>'k' = $1", params: ['v'] }),
        m.updateRecords('inventories', { where: 'price IS NULL', set: { price: 0 } }),
      ]),
    ],
    catalog,
  );
  assert.deepEqual(
    result.problems.map((p) => `${p.step?.number}: ${p.message}`),
    ['1: where column prise does not exist', '1: set column sttatus does not exist', '2: row column colour does not exist', '3: the table has no primary key'],
  );
});

test('data steps with backup: false are flagged as irreversible', () => {
  const result = checkPlans([plan((m) => [m.updateRecords('inventories', { set: { price: 0 }, backup: false })])], catalog);
  assert.deepEqual(result.problems, []);
  assert.match(result.warnings[0]!.message, /backup: false.*cannot be undone/);
});
