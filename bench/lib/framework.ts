// Runs a migration through the whole framework, as `stockrx-migrate up --no-worker` does: load and
// plan the file, preflight it against the live database, start the runner workflow (the lock), and
// follow it to the end. The worker is a separate process (stack.ts). Timing comes from two places:
// the wall clock around start → result (what a user waits for), and the migration workflow's
// history (when the first slice of the data step started and the last one ended), which separates
// the data step's throughput from the fixed cost of starting and finishing a migration.
import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { resolveConfig } from '../../src/config/resolve-config';
import { openTargetDatabase } from '../../src/db/connect';
import { preflightUp } from '../../src/client/preflight';
import { followRun, startRunner } from '../../src/client/run-workflow';
import { runOptionsFrom } from '../../src/cli/run-options';
import { migrationWorkflowId } from '../../src/workflows/definitions';
import { REPO_ROOT } from './stack';

export interface MigrationsDir {
  dir: string;
  write(id: string, source: string): Promise<void>;
  clear(): Promise<void>;
}

/** Inside the repo, so `import { defineMigration } from 'stockrx-migrate'` resolves. */
export async function benchMigrationsDir(name: string): Promise<MigrationsDir> {
  const dir = path.join(REPO_ROOT, '.tmp', 'bench-migrations', `${name}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`);
  await fsp.mkdir(dir, { recursive: true });
  return {
    dir,
    async write(id, source) {
      await fsp.writeFile(path.join(dir, `${id}.ts`), source);
    },
    async clear() {
      for (const f of await fsp.readdir(dir)) await fsp.rm(path.join(dir, f), { force: true });
    },
  };
}

/** A migration id nobody used before on this server (workflow IDs include it). */
let seq = 0;
export function migrationId(name: string): string {
  // Ids must be `<14-digit UTC timestamp>_<name>`: one second apart per call keeps them unique.
  const d = new Date(Date.now() + ++seq * 1000);
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}_${name}`;
}

export interface TemporalClient {
  client: Client;
  close(): Promise<void>;
}

export async function connectClient(address: string): Promise<TemporalClient> {
  const connection = await Connection.connect({ address });
  return { client: new Client({ connection }), close: () => connection.close() };
}

export interface FrameworkRun {
  exitCode: number;
  message: string;
  /** start runner → runner result, seconds. */
  wallSeconds: number;
  /** First runDataSlice started → last runDataSlice completed, over every run of the chain, seconds. */
  stepSeconds: number | null;
  /** Workflow runs of the migration (1 + continue-as-new count). */
  runs: number;
  slices: number;
  historyEvents: number[];
  /** The controller paused the step at least once (critical load) while we watched. */
  throttled: boolean;
}

export async function runFrameworkMigration(opts: {
  client: Client;
  databaseUrl: string;
  migrationsDir: string;
  taskQueue: string;
  id: string;
  onProgress?: (line: string) => void;
}): Promise<FrameworkRun> {
  const config = await resolveConfig({ databaseUrl: opts.databaseUrl, migrationsDir: opts.migrationsDir, taskQueue: opts.taskQueue }, {}, REPO_ROOT);
  const target = openTargetDatabase(opts.databaseUrl, { max: 2, applicationName: 'stockrx-migrate bench cli' });
  let pending;
  try {
    ({ pending } = await preflightUp(target.db, config));
  } finally {
    await target.close();
  }
  if (pending.length !== 1 || pending[0]!.id !== opts.id) throw new Error(`expected exactly ${opts.id} pending, got ${pending.map((p) => p.id).join(', ')}`);
  const dbKey = config.lockKey!;
  const started = performance.now();
  const run = await startRunner(opts.client, opts.taskQueue, { dbKey, mode: 'up', plans: pending, migrationIds: [], options: runOptionsFrom(config) }, config.lock);
  let throttled = false;
  // `up` follows the run with two queries every 500 ms (progress line); BENCH_NO_FOLLOW=1 only
  // waits for the result, to measure what following costs.
  const result = process.env.BENCH_NO_FOLLOW
    ? await run.handle.result().then(
        (r) => ({ exitCode: 0, message: 'done', finished: r.finished }),
        (error: unknown) => ({ exitCode: 1, message: error instanceof Error ? error.message : String(error), finished: [] }),
      )
    : await followRun(opts.client, run, (p) => {
        if (p.status === 'throttled') throttled = true;
        opts.onProgress?.(`${p.status} ${p.current?.label ?? ''}`);
      });
  const wallSeconds = (performance.now() - started) / 1000;
  const timing = await sliceTiming(opts.client, migrationWorkflowId(dbKey, opts.id, 'up'));
  return { exitCode: result.exitCode, message: result.message, wallSeconds, throttled, ...timing };
}

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

const toMs = (t: HistoryEvent['eventTime']) => (t ? Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : 0);

/** Walks the continue-as-new chain of a workflow id (newest run first in visibility, so by history). */
async function sliceTiming(client: Client, workflowId: string): Promise<Pick<FrameworkRun, 'stepSeconds' | 'runs' | 'slices' | 'historyEvents'>> {
  // Every run of the chain shares the workflow id; list them all.
  const runIds: string[] = [];
  for await (const execution of client.workflow.list({ query: `WorkflowId = '${workflowId.replace(/'/g, "\\'")}'` })) runIds.push(execution.runId);
  let first: number | null = null;
  let last: number | null = null;
  let slices = 0;
  const historyEvents: number[] = [];
  for (const runId of runIds) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    historyEvents.push(events.length);
    const sliceScheduled = new Set<string>();
    for (const e of events) {
      if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'runDataSlice') sliceScheduled.add(String(e.eventId));
      const startedAttr = e.activityTaskStartedEventAttributes;
      if (startedAttr && sliceScheduled.has(String(startedAttr.scheduledEventId))) {
        const t = toMs(e.eventTime);
        first = first === null ? t : Math.min(first, t);
      }
      const completed = e.activityTaskCompletedEventAttributes;
      if (completed && sliceScheduled.has(String(completed.scheduledEventId))) {
        slices += 1;
        const t = toMs(e.eventTime);
        last = last === null ? t : Math.max(last, t);
      }
    }
  }
  return { stepSeconds: first !== null && last !== null ? (last - first) / 1000 : null, runs: runIds.length, slices, historyEvents };
}
