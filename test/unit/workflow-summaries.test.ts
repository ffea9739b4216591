// The Web UI's static summaries and details: one line, bounded, distinct from the current details'
// heading, and saying what each workflow is without its payload.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type MigrationPlan } from '../../src/core/plan';
import { migrationMetadata, migrationSummary, rollbackMetadata, runnerMetadata } from '../../src/core/workflow-summaries';

const plan = (steps: number, overrides: Partial<MigrationPlan> = {}): MigrationPlan =>
  ({
    id: '20250101000000_add_index',
    description: 'Add indexes to inventories',
    file: '20250101000000_add_index.ts',
    steps: Array.from({ length: steps }, (_, index) => ({ index, label: `addIndex inventories(col${index})` })),
    validations: [],
    checksum: 'abcdef0123456789abcdef',
    irreversible: false,
    ...overrides,
  }) as unknown as MigrationPlan;

test('a migration: "<id>: <description>", steps listed in the details', () => {
  const meta = migrationMetadata(plan(2), 'db:5432/app');
  assert.equal(meta.staticSummary, '20250101000000_add_index: Add indexes to inventories');
  assert.match(meta.staticDetails, /\*\*migrate up\*\* `20250101000000_add_index` on `db:5432\/app`/);
  assert.match(meta.staticDetails, /2 steps · 0 validations/);
  assert.match(meta.staticDetails, /^1\. addIndex inventories\(col0\)\n2\. addIndex inventories\(col1\)$/m);
  // The current details start with "**<id>** — <description>": the summary must not read the same.
  assert.doesNotMatch(meta.staticSummary, / — /);
});

test('no description: the id alone; long or multi-line descriptions become one bounded line', () => {
  assert.equal(migrationSummary({ id: 'm1', description: 'm1' }), 'm1');
  assert.equal(migrationSummary({ id: 'm1', description: '' }), 'm1');
  const long = migrationSummary({ id: 'm1', description: `first line\n\n${'x'.repeat(500)}` });
  assert.ok(long.length <= 200 && long.endsWith('…') && !long.includes('\n'), long);
});

test('many steps: the details list the first 20 and count the rest', () => {
  const details = migrationMetadata(plan(25, { irreversible: true }), 'db:5432/app').staticDetails;
  assert.match(details, /^20\. /m);
  assert.doesNotMatch(details, /^21\. /m);
  assert.match(details, /… and 5 more/);
  assert.match(details, /irreversible/);
});

test('a rollback and the runner', () => {
  assert.equal(rollbackMetadata('m1', 'db:5432/app').staticSummary, 'rollback of m1');
  const up = runnerMetadata({ dbKey: 'db:5432/app', mode: 'up', plans: [plan(1), { id: 'm2', description: 'm2' }], migrationIds: [] });
  assert.equal(up.staticSummary, 'db:5432/app: migrate up 2 migrations (20250101000000_add_index, m2)');
  assert.match(up.staticDetails, /^1\. 20250101000000_add_index: Add indexes to inventories\n2\. m2$/m);
  const down = runnerMetadata({ dbKey: 'db:5432/app', mode: 'down', plans: [], migrationIds: ['m2', 'm1'] });
  assert.equal(down.staticSummary, 'db:5432/app: roll back 2 migrations (m2, m1)');
  assert.match(down.staticDetails, /^1\. rollback of m2\n2\. rollback of m1$/m);
});
