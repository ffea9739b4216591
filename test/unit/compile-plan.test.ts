// The plan compiler is pure: these tests need no database or Temporal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePlan } from '../../src/authoring/compile-plan';
import { defineMigration } from '../../src/authoring/define-migration';
import { type StepBuilder } from '../../src/authoring/step-builder';
import { PlanError } from '../../src/core/plan-error';

const ID = '20250101120000_add_index_to_inventories';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof PlanError) return error.problems.map((p) => `${p.step ? `step ${p.step.number}: ` : ''}${p.message}`);
    throw error;
  }
  assert.fail('expected a PlanError');
}

test('compiles every schema step kind to a plan with SQL and labels', () => {
  const plan = compilePlan(
    ID,
    `${ID}.ts`,
    defineMigration({
      description: 'all kinds',
      steps: (m) => [
        m.createTable('warehouses', (t) => t.addColumn('id', 'serial', (c) => c.primaryKey()).addColumn('name', 'text', (c) => c.notNull())),
        m.addColumn('inventories', 'warehouse_id', 'integer'),
        m.addForeignKey('inventories', 'warehouse_id', 'warehouses'),
        m.addIndex('inventories', ['status', 'created_at']),
        m.renameColumn('inventories', 'status', 'state'),
        m.dropColumn('inventories', 'legacy'),
        m.dropIndex('old_idx'),
        m.dropTable('archive.old_things'),
        m.sql({ up: 'UPDATE x SET y = 1', down: 'UPDATE x SET y = 0' }),
      ],
    }),
  );
  assert.deepEqual(plan.steps.map((s) => s.kind), ['createTable', 'addColumn', 'addForeignKey', 'addIndex', 'renameColumn', 'dropColumn', 'dropIndex', 'dropTable', 'sql']);
  assert.deepEqual(plan.steps.map((s) => s.index), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const create = plan.steps[0]!;
  assert.ok(create.kind === 'createTable');
  assert.equal(create.sql, 'create table "public"."warehouses" ("id" serial primary key, "name" text not null)');
  assert.deepEqual(create.columns, ['id', 'name']);
  const fk = plan.steps[2]!;
  assert.ok(fk.kind === 'addForeignKey');
  assert.equal(fk.name, 'inventories_warehouse_id_fkey');
  assert.equal(fk.refColumn, 'id');
  const index = plan.steps[3]!;
  assert.ok(index.kind === 'addIndex');
  assert.equal(index.name, 'inventories_status_created_at_idx');
  assert.equal(index.concurrently, true, 'indexes are built CONCURRENTLY by default');
  const drop = plan.steps[7]!;
  assert.ok(drop.kind === 'dropTable');
  assert.deepEqual(drop.table, { schema: 'archive', name: 'old_things' });
  assert.equal(plan.irreversible, false);
  assert.match(plan.checksum, /^[0-9a-f]{64}$/);
});

test('the checksum changes with a step and not with formatting', () => {
  const make = (column: string) => defineMigration({ steps: (m) => [m.addIndex('inventories', [column])] });
  const a = compilePlan(ID, `${ID}.ts`, make('name'));
  const b = compilePlan(ID, `${ID}.ts`, make('name'));
  const c = compilePlan(ID, `${ID}.ts`, make('status'));
  assert.equal(a.checksum, b.checksum);
  assert.notEqual(a.checksum, c.checksum);
});

test('an sql step needs a down unless declared irreversible', () => {
  const problems = problemsOf(() => compilePlan(ID, `${ID}.ts`, defineMigration({ steps: (m) => [m.sql({ up: 'SELECT 1' })] })));
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^step 1: .*needs a `down`.*irreversible: true/);
  const plan = compilePlan(ID, `${ID}.ts`, defineMigration({ steps: (m) => [m.sql({ up: 'SELECT 1', irreversible: true })] }));
  assert.equal(plan.irreversible, true);
});

test('identifiers that are not plain names are refused with the step number', () => {
  const problems = problemsOf(() =>
    compilePlan(
      ID,
      `${ID}.ts`,
      defineMigration({
        steps: (m) => [
          m.addIndex('inventories', ['name']),
          m.addColumn('inventories; drop table x', 'a', 'text'),
          m.renameColumn('inventories', 'name', 'full name'),
          m.addIndex('inventories', ['x'.repeat(70)]),
        ],
      }),
    ),
  );
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems[0]!, /^step 2: "inventories; drop table x" is not a plain name/);
  assert.match(problems[1]!, /^step 3: "full name" is not a plain name/);
  assert.match(problems[2]!, /^step 4: .*longer than 63 characters/);
});

