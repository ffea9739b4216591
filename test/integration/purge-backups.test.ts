// `purge-backups`: through the real CLI on a real Postgres. Without --yes it lists an applied
// migration's backup tables and changes nothing; with --yes it drops them, and `down` then refuses
// that migration up front (exit 2, the purge named, nothing rolled back) while migrations without
// backups, and those applied after it, still roll back. Bad IDs and migrations that are not applied
// are refused with exit 2 before anything is dropped.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCli, type CliEnv, type CliResult } from '../helpers/cli';
import { createTestDatabase, type TestDatabase, uniqueTaskQueue } from '../helpers/env';
import { createMigrationsDir, migrationSource, type MigrationsDir } from '../helpers/migrations';
import { dumpJournal, query } from '../helpers/pg-probe';
import { snapshotDatabase } from '../helpers/snapshot';

const BACKFILL = '20250401000000_backfill_prices';
const DROP_NOTE = '20250402000000_drop_note';
const INDEX = '20250403000000_index_status';

let db: TestDatabase;
let dir: MigrationsDir;
let env: CliEnv;

before(async () => {
  db = await createTestDatabase('purge_backups');
  await query(
    db.url,
    `CREATE TABLE inventories (id serial PRIMARY KEY, name text, status text, price numeric, note text);
     INSERT INTO inventories (name, status, price, note) SELECT 'i' || g, CASE WHEN g % 3 = 0 THEN 'discontinued' ELSE 'active' END, g, 'n' || g FROM generate_series(1, 3000) g;`,
  );
  dir = await createMigrationsDir('purge-backups');
  const files: Record<string, string> = {
    [BACKFILL]: migrationSource([`m.updateRecords('inventories', { where: { status: 'active' }, set: { price: m.raw('price * 2') } })`, `m.deleteRecords('inventories', { where: { status: 'discontinued' } })`]),
    [DROP_NOTE]: migrationSource([`m.dropColumn('inventories', 'note')`]),
    [INDEX]: migrationSource([`m.addIndex('inventories', ['status'])`]),
  };
  for (const [id, source] of Object.entries(files)) await writeFile(path.join(dir.dir, `${id}.ts`), source);
  env = { databaseUrl: db.url, migrationsDir: dir.dir, taskQueue: uniqueTaskQueue('purge-backups'), extra: { STOCKRX_METRICS_PORT: '0' } };
  const up = await runCli(['up'], env);
  assert.equal(up.code, 0, up.stdout + up.stderr);
});

after(async () => {
  await dir?.cleanup();
  await db?.drop();
});

const output = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

async function backupTables(): Promise<string[]> {
  const rows = await query<{ name: string }>(db.url, `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'stockrx_migrate_backup' ORDER BY 1`);
  return rows.map((r) => r.name);
}

/** The user's tables, our backups and the journal: what "nothing changed" compares. */
async function state() {
  return { snapshot: await snapshotDatabase(db.url), backups: await backupTables(), journal: await dumpJournal(db.url) };
}

test('without --yes it lists each backup table with its size and changes nothing', async () => {
  const before = await state();
  assert.equal(before.backups.length, 3, `two data steps and a dropped column keep backups: ${before.backups.join(', ')}`);
  const preview = await runCli(['purge-backups', BACKFILL, DROP_NOTE, INDEX], env);
  assert.equal(preview.code, 0, output(preview));
  assert.match(preview.stdout, /nothing dropped/);
  assert.match(preview.stdout, new RegExp(`${BACKFILL}:\\n  step 1 \\(updateRecords inventories set price\\): stockrx_migrate_backup\\.\\S+  \\d+(\\.\\d)? kB\\n  step 2 \\(deleteRecords inventories where [^)]+\\): stockrx_migrate_backup\\.\\S+  \\d`));
  assert.match(preview.stdout, new RegExp(`${INDEX}: keeps no backups`));
  assert.match(preview.stdout, /Run again with --yes to drop 3 tables \([\d.]+ kB\)/);
  const json = await runCli(['purge-backups', DROP_NOTE, '--json'], env);
  assert.equal(json.code, 0, output(json));
  const parsed = JSON.parse(json.stdout) as { dryRun: boolean; migrations: { id: string; tables: { table: string; bytes: number }[] }[] };
  assert.equal(parsed.dryRun, true);
  assert.equal(parsed.migrations[0]!.tables.length, 1);
  assert.ok(parsed.migrations[0]!.tables[0]!.bytes > 0, 'the column backup has a size');
  assert.deepEqual(await state(), before, 'a preview changes nothing');
});

