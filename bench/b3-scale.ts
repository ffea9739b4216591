// B3 scale (issue 3, item 8): a 5M-row updateRecords (2.5M matching) through the whole framework,
// the worker running as its own process (`stockrx-migrate worker`). Measures the worker's peak
// resident memory (VmHWM from /proc, sampled along the way as VmRSS too) and how many workflow runs
// the migration took (1 + continue-as-new), with the Temporal dev server's default
// `limit.historyCount.suggestContinueAsNew` or a lower one (--can-threshold) that forces many.
// The controller runs with its defaults (adaptive); `--pinned N` pins batch N and no pause instead.
//
//   node --import tsx bench/b3-scale.ts [--rows 5000000] [--can-threshold 200] [--pinned 1000]
import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { benchMigrationsDir, connectClient, migrationId, runFrameworkMigration } from './lib/framework';
import { adaptiveMigrationSource, backupRows, checkInventories, resetInventories, updateMigrationSource } from './lib/inventories';
import { buildWorkflowBundle, describeMachine, loadAverage, onCleanup, recreateDatabase, runBench, say, startPostgres, startTemporal, startWorkerProcess } from './lib/stack';
import { fmt, fmtInt, markdownTable } from './lib/stats';
import { wholeNumberOption } from './lib/args';

const RSS_TARGET_MB = 300;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '5000000' },
      'can-threshold': { type: 'string' },
      pinned: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const rows = wholeNumberOption('rows', values.rows, 2);
  const matching = Math.floor(rows / 2);
  const canThreshold = values['can-threshold'] ? wholeNumberOption('can-threshold', values['can-threshold']) : null;
  const pinned = values.pinned === undefined ? null : wholeNumberOption('pinned', values.pinned);

  const pgServer = await startPostgres();
  const machine = await describeMachine(pgServer.adminUrl);
  say(machine);
  const temporal = await startTemporal(canThreshold === null ? {} : { 'limit.historyCount.suggestContinueAsNew': canThreshold });
  const bundlePath = await buildWorkflowBundle(temporal.stateDir);
  const dbUrl = await recreateDatabase(pgServer.adminUrl, 'bench_b3');
  say(`generating ${fmtInt(rows)} rows …`);
  await resetInventories(dbUrl, rows);
  const migrations = await benchMigrationsDir('b3');
  onCleanup(() => fsp.rm(migrations.dir, { recursive: true, force: true }));
  const id = migrationId('bench_scale');
  await migrations.write(id, pinned !== null ? updateMigrationSource({ batchSize: pinned, backup: true }) : adaptiveMigrationSource({}));
  const taskQueue = `bench-b3-${randomBytes(4).toString('hex')}`;
  const worker = await startWorkerProcess({ databaseUrl: dbUrl, temporalAddress: temporal.address, taskQueue, migrationsDir: migrations.dir, bundlePath });
  const rssAtStart = worker.rssMb();
  say(`worker pid ${worker.pid} polling; RSS ${fmt(rssAtStart, 0)} MiB`);

  // RSS over time, every 250 ms, so the report can say whether memory grows with the step.
  const rssSamples: { t: number; mb: number }[] = [];
  const started = Date.now();
  const sampler = setInterval(() => {
    const mb = worker.rssMb();
    if (mb !== null) rssSamples.push({ t: (Date.now() - started) / 1000, mb });
  }, 250);
  onCleanup(async () => clearInterval(sampler));

  const client = await connectClient(temporal.address);
  onCleanup(() => client.close());
  const load = loadAverage();
  const run = await runFrameworkMigration({ client: client.client, databaseUrl: dbUrl, migrationsDir: migrations.dir, taskQueue, id });
  clearInterval(sampler);
  const peak = worker.peakRssMb();
  if (run.exitCode !== 0) throw new Error(`the migration failed (exit ${run.exitCode}): ${run.message}`);
  const check = await checkInventories(dbUrl);
  const backedUp = await backupRows(dbUrl);
  if (check.nullPrices !== 0 || check.zeroPrices !== matching || backedUp !== matching) {
    throw new Error(`wrong result: ${JSON.stringify(check)}, ${backedUp} backup rows, expected ${matching}`);
  }

  const at = (fraction: number) => rssSamples[Math.min(rssSamples.length - 1, Math.floor(fraction * rssSamples.length))]?.mb ?? Number.NaN;
  const maxSampled = Math.max(...rssSamples.map((s) => s.mb));
  console.log(`\nB3 scale: ${fmtInt(rows)} rows, ${fmtInt(matching)} matching, updateRecords with backup, ${pinned !== null ? `batch pinned at ${pinned}, no pause` : 'controller defaults (adaptive)'}`);
  console.log(`Temporal limit.historyCount.suggestContinueAsNew: ${canThreshold ?? 'server default'}\n${machine}\n`);
  console.log(
    markdownTable(
      ['rows/s (end to end)', 'seconds', 'workflow runs (continue-as-new)', 'slices', 'history events per run (max)', 'worker RSS at start MiB', 'RSS at 25/50/75/100 % MiB', 'worker peak RSS (VmHWM) MiB', 'target ≤ 300 MiB'],
      [[
        fmtInt(matching / run.wallSeconds),
        fmt(run.wallSeconds, 1),
        `${run.runs} (${run.runs - 1})`,
        run.slices,
        Math.max(...run.historyEvents),
        fmt(rssAtStart, 0),
        [0.25, 0.5, 0.75, 0.999].map((f) => fmt(at(f), 0)).join(' / '),
        `${fmt(peak, 0)} (sampled max ${fmt(maxSampled, 0)})`,
        peak !== null && peak <= RSS_TARGET_MB ? 'MET' : 'MISSED',
      ]],
    ),
  );
  console.log(`load average at start ${load}, at end ${loadAverage()}`);
  if (values.json) await fsp.writeFile(values.json, JSON.stringify({ machine, rows, canThreshold, run, rssAtStart, peak, rssSamples }, null, 2));
  return 0;
}

runBench(main);
