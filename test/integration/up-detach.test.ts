// `up --detach`: the CLI starts the run (taking the database's lock) and returns at once, saying
// so when no worker is polling yet; a worker started later applies the run, and `watch` follows it
// to the end. Without --detach, `up` prints the data step's bar as it goes (plain lines in a log).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli, spawnCli } from '../helpers/cli';
import {
  createDataFixture,
  createItemsTable,
  expectedMatching,
  journalStatus,
  loadControlSource,
  pinnedLoadControl,
  readCheckpointRow,
  startWorkerProcess,
  stopProcess,
  updateItemsStep,
  withTimeout,
  trackResources,
} from '../helpers/data-steps';
import { migrationSource } from '../helpers/migrations';

const { children, cleanups } = trackResources();

test('up --detach returns at once, warns that no worker polls, and a worker started later applies the run', async () => {
  const f = await createDataFixture('up_detach');
  cleanups.push(() => f.cleanup());
  const ROWS = 40_000;
  await createItemsTable(f.db.url, ROWS);
  const id = '20250501000000_reprice_items';
  await f.dir.write(id, migrationSource([updateItemsStep()], loadControlSource(pinnedLoadControl(2000, 50))));

  const detached = await runCli(['up', '--detach'], f.env, 60_000);
  assert.equal(detached.code, 0, detached.stdout + detached.stderr);
  assert.match(detached.stdout, /Started runner stockrx-migrate\/.*\/runner; not waiting \(--detach\)/);
  assert.match(detached.stdout, new RegExp(`stockrx-migrate watch ${id}`));
  assert.match(detached.stderr, /no worker polls task queue .* yet: the run waits/);
  // Nothing ran: no worker, and the CLI did not run one in-process.
  assert.equal(await readCheckpointRow(f.db.url, id), undefined);

  // The run holds the lock meanwhile: a second `up` is refused (exit 3).
  const second = await runCli(['up', '--no-worker'], f.env, 60_000);
  assert.equal(second.code, 3, second.stdout + second.stderr);

  const worker = await startWorkerProcess(f.env, children);
  try {
    const watch = spawnCli(['watch', id], f.env);
    children.add(watch.child);
    const watched = await withTimeout(watch.result, 180_000, '`watch` to follow the run to its end');
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    assert.match(watched.stdout, /workflow completed/);
    assert.deepEqual(await journalStatus(f.db.url, id), { status: 'applied', steps: ['done'] });
    assert.equal((await readCheckpointRow(f.db.url, id))?.rowsDone, expectedMatching(ROWS));

    // Attached `up` (the default) shows the step and, in a log, the data step's bar lines.
    await f.dir.write('20250502000000_reprice_again', migrationSource([updateItemsStep()], loadControlSource(pinnedLoadControl(500, 100))));
    const attached = await runCli(['up', '--no-worker'], f.env, 180_000);
    assert.equal(attached.code, 0, attached.stdout + attached.stderr);
    assert.match(attached.stdout, /20250502000000_reprice_again: step 1\/1: updateRecords items/);
    assert.match(attached.stdout, /20250502000000_reprice_again running .*\[[#.]+\] .*\d+\/\d+/, 'a plain progress bar line');
    assert.ok(!attached.stdout.includes('\u001b['), 'no terminal control codes in a log');
  } finally {
    await stopProcess(worker.child, worker.result);
  }
});
