// B1 throughput (issue 3, item 8): 1M rows, 500k matching, updateRecords at batch 1000, one
// client, side by side in one run:
//   framework+backup   the full path: runner workflow, migration workflow, journal, slices of
//                      batches (one CTE per batch: range, FOR UPDATE, backup, update, fenced
//                      checkpoint), load sampling; worker = `stockrx-migrate worker` process
//   framework-nobackup the same with `backup: false`
//   framework+backup+canary  reference: framework+backup with the foreground canary measuring
//                      (continuous lookups and a 1.5 s baseline) although, with batch and pause
//                      pinned, nothing reads it; the two variants above switch it off
//                      (latencyBudget 0), as a run paced by hand would
//   keyset-loop        BASELINE: hand-written kysely keyset loop, 1000 keys per batch
//   matching-loop      reference only: kysely keyset loop over 1000 matching rows per batch
//   plain-update       CEILING: one UPDATE
// Each variant starts from an identical table (regenerated, vacuumed, checkpointed). Repeated with
// a rotating order; medians reported. Batch size and pause are pinned (min = max = 1000, sleep 0).
//
//   node --import tsx bench/b1-throughput.ts [--rows 1000000] [--reps 3] [--batch 1000]
//        [--only framework+backup,keyset-loop,…] [--json FILE]
import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { keysetLoop, matchingKeysetLoop, plainUpdate } from './lib/baselines';
import { benchMigrationsDir, connectClient, migrationId, runFrameworkMigration } from './lib/framework';
import { backupRows, checkInventories, resetInventories, updateMigrationSource, withClient } from './lib/inventories';
import {
  buildWorkflowBundle, describeMachine, loadAverage, onCleanup, postgresCpuSeconds, processCpuSeconds, recreateDatabase, runBench, say, startPostgres, startTemporal, statementReport,
  startWorkerProcess,
} from './lib/stack';
import { fmt, fmtInt, markdownTable, median, rotated } from './lib/stats';
import { BenchUsageError, wholeNumberOption } from './lib/args';

const VARIANTS = ['framework+backup', 'framework-nobackup', 'framework+backup+canary', 'keyset-loop', 'matching-loop', 'plain-update'] as const;
type Variant = (typeof VARIANTS)[number];

interface Measurement {
  variant: Variant;
  rep: number;
  seconds: number;
  /** Data step only (first slice start → last slice end), framework variants. */
  stepSeconds: number | null;
  changed: number;
  walMb: number;
  load: string;
  slices?: number;
  /** CPU seconds during the variant: Postgres (all backends), the worker, the Temporal server, this process. */
  cpu: { postgres: number; worker: number; temporal: number; bench: number };
}