test('an unknown migration, or a journal naming a table outside the backup schema, is refused with exit 2 before anything is dropped', async () => {
  const before = await state();
  const bad = await runCli(['purge-backups', BACKFILL, '20990101000000_nope'], env);
  assert.equal(bad.code, 2, output(bad));
  assert.match(bad.stderr, /20990101000000_nope: was never applied to this database; fix: `stockrx-migrate status` lists/);
  assert.deepEqual(await state(), before, 'the valid ID was not purged either');

  // A journal edited by hand to name a user table as a backup: refused, the table untouched.
  const [record] = await query<{ compensation: unknown }>(db.url, `SELECT compensation FROM stockrx_migrate.steps WHERE migration_id = $1 AND step_index = 0`, [BACKFILL]);
  await query(db.url, `UPDATE stockrx_migrate.steps SET compensation = jsonb_set(compensation, '{action,backup}', '{"schema":"public","name":"inventories"}') WHERE migration_id = $1 AND step_index = 0`, [BACKFILL]);
  try {
    const forged = await runCli(['purge-backups', BACKFILL, '--yes'], env);
    assert.equal(forged.code, 2, output(forged));
    assert.match(forged.stderr, new RegExp(`${BACKFILL}: records a backup table outside stockrx_migrate_backup \\(public\\.inventories\\); nothing was dropped`));
    assert.equal((await query(db.url, `SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = 'inventories'`)).length, 1, 'the user table is still there');
    assert.deepEqual((await state()).backups, before.backups, 'no backup table was dropped either');
  } finally {
    await query(db.url, `UPDATE stockrx_migrate.steps SET compensation = $2 WHERE migration_id = $1 AND step_index = 0`, [BACKFILL, JSON.stringify(record!.compensation)]);
  }
  assert.deepEqual(await state(), before);
});

test('with --yes the backups are dropped, down refuses that migration, and the others still roll back', async () => {
  const purge = await runCli(['purge-backups', DROP_NOTE, '--yes'], env);
  assert.equal(purge.code, 0, output(purge));
  assert.match(purge.stdout, new RegExp(`${DROP_NOTE}: dropped 1 backup table \\([\\d.]+ kB\\); \`down\` now refuses it`));
  assert.equal((await backupTables()).length, 2, 'only the purged migration\'s table is gone');
  const steps = await query<{ kind: string; purged_at: string | null }>(db.url, `SELECT compensation->'action'->>'kind' AS kind, compensation->'action'->>'purgedAt' AS purged_at FROM stockrx_migrate.steps WHERE migration_id = $1`, [DROP_NOTE]);
  assert.equal(steps[0]!.kind, 'irreversible');
  assert.ok(steps[0]!.purged_at, 'the journal says when');

  // Again: nothing left to drop, said so, exit 0.
  const again = await runCli(['purge-backups', DROP_NOTE, '--yes'], env);
  assert.equal(again.code, 0, output(again));
  assert.match(again.stdout, new RegExp(`${DROP_NOTE}: its backups were purged at ${steps[0]!.purged_at!.replace(/[.]/g, '\\.')}; nothing left to drop`));

  // down past it: refused up front, naming the purge; nothing rolled back.
  const before = await state();
  const refused = await runCli(['down', '--steps', '2'], env);
  assert.equal(refused.code, 2, output(refused));
  assert.match(refused.stderr, new RegExp(`${DROP_NOTE}, step 1 \\(dropColumn inventories\\.note\\): is irreversible \\(its backup \\(stockrx_migrate_backup\\.\\S+\\) was purged at ${steps[0]!.purged_at!.replace(/[.]/g, '\\.')}\\), so down cannot pass this migration`));
  assert.deepEqual(await state(), before, 'a refused down changes nothing');

  // The migration after it has no backups and rolls back; the one before keeps its backups.
  const down = await runCli(['down'], env);
  assert.equal(down.code, 0, output(down));
  assert.match(down.stdout, new RegExp(`Rolled back: ${INDEX}`));
  const status = JSON.parse((await runCli(['status', '--json'], env)).stdout) as { migrations: { id: string; status: string }[] };
  assert.deepEqual(status.migrations.map((m) => [m.id, m.status]), [[BACKFILL, 'applied'], [DROP_NOTE, 'applied'], [INDEX, 'rolled_back']]);

  // A rolled-back migration has nothing to purge: refused, exit 2.
  const rolledBack = await runCli(['purge-backups', INDEX, '--yes'], env);
  assert.equal(rolledBack.code, 2, output(rolledBack));
  assert.match(rolledBack.stderr, new RegExp(`${INDEX}: is rolled_back, not applied; only an applied migration's backups can be purged`));
});
