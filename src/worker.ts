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
import { createAlertSender } from './activities/alerts/alert-sender';
import { freePort } from './embedded/free-port';
import { createLogger, type Logger } from './logging/logger';
import { createMigrationMetrics } from './metrics/migration-metrics';
import { startMetricsServer } from './metrics/metrics-server';

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
  /** Serve Prometheus /metrics on this port (0 = any free port); null or absent = no endpoint. */
  metricsPort?: number | null;
  /** Alerts also go to this webhook (JSON POST with a Slack-compatible `text`). */
  webhookUrl?: string | null;
  /** Directory of the JSON run reports. */
  reportsDir?: string;
}

export interface RunningWorker {
  worker: Worker;
  target: TargetDatabase;
  /** Port of the /metrics endpoint, when one is served. */
  metricsPort: number | null;
  /** Resolves when the worker stopped. */
  done: Promise<void>;
  stop(): Promise<void>;
}

let runtimeInstalled = false;

/** Temporal's core runtime logs through our logger (once per process). */
/** Temporal's core runtime logs through our logger and, when asked, exports its metrics (once per process). */
function installRuntime(logger: Logger, sdkMetricsAddress: string | null): void {
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
    ...(sdkMetricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: sdkMetricsAddress } } } } : {}),
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
  // The SDK's runtime metrics go to an internal port; our /metrics appends them.
  const sdkMetricsAddress = settings.metricsPort === null || settings.metricsPort === undefined || runtimeInstalled ? null : `127.0.0.1:${await freePort()}`;
  installRuntime(logger, sdkMetricsAddress);
  const metrics = createMigrationMetrics();
  const alerts = createAlertSender({ webhookUrl: settings.webhookUrl ?? null, logger, onAlert: (n) => metrics.alert(n.migrationId, n.rule, n.severity) });
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
      alerts,
      metrics,
      ...(settings.reportsDir ? { reportsDir: settings.reportsDir } : {}),
    }),
    shutdownGraceTime: settings.shutdownGraceTimeMs ?? 10_000,
    // Cancellation reaches an activity only in a heartbeat response, and the SDK batches
    // heartbeats to 80 % of the heartbeat timeout by default (12 s at 15 s): a `cancel` would take
    // that long to stop a running CREATE INDEX. Two seconds keeps cancel prompt at little cost.
    maxHeartbeatThrottleInterval: '2 seconds',
    defaultHeartbeatThrottleInterval: '2 seconds',
    bundlerOptions: { ignoreModules: [] },
  });
  const metricsServer =
    settings.metricsPort === null || settings.metricsPort === undefined
      ? null
      : await startMetricsServer({ registry: metrics.registry, port: settings.metricsPort, upstreams: sdkMetricsAddress ? [`http://${sdkMetricsAddress}/metrics`] : [] });
  const done = worker.run().finally(async () => {
    await alerts.drain(2000);
    await metricsServer?.close();
    await connection.close().catch(() => undefined);
    await target.close().catch(() => undefined);
  });
  return {
    worker,
    target,
    metricsPort: metricsServer?.port ?? null,
    done,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
