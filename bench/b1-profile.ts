// B1 profile: where the framework's time per batch goes. Runs, on the same table as B1 (reset
// before each part), without Temporal:
//   activities  the worker's real activities called in-process: journalStart → prepareDataStep →
//               runDataSlice (5 s slices) until done → finishDataStep. Against B1's framework
//               numbers this isolates what Temporal adds (slice round trips, heartbeats).
//   phases      the slice's per-batch work re-enacted with the same functions, each phase timed:
//               BEGIN + SET LOCAL, the batch statement, the run-token recheck, COMMIT, and the
//               load sample (canary during the batch; host and database load, at most once a
//               second, after it).
//   loop        the baseline keyset loop (bench/lib/baselines.ts) for reference.
//
//   node --import tsx bench/b1-profile.ts [--rows 1000000] [--batch 1000] [--backup true|false]
import { performance } from 'node:perf_hooks';
import fsp from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { createActivities } from '../src/activities/create-activities';
import { createMigrationRegistry } from '../src/activities/migration-registry';
import { withDedicatedCanary } from '../src/activities/load/canary';
import { realLoadSource } from '../src/activities/load/real-load-source';
import { sampleDatabaseLoad } from '../src/activities/load/database-load';
import { sampleHostLoad } from '../src/activities/load/host-load';
import { backupTableFor } from '../src/activities/data/prepare-data-step';
import { baselineSamples, DATABASE_SAMPLE_MS } from '../src/activities/data/run-data-slice';
import { runBatch } from '../src/activities/data/run-batch';
import { readTableShape } from '../src/activities/data/table-shape';
import { withCancellableConnection } from '../src/activities/runtime/cancellable-statement';
import { loadMigrations } from '../src/client/load-migrations';
import { isDataStep, isStepFinished, type DataStep } from '../src/core/data-plan';
import { resolveLoadControl } from '../src/core/load-control-config';
import { decide, initialControllerState, withCanaryBaseline } from '../src/core/load-controller';
import { DEFAULT_RUN_OPTIONS } from '../src/core/run-options';
import { openTargetDatabase } from '../src/db/connect';
import { createLogger } from '../src/logging/logger';
import { keysetLoop } from './lib/baselines';
import { benchMigrationsDir, migrationId } from './lib/framework';
import { backupRows, checkInventories, resetInventories, updateMigrationSource } from './lib/inventories';
import { onCleanup, postgresCpuSeconds, recreateDatabase, runBench, say, startPostgres } from './lib/stack';

