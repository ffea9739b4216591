// The composition root: the only place that wires the target database, logger and migration
// registry into the activities, and the activities and workflows into a Temporal worker.
// `stockrx-migrate worker` runs this standalone; `up`/`down`/`dev` run it in-process.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities/create-activities';
import { type LoadSource } from './activities/data/load-source';
import { createMigrationRegistry } from './activities/migration-registry';
import { openTargetDatabase, type TargetDatabase } from './db/connect';
import { createLogger, type Logger } from './logging/logger';

export const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));

export interface WorkerSettings {
  databaseUrl: string;
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  migrationsDir: string;
  logger?: Logger;
  /** Prebuilt workflow bundle (tests build one per run); otherwise the workflows are bundled at start. */
  workflowBundlePath?: string;
  /** Time given to running activities to finish or notice cancellation on shutdown. */
  shutdownGraceTimeMs?: number;
  /** Where data steps read host and database load; defaults to the real samplers (tests inject a fake). */
  loadSource?: LoadSource;
}

export interface RunningWorker {
  worker: Worker;
  target: TargetDatabase;
  /** Resolves when the worker stopped. */
  done: Promise<void>;
  stop(): Promise<void>;
}

let runtimeInstalled = false;

/** Temporal's core runtime logs through our logger (once per process). */
function installRuntime(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: {
      log: (level, message, meta) => logger[level === 'TRACE' ? 'trace' : level === 'DEBUG' ? 'debug' : level === 'INFO' ? 'debug' : level === 'WARN' ? 'warn' : 'error'](meta ?? {}, message),
      trace: (m, meta) => logger.trace(meta ?? {}, m),
      debug: (m, meta) => logger.debug(meta ?? {}, m),
      info: (m, meta) => logger.debug(meta ?? {}, m),
      warn: (m, meta) => logger.warn(meta ?? {}, m),
      error: (m, meta) => logger.error(meta ?? {}, m),
    },
    // The SDK's default shuts every worker down on SIGINT/SIGTERM/SIGQUIT/SIGUSR2. With an
    // in-process worker (`up`, `down`, `demo`) that left the command waiting forever for a run no
    // worker would progress, and its listener also kept the dev server's exit hook from running.
    // Signals belong to the commands: `worker`/`dev` stop their worker themselves; `up`/`down` end
    // (the run stays open in Temporal and resumes with the next worker).
    shutdownSignals: [],
  });
}

export async function startWorker(settings: WorkerSettings): Promise<RunningWorker> {
  const logger = settings.logger ?? createLogger();
  installRuntime(logger);
  const target = openTargetDatabase(settings.databaseUrl, { applicationName: 'stockrx-migrate worker' });
  const connection = await NativeConnection.connect({ address: settings.temporalAddress });
  const bundlePath = settings.workflowBundlePath ?? process.env.STOCKRX_WORKFLOW_BUNDLE;
  const workflowSource: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = bundlePath
    ? { workflowBundle: { codePath: bundlePath } }
    : { workflowsPath: WORKFLOWS_PATH };
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    ...workflowSource,
    activities: createActivities({
      db: target.db,
      logger,
      registry: createMigrationRegistry(path.resolve(settings.migrationsDir)),
      loadSource: settings.loadSource,
    }),
    shutdownGraceTime: settings.shutdownGraceTimeMs ?? 10_000,
    // Cancellation reaches an activity only in a heartbeat response, and the SDK batches
    // heartbeats to 80 % of the heartbeat timeout by default (12 s at 15 s): a `cancel` would take
    // that long to stop a running CREATE INDEX. Two seconds keeps cancel prompt at little cost.
    maxHeartbeatThrottleInterval: '2 seconds',
    defaultHeartbeatThrottleInterval: '2 seconds',
    bundlerOptions: { ignoreModules: [] },
  });
  const done = worker.run().finally(async () => {
    await connection.close().catch(() => undefined);
    await target.close().catch(() => undefined);
  });
  return {
    worker,
    target,
    done,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