async function walLsn(url: string): Promise<bigint> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ b: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS b`);
    return BigInt(rows[0]!.b);
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      reps: { type: 'string', default: '3' },
      batch: { type: 'string', default: '1000' },
      only: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const rows = wholeNumberOption('rows', values.rows, 2);
  const reps = wholeNumberOption('reps', values.reps);
  const batch = wholeNumberOption('batch', values.batch);
  const variants = values.only ? (values.only.split(',') as Variant[]) : [...VARIANTS];
  for (const v of variants) if (!VARIANTS.includes(v)) throw new BenchUsageError(`--only: unknown variant ${v}; known: ${VARIANTS.join(', ')}`);
  const matching = Math.floor(rows / 2);

  const pgServer = await startPostgres();
  const machine = await describeMachine(pgServer.adminUrl);
  say(machine);
  const temporal = await startTemporal();
  const bundlePath = await buildWorkflowBundle(temporal.stateDir);
  const dbUrl = await recreateDatabase(pgServer.adminUrl, 'bench_b1');
  const migrations = await benchMigrationsDir('b1');
  onCleanup(() => fsp.rm(migrations.dir, { recursive: true, force: true }));
  const taskQueue = `bench-b1-${randomBytes(4).toString('hex')}`;
  const usesFramework = variants.some((v) => v.startsWith('framework'));
  const worker = usesFramework
    ? await startWorkerProcess({ databaseUrl: dbUrl, temporalAddress: temporal.address, taskQueue, migrationsDir: migrations.dir, bundlePath })
    : null;
  const temporalClient = await connectClient(temporal.address);
  onCleanup(() => temporalClient.close());

  const results: Measurement[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const variant of rotated(variants, rep)) {
      await resetInventories(dbUrl, rows);
      await statementReport(dbUrl); // BENCH_STATEMENTS=1: counts from here
      const load = loadAverage();
      const walBefore = await walLsn(dbUrl);
      const cpuBefore = { postgres: postgresCpuSeconds(), worker: worker ? processCpuSeconds(worker.pid) : 0, temporal: processCpuSeconds(temporal.pid), bench: process.cpuUsage() };
      let seconds: number;
      let stepSeconds: number | null = null;
      let slices: number | undefined;
      let changed: number;
      if (variant.startsWith('framework')) {
        await migrations.clear();
        const backup = variant !== 'framework-nobackup';
        const id = migrationId(backup ? 'bench_backup' : 'bench_nobackup');
        await migrations.write(id, updateMigrationSource({ batchSize: batch, backup, canary: variant === 'framework+backup+canary' }));
        const run = await runFrameworkMigration({ client: temporalClient.client, databaseUrl: dbUrl, migrationsDir: migrations.dir, taskQueue, id });
        if (run.exitCode !== 0) throw new Error(`${variant}: the migration failed (exit ${run.exitCode}): ${run.message}`);
        seconds = run.wallSeconds;
        stepSeconds = run.stepSeconds;
        slices = run.slices;
        if (run.throttled) say(`${variant}: the controller paused the step (critical load) during this run`);
        changed = matching;
      } else {
        const r = variant === 'keyset-loop' ? await keysetLoop(dbUrl, batch) : variant === 'matching-loop' ? await matchingKeysetLoop(dbUrl, batch) : await plainUpdate(dbUrl);
        seconds = r.seconds;
        changed = r.changed;
      }
      const benchCpu = process.cpuUsage(cpuBefore.bench);
      const cpu = {
        postgres: postgresCpuSeconds() - cpuBefore.postgres,
        worker: worker ? processCpuSeconds(worker.pid) - cpuBefore.worker : 0,
        temporal: processCpuSeconds(temporal.pid) - cpuBefore.temporal,
        bench: (benchCpu.user + benchCpu.system) / 1e6,
      };
      const walMb = Number((await walLsn(dbUrl)) - walBefore) / 2 ** 20;
      for (const line of await statementReport(dbUrl)) say(`  ${variant}: ${line}`);
      const check = await checkInventories(dbUrl);
      if (check.nullPrices !== 0 || check.zeroPrices !== matching || changed !== matching) {
        throw new Error(`${variant}: wrong result: ${JSON.stringify(check)}, changed ${changed}, expected ${matching}`);
      }
      const backedUp = await backupRows(dbUrl);
      const expectedBackup = variant === 'framework+backup' || variant === 'framework+backup+canary' ? matching : 0;
      if (backedUp !== expectedBackup) throw new Error(`${variant}: ${backedUp} backup rows, expected ${expectedBackup}`);
      const m: Measurement = { variant, rep, seconds, stepSeconds, changed, walMb, load, cpu, ...(slices !== undefined ? { slices } : {}) };
      results.push(m);
      say(
        `rep ${rep + 1}/${reps} ${variant.padEnd(18)} ${fmt(seconds, 2)} s  ${fmtInt(changed / seconds)} rows/s` +
          (stepSeconds ? `  (data step ${fmt(stepSeconds, 2)} s = ${fmtInt(changed / stepSeconds)} rows/s, ${slices} slices)` : '') +
          `  WAL ${fmt(walMb, 0)} MiB  CPU s: pg ${fmt(cpu.postgres, 1)} worker ${fmt(cpu.worker, 1)} temporal ${fmt(cpu.temporal, 1)} bench ${fmt(cpu.bench, 1)}  load ${load}` +
          (worker ? `  worker RSS peak ${fmt(worker.peakRssMb(), 0)} MiB` : ''),
      );
    }
  }

  // Report: medians per variant, ratios against the baseline (keyset-loop).
  const med = (v: Variant, f: (m: Measurement) => number | null) => median(results.filter((r) => r.variant === v).map(f).filter((x): x is number => x !== null));
  const rate = (v: Variant) => med(v, (m) => m.changed / m.seconds);
  const stepRate = (v: Variant) => med(v, (m) => (m.stepSeconds ? m.changed / m.stepSeconds : null));
  const baseline = variants.includes('keyset-loop') ? rate('keyset-loop') : Number.NaN;
  const baselineStep = baseline;
  const table = variants.map((v) => {
    const all = results.filter((r) => r.variant === v).map((r) => fmtInt(r.changed / r.seconds)).join(' / ');
    const r = rate(v);
    const s = stepRate(v);
    return [
      v,
      fmtInt(r),
      fmt(r / baseline),
      Number.isFinite(s) ? fmtInt(s) : '',
      Number.isFinite(s) ? fmt(s / baselineStep) : '',
      fmt(med(v, (m) => m.seconds), 2),
      fmt(med(v, (m) => m.walMb), 0),
      fmt(med(v, (m) => (m.cpu.postgres / m.changed) * 1e5), 2),
      fmt(med(v, (m) => ((m.cpu.worker + m.cpu.temporal + m.cpu.bench) / m.changed) * 1e5), 2),
      all,
    ];
  });
  console.log(`\nB1 throughput: ${fmtInt(rows)} rows, ${fmtInt(matching)} matching, batch ${batch}, ${reps} reps (medians)\n${machine}\n`);
  console.log(
    markdownTable(['variant', 'rows/s (end to end)', '× baseline', 'rows/s (data step)', '× baseline', 'seconds', 'WAL MiB', 'PG CPU s/100k rows', 'client-side CPU s/100k rows', 'each rep rows/s'], table),
  );
  const withBackup = rate('framework+backup') / baseline;
  const noBackup = rate('framework-nobackup') / baseline;
  console.log('');
  if (Number.isFinite(withBackup)) console.log(`target framework+backup ≥ 0.80× baseline: ${fmt(withBackup)}× ${withBackup >= 0.8 ? 'MET' : 'MISSED'} (data step alone: ${fmt(stepRate('framework+backup') / baseline)}×)`);
  if (Number.isFinite(noBackup)) console.log(`target framework-nobackup ≥ 0.90× baseline: ${fmt(noBackup)}× ${noBackup >= 0.9 ? 'MET' : 'MISSED'} (data step alone: ${fmt(stepRate('framework-nobackup') / baseline)}×)`);
  if (variants.includes('plain-update')) console.log(`baseline = ${fmt(baseline / rate('plain-update'))}× the ceiling (one UPDATE)`);
  if (values.json) await fsp.writeFile(values.json, JSON.stringify({ machine, rows, batch, reps, results }, null, 2));
  return 0;
}

runBench(main);
