// The canary baseline re-measured from quiet lookups, in a real data slice against a real Postgres:
// load the migration does not cause (here a session that takes a short table lock every few
// milliseconds, so every lookup, batch or not, waits on it) raises the baseline once a window of
// lookups taken seconds after a batch has read it, and when that load is gone the baseline comes
// back down — never below the one measured before the step. The activities run in-process (as the
// B2 benchmark drives them): this is about the slice, the sampler and the controller, not Temporal.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createActivities } from '../../src/activities/create-activities';
import { createMigrationRegistry } from '../../src/activities/migration-registry';
import { CANARY_QUIET_AFTER_MS } from '../../src/activities/data/run-data-slice';
import { loadMigrations } from '../../src/client/load-migrations';
import { type DataStep, isDataStep } from '../../src/core/data-plan';
import { resolveLoadControl } from '../../src/core/load-control-config';
import { type ControllerState, initialControllerState } from '../../src/core/load-controller';
import { DEFAULT_RUN_OPTIONS } from '../../src/core/run-options';
import { openTargetDatabase, type TargetDatabase } from '../../src/db/connect';
import { createLogger } from '../../src/logging/logger';
import { createItemsTable, loadControlSource, pinnedLoadControl, sleep, updateItemsStep } from '../helpers/data-steps';
import { createTestDatabase, type TestDatabase } from '../helpers/env';
import { createMigrationsDir, type MigrationsDir, migrationSource } from '../helpers/migrations';

const ID = '20250601000000_quiet_canary';
// A pause long enough to hold quiet lookups: they begin CANARY_QUIET_AFTER_MS after a batch.
const PAUSE_MS = CANARY_QUIET_AFTER_MS + 1000;
// A small window so one pause fills it (and the pre-step baseline is 3 × 20 lookups).
const WINDOW = 20;

let database: TestDatabase;
let target: TargetDatabase;
let migrations: MigrationsDir;

before(async () => {
  database = await createTestDatabase('canary_quiet');
  await createItemsTable(database.url, 20_000);
  target = openTargetDatabase(database.url, { max: 4 });
  migrations = await createMigrationsDir('canary-quiet');
  // Batch and pause pinned, every threshold out of reach: the canary runs (and its baseline is
  // re-measured) but nothing it reads changes the pace, so the test controls when batches run.
  await migrations.write(ID, migrationSource([updateItemsStep()], loadControlSource(pinnedLoadControl(50, PAUSE_MS, { canaryWindow: WINDOW }))));
});

after(async () => {
  await target?.close();
  await migrations?.cleanup();
  await database?.drop();
});

/** Takes an ACCESS EXCLUSIVE lock on items for `holdMs`, every `everyMs`, until stopped. */
function startLocker(url: string, holdMs: number, everyMs: number): { stop(): Promise<void> } {
  const client = new pg.Client({ connectionString: url, application_name: 'stockrx-test locker' });
  let stopped = false;
  const loop = (async () => {
    await client.connect();
    while (!stopped) {
      await client.query(`BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(${holdMs / 1000}); COMMIT`);
      await sleep(everyMs);
    }
    await client.end();
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

test('load the step does not cause raises the canary baseline through quiet lookups, and its end lowers it to the pre-step floor', { timeout: 120_000 }, async () => {
  const activities = createActivities({ db: target.db, logger: createLogger({ level: 'error' }), registry: createMigrationRegistry(migrations.dir) });
  const [plan] = await loadMigrations(migrations.dir);
  const step = plan!.steps.find(isDataStep) as DataStep;
  const input = { migrationId: ID, runToken: `test-${ID}`, step, options: DEFAULT_RUN_OPTIONS };
  await activities.journalStart({ plan: plan!, run: { runToken: input.runToken, workflowId: 'canary-quiet', runId: 'canary-quiet' } });
  await activities.prepareDataStep(input);
  const loadControl = resolveLoadControl(plan!.loadControl);
  const slice = (controller: ControllerState, sliceMs: number) => activities.runDataSlice({ ...input, file: plan!.file, loadControl, controller, sliceMs });

  // The pre-step baseline, on a quiet database: one batch, then its pause. That pause's quiet
  // lookups may already re-measure the baseline (a CI run read 0.63 ms before the step and 1.10
  // after): it may move, but never below the pre-step one.
  const first = await slice(initialControllerState(loadControl), 1);
  const preStep = first.controller.canaryStepBaselineMs!;
  assert.ok(preStep > 0 && preStep < 20, `pre-step baseline ${preStep} ms`);
  assert.ok(first.controller.canaryBaselineMs! >= preStep && first.controller.canaryBaselineMs! < 20, `baseline after the first pause: ${first.controller.canaryBaselineMs} ms`);

  // Someone else's load: a 50 ms table lock every 25 ms delays every lookup, batch or not.
  const locker = startLocker(database.url, 50, 25);
  let loaded: Awaited<ReturnType<typeof slice>>;
  try {
    loaded = await slice(first.controller, PAUSE_MS + 500);
  } finally {
    await locker.stop();
  }
  assert.ok(loaded.batchesRun >= 1);
  const raised = loaded.controller.canaryBaselineMs!;
  assert.ok(raised >= 20 && raised > 2 * preStep, `the baseline follows the foreground as it is without the step: ${preStep} → ${raised} ms`);
  assert.equal(loaded.controller.canaryStepBaselineMs, preStep, 'the pre-step baseline is kept as the floor');

  // The load is gone: the next pause's quiet lookups bring the baseline back, not below the floor.
  const calm = await slice(loaded.controller, PAUSE_MS + 500);
  const lowered = calm.controller.canaryBaselineMs!;
  assert.ok(lowered >= preStep && lowered < raised / 2, `back down: ${raised} → ${lowered} ms (pre-step ${preStep} ms)`);
});