test('file-level problems: bad id, empty steps, steps() throwing, unknown check handler', () => {
  assert.match(problemsOf(() => compilePlan('add_index', 'add_index.ts', defineMigration({ steps: (m) => [m.dropIndex('x')] })))[0]!, /<UTC timestamp>_<snake_name>/);
  assert.match(problemsOf(() => compilePlan(ID, `${ID}.ts`, defineMigration({ steps: () => [] })))[0]!, /non-empty array/);
  assert.match(problemsOf(() => compilePlan(ID, `${ID}.ts`, defineMigration({ steps: () => { throw new Error('boom'); } })))[0]!, /steps\(\) threw: boom/);
  assert.match(
    problemsOf(() => compilePlan(ID, `${ID}.ts`, defineMigration({ steps: (m) => [m.dropIndex('x')], validate: (v) => [v.check('missing')] })))[0]!,
    /no function `missing` in the migration's `handlers`/,
  );
  assert.match(problemsOf(() => compilePlan(ID, `${ID}.ts`, defineMigration({ steps: () => [{ kind: 'nope' } as never] })))[0]!, /^step 1: not a step/);
});

test('validations compile with their parameters', () => {
  const plan = compilePlan(
    ID,
    `${ID}.ts`,
    defineMigration({
      steps: (m) => [m.addIndex('inventories', ['name'])],
      validate: (v) => [v.foreignKeyExists('inventories', 'categories'), v.indexExists('inventories', ['name']), v.noRows('inventories', 'price < $1', [0]), v.check('ok')],
      handlers: { ok: () => true },
    }),
  );
  assert.deepEqual(plan.validations.map((v) => v.kind), ['foreignKeyExists', 'indexExists', 'noRows', 'check']);
  const noRows = plan.validations[2]!;
  assert.ok(noRows.kind === 'noRows');
  assert.deepEqual(noRows.parameters, [0]);
});

test('loadControl: every controller setting is accepted; invalid settings are file-level plan problems', () => {
  const steps = (m: StepBuilder) => [m.updateRecords('inventories', { where: { status: 'active' }, set: { price: 0 } })];
  // Keys beyond the seed's ten (target batch time, database load, canary, critical levels) type-check and compile.
  const loadControl = {
    initialBatchSize: 500, minBatchSize: 100, maxBatchSize: 2000, sleepMs: 50, maxSleepMs: 5000,
    targetBatchMs: 300, latencyBudget: 2, canaryWindow: 10, activeBackendsThreshold: 8, activeBackendsCritical: 30,
    lockWaitersThreshold: 1, lockWaitersCritical: 4, replicaLagThresholdMs: 2000, replicaLagCriticalMs: 20_000, memoryCritical: 90,
  };
  const plan = compilePlan(ID, `${ID}.ts`, defineMigration({ loadControl, steps }));
  assert.deepEqual(plan.loadControl, loadControl);

  const invalid = (lc: Record<string, number>): PlanError => {
    try {
      compilePlan(ID, `${ID}.ts`, defineMigration({ loadControl: lc, steps }));
    } catch (error) {
      if (error instanceof PlanError) return error;
      throw error;
    }
    assert.fail(`expected a PlanError for ${JSON.stringify(lc)}`);
  };
  const error = invalid({ minBatchSize: 5000, maxBatchSize: 1000, cpuThreshold: 0, lockWaitersCritical: 2, maxBatchSzie: 10 });
  // The file, no step: each problem names the setting (the CLI prints them all and exits 2).
  assert.ok(error.problems.every((p) => p.file === `${ID}.ts` && p.step === undefined), JSON.stringify(error.problems));
  const messages = error.problems.map((p) => p.message);
  assert.ok(messages.some((m) => /^loadControl: unknown load-control setting "maxBatchSzie": did you mean maxBatchSize\?/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^loadControl: minBatchSize \(5000\) is above maxBatchSize \(1000\)/.test(m)), messages.join('\n'));
  // initialBatchSize defaults to 1000, which the new minimum no longer allows.
  assert.ok(messages.some((m) => /^loadControl: initialBatchSize \(1000\) is below minBatchSize \(5000\)/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^loadControl: cpuThreshold is a percentage/.test(m)), messages.join('\n'));
  // Checked against the defaults too: lockWaitersCritical 2 is not above the default threshold 2.
  assert.ok(messages.some((m) => /^loadControl: lockWaitersCritical \(2\) must be above lockWaitersThreshold \(2\)/.test(m)), messages.join('\n'));
  assert.equal(messages.length, 5, messages.join('\n'));

  // A non-number is reported once, as before, not again by the relational checks.
  assert.deepEqual(
    invalid({ maxBatchSize: 'big' as unknown as number }).problems.map((p) => p.message),
    ['loadControl.maxBatchSize must be a number'],
  );
  assert.match(invalid({ targetBatchMs: 9000 }).message, /loadControl: targetBatchMs \(9000\) is above queryTimeThresholdMs \(5000\)/);
});
