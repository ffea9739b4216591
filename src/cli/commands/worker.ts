// `worker`: a standalone worker for one database; `dev`: the embedded Temporal server plus a
// worker in the foreground, printing the Web UI URL. Both stop cleanly on Ctrl-C / SIGTERM.
import { type ResolvedConfig, requireDatabaseUrl } from '../../config/resolve-config';
import { openTemporal } from '../../client/temporal-connection';
import { startWorker, type WorkerSettings } from '../../worker';
import { EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** A standalone worker serves /metrics, sends alerts to the webhook and writes run reports. */
export function workerSettings(config: ResolvedConfig, databaseUrl: string, temporalAddress: string): WorkerSettings {
  return {
    databaseUrl,
    temporalAddress,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    migrationsDir: config.migrationsDir,
    metricsPort: config.metricsPort,
    webhookUrl: config.webhookUrl,
    reportsDir: config.reportsDir,
  };
}

export async function workerCommand(config: ResolvedConfig, out: Output): Promise<ExitCode> {
  const databaseUrl = requireDatabaseUrl(config);
  const temporal = await openTemporal(config);
  try {
    const worker = await startWorker(workerSettings(config, databaseUrl, temporal.address));
    out.info(`Worker for ${config.lockKey} polling task queue ${config.taskQueue} on ${temporal.address}; metrics on :${worker.metricsPort}/metrics. Ctrl-C to stop.`);
    await Promise.race([untilSignal(), worker.done]);
    await worker.stop();
    return EXIT.OK;
  } finally {
    await temporal.close();
  }
}

export async function devCommand(config: ResolvedConfig, out: Output): Promise<ExitCode> {
  const temporal = await openTemporal(config, { keep: true, log: (m) => out.info(m) });
  try {
    out.info(`Temporal dev server at ${temporal.address}${temporal.uiUrl ? `, Web UI: ${temporal.uiUrl}` : ''}`);
    if (config.databaseUrl === null) {
      out.info('DATABASE_URL is not set, so no worker runs; `up` and `down` start their own. Ctrl-C to stop.');
      await untilSignal();
      return EXIT.OK;
    }
    const worker = await startWorker(workerSettings(config, config.databaseUrl, temporal.address));
    out.info(`Worker for ${config.lockKey} on task queue ${config.taskQueue}. Run \`stockrx-migrate up --no-worker\` in another terminal. Ctrl-C to stop.`);
    await Promise.race([untilSignal(), worker.done]);
    await worker.stop();
    return EXIT.OK;
  } finally {
    await temporal.close();
  }
}
