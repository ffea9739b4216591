// Which compensations keep backup tables, what a purged step's compensation says, and which
// migration states a purge refuses (pure; the CLI's purge is tested in
// test/integration/purge-backups.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes } from '../../src/cli/commands/purge-backups';
import { backupTablesOf, purgedCompensation } from '../../src/core/backup-tables';
import { type CompensationAction } from '../../src/core/compensation';
import { purgeProblem } from '../../src/db/purge-backups';

const table = { schema: 'public', name: 'inventories' };
const backup = { schema: 'stockrx_migrate_backup', name: 'b_1' };

test('every compensation that reads a backup table names it; DDL-only ones name none', () => {
  const withBackup: CompensationAction[] = [
    { kind: 'restoreTable', table, archived: backup },
    { kind: 'restoreColumn', table, column: 'note', definition: { type: 'text', notNull: false, defaultExpression: null }, key: ['id'], backup, indexes: [], constraints: [] },
    { kind: 'restoreUpdatedRows', table, backup, key: ['id'], columns: ['price'], stepIndex: 0 },
    { kind: 'restoreDeletedRows', table, backup, key: ['id'], columns: ['id', 'price'], stepIndex: 0 },
    { kind: 'deleteCreatedRows', table, backup, key: ['id'], stepIndex: 0 },
  ];
  for (const action of withBackup) assert.deepEqual(backupTablesOf(action), [backup], action.kind);
  const without: CompensationAction[] = [
    { kind: 'dropTable', table },
    { kind: 'dropColumn', table, column: 'sku' },
    { kind: 'renameColumn', table, from: 'a', to: 'b' },
    { kind: 'dropIndex', index: table, concurrently: true },
    { kind: 'createIndex', index: table, definition: 'CREATE INDEX …', concurrently: false },
    { kind: 'dropConstraint', table, name: 'c' },
    { kind: 'sql', sql: 'SELECT 1', transaction: true },
    { kind: 'irreversible', reason: 'declared' },
  ];
  for (const action of without) assert.deepEqual(backupTablesOf(action), [], action.kind);
});

test('a purged step becomes irreversible, saying which table went and when', () => {
  const purged = purgedCompensation({ stepIndex: 2, label: 'updateRecords inventories', action: { kind: 'restoreUpdatedRows', table, backup, key: ['id'], columns: ['price'], stepIndex: 2 } }, '2026-11-29T21:00:00.000Z');
  assert.deepEqual(purged, {
    stepIndex: 2,
    label: 'updateRecords inventories',
    action: { kind: 'irreversible', reason: 'its backup (stockrx_migrate_backup.b_1) was purged at 2026-11-29T21:00:00.000Z', purgedAt: '2026-11-29T21:00:00.000Z' },
  });
  assert.deepEqual(backupTablesOf(purged.action), [], 'nothing left to drop a second time');
});

test('only an applied migration can be purged; each refusal says what to do', () => {
  assert.equal(purgeProblem('m1', 'applied'), null);
  assert.match(purgeProblem('m1', null)!.message, /was never applied/);
  assert.match(purgeProblem('m1', 'running')!.fix!, /wait until its run ends \(`stockrx-migrate watch m1`\)/);
  assert.match(purgeProblem('m1', 'compensation_failed')!.fix!, /resolve m1 --retry/);
  for (const status of ['pending', 'failed', 'rolled_back'] as const) {
    const problem = purgeProblem('m1', status)!;
    assert.match(problem.message, new RegExp(`is ${status}, not applied`));
    assert.match(problem.fix!, /nothing to purge/);
  }
});

test('sizes read the way df does', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(8192), '8.0 kB');
  assert.equal(formatBytes(5.5 * 1024 * 1024), '5.5 MB');
  assert.equal(formatBytes(3 * 1024 ** 4), '3.0 TB');
});