/** CPU ms per batch since `from`: all of Postgres, and this process. */
function cpuSince(from: { pg: number; me: NodeJS.CpuUsage }, batches: number): { pg: number; me: number } {
  const me = process.cpuUsage(from.me);
  return { pg: ((postgresCpuSeconds() - from.pg) * 1000) / batches, me: (me.user + me.system) / 1000 / batches };
}
import { fmt, fmtInt, markdownTable, median } from './lib/stats';
import { oneOfOption, wholeNumberOption } from './lib/args';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { rows: { type: 'string', default: '1000000' }, batch: { type: 'string', default: '1000' }, backup: { type: 'string', default: 'true' } },
  });
  const rows = wholeNumberOption('rows', values.rows, 2);
  const batch = wholeNumberOption('batch', values.batch);
  const backup = oneOfOption('backup', values.backup, ['true', 'false']) === 'true';
  const matching = Math.floor(rows / 2);
  const pgServer = await startPostgres();
  const url = await recreateDatabase(pgServer.adminUrl, 'bench_b1_profile');
  const migrations = await benchMigrationsDir('b1-profile');
  onCleanup(() => fsp.rm(migrations.dir, { recursive: true, force: true }));
  const target = openTargetDatabase(url, { applicationName: 'stockrx-migrate worker' });
  onCleanup(() => target.close());
  const db = target.db;
  const logger = createLogger({ level: 'warn' });
  // The real load source, counting samples: a sample without a batch is a paused (throttled) poll.
  let samples = 0;
  const loadSource = { host: () => (samples++, realLoadSource.host()), database: realLoadSource.database };
  const activities = createActivities({ db, logger, registry: createMigrationRegistry(migrations.dir), loadSource });

  const prepare = async () => {
    await resetInventories(url, rows);
    await migrations.clear();
    const id = migrationId('profile');
    await migrations.write(id, updateMigrationSource({ batchSize: batch, backup }));
    const [plan] = await loadMigrations(migrations.dir);
    const step = plan!.steps.find(isDataStep) as DataStep;
    const runToken = `profile-${id}`;
    await activities.journalStart({ plan: plan!, run: { runToken, workflowId: 'profile', runId: 'profile' } });
    const input = { migrationId: id, runToken, step, options: DEFAULT_RUN_OPTIONS };
    await activities.prepareDataStep(input);
    return { plan: plan!, step, input, loadControl: resolveLoadControl(plan!.loadControl) };
  };

  // 1. The activities in-process, no Temporal.
  const activitiesPart = async () => {
    const { plan, step, input, loadControl } = await prepare();
    let controller = initialControllerState(loadControl);
    const cpu0 = { pg: postgresCpuSeconds(), me: process.cpuUsage() };
    const started = performance.now();
    let slices = 0;
    let batches = 0;
    for (;;) {
      const slice = await activities.runDataSlice({ ...input, file: plan.file, loadControl, controller, sliceMs: 5000 });
      slices += 1;
      batches += slice.batchesRun;
      if (process.env.PROFILE_VERBOSE) say(`slice ${slices}: ${slice.batchesRun} batches, throttled ${slice.throttled}, batch ${slice.controller.batchSize}, canary baseline ${fmt(slice.controller.canaryBaselineMs, 3)} ms, window p99 ${fmt(Math.max(...slice.controller.canaryWindow), 3)} ms; ${slice.reasons.join('; ')}`);
      controller = slice.controller;
      if (isStepFinished(step, slice.checkpoint)) break;
    }
    await activities.finishDataStep(input);
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuSince(cpu0, batches);
    const check = await checkInventories(url);
    if (check.nullPrices !== 0) throw new Error('activities run left rows unchanged');
    if (backup && (await backupRows(url)) !== matching) throw new Error('activities run: backup rows missing');
    say(`activities in-process: ${fmt(seconds, 2)} s, ${fmtInt(matching / seconds)} rows/s, ${slices} slices, ${batches} batches (${fmt((seconds * 1000) / batches, 2)} ms/batch), ${samples - batches} samples taken while paused (critical load); CPU per batch: Postgres ${fmt(cpu.pg, 2)} ms, this process ${fmt(cpu.me, 2)} ms`);
    samples = 0;
  };

  // 2. The slice's per-batch work, phase by phase.
  const phasesPart = async () => {
    const { step, input, loadControl } = await prepare();
    const shape = await readTableShape(db, step.table);
    const backupTable = backupTableFor(input.migrationId, step);
    const returningOld = (await sql<{ v: number }>`SELECT current_setting('server_version_num')::int AS v`.execute(db)).rows[0]!.v >= 180000;
    let cursor: unknown = null;
    const { rows: up } = await sql<{ upper_bound: unknown }>`SELECT upper_bound FROM stockrx_migrate.checkpoints WHERE migration_id = ${input.migrationId}`.execute(db);
    const upper = up[0]!.upper_bound;
    const phases: Record<string, number[]> = {
      'statement (autocommit, fenced inside)': [],
      'sample:host': [], 'sample:database (≤ 1/s)': [], 'sample:canary (during the batch)': [], 'sample (wait after the batch)': [], decide: [], total: [],
    };
    let database: { at: number; value: Awaited<ReturnType<typeof sampleDatabaseLoad>> } | null = null;
    const cpu0 = { pg: postgresCpuSeconds(), me: process.cpuUsage() };
    const started = performance.now();
    let batches = 0;
    // As in runDataSlice: one connection for the batches (lock_timeout set once), the canary on
    // its own connection, the rest of the sample on pooled ones.
    await withDedicatedCanary(db, step.table, shape.key[0]!.name, async (canary) => {
      let state = withCanaryBaseline(initialControllerState(loadControl), await canary.baseline(baselineSamples(loadControl), { intervalMs: loadControl.canaryIntervalMs, window: loadControl.canaryWindow }));
      await withCancellableConnection(db, async ({ conn }) => {
        await sql`SET lock_timeout = 5000`.execute(conn);
        while (JSON.stringify(cursor) !== JSON.stringify(upper)) {
          const t0 = performance.now();
          const canaryStarted = performance.now();
          const canaryDuringBatch = canary.measure().then((ms) => {
            phases['sample:canary (during the batch)']!.push(performance.now() - canaryStarted);
            return ms;
          });
          const outcome = await runBatch({ conn, migrationId: input.migrationId, runToken: input.runToken, step, shape, backup: backupTable, cursor, upper, limit: state.batchSize, returningOld, log: () => {} });
          const t4 = performance.now();
          const timed = async <T>(name: string, p: Promise<T>): Promise<T> => {
            const s = performance.now();
            const v = await p;
            phases[name]!.push(performance.now() - s);
            return v;
          };
          const fresh = !database || performance.now() - database.at >= DATABASE_SAMPLE_MS;
          const [host, load, canaryMs] = await Promise.all([
            timed('sample:host', sampleHostLoad()),
            fresh ? timed('sample:database (≤ 1/s)', sampleDatabaseLoad(db)).then((value) => (database = { at: performance.now(), value }).value) : Promise.resolve(database!.value),
            canaryDuringBatch,
          ]);
          const t5 = performance.now();
          const decision = decide(state, { batchMs: t4 - t0, rows: outcome.changed, ...host, ...load, canaryMs }, loadControl);
          state = decision.state;
          const t6 = performance.now();
          phases['statement (autocommit, fenced inside)']!.push(t4 - t0);
          phases['sample (wait after the batch)']!.push(t5 - t4);
          phases.decide!.push(t6 - t5);
          phases.total!.push(t6 - t0);
          cursor = outcome.cursor;
          batches += 1;
        }
        await sql`RESET lock_timeout`.execute(conn);
      });
    });
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuSince(cpu0, batches);
    say(`phases re-enacted: ${fmt(seconds, 2)} s, ${fmtInt(matching / seconds)} rows/s, ${batches} batches; CPU per batch: Postgres ${fmt(cpu.pg, 2)} ms, this process ${fmt(cpu.me, 2)} ms`);
    console.log(
      markdownTable(
        ['phase', 'median ms', 'mean ms', 'share of total time', 'count'],
        Object.entries(phases).map(([name, v]) => {
          const mean = v.reduce((a, b) => a + b, 0) / v.length;
          const total = phases.total!.reduce((a, b) => a + b, 0) / phases.total!.length;
          return [name, fmt(median(v), 3), fmt(mean, 3), `${fmt((mean * v.length) / (total * batches) * 100, 1)} %`, v.length];
        }),
      ),
    );
  };

  // Interleaved, so neither part always runs on a warmer (or busier) machine.
  for (let round = 0; round < Number(process.env.PROFILE_ROUNDS ?? 1); round++) {
    if (round % 2 === 0) {
      await activitiesPart();
      await phasesPart();
    } else {
      await phasesPart();
      await activitiesPart();
    }
  }

  // 3. The baseline loop.
  {
    await resetInventories(url, rows);
    const cpu0 = { pg: postgresCpuSeconds(), me: process.cpuUsage() };
    const r = await keysetLoop(url, batch);
    const cpu = cpuSince(cpu0, r.batches);
    say(`keyset loop: ${fmt(r.seconds, 2)} s, ${fmtInt(r.changed / r.seconds)} rows/s, ${r.batches} batches (${fmt((r.seconds * 1000) / r.batches, 2)} ms/batch); CPU per batch: Postgres ${fmt(cpu.pg, 2)} ms, this process ${fmt(cpu.me, 2)} ms`);
  }
  return 0;
}

runBench(main);
