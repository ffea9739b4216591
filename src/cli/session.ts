// Resources a command needs, opened in order and always closed: the target database, Temporal
// (embedded or external) and, for `up`/`down` unless --no-worker, an in-process worker.
import path from 'node:path';
import pino from 'pino';
import { type ResolvedConfig, requireDatabaseUrl } from '../config/resolve-config';
import { ConfigError } from '../config/errors';
import { describeConnectionError, openTargetDatabase, type TargetDatabase } from '../db/connect';
import { sql } from 'kysely';
import { type TemporalSession } from '../client/temporal-connection';
import { createLogger } from '../logging/logger';
import { type RunningWorker } from '../worker';
import { redactUrl } from '../config/redact';

export async function withTargetDatabase<T>(config: ResolvedConfig, work: (target: TargetDatabase, dbKey: string) => Promise<T>): Promise<T> {
  const url = requireDatabaseUrl(config);
  // The CLI only runs short catalog and journal queries, so waiting long for a connection means the
  // URL is wrong (firewalled host, a port that is not Postgres): report it instead of hanging.
  const target = openTargetDatabase(url, { max: 4, applicationName: 'stockrx-migrate cli', connectTimeoutMs: 15_000 });
  try {
    try {
      await sql`SELECT 1`.execute(target.db);
    } catch (error) {
      throw new ConfigError(`cannot connect to the database ${redactUrl(url)}: ${describeConnectionError(error, url)}`, {
        hint: 'check DATABASE_URL (host, port, database, credentials) and that the server is running',
      });
    }
    return await work(target, config.lockKey!);
  } finally {
    await target.close();
  }
}

export interface WorkflowSession {
  temporal: TemporalSession;
  worker: RunningWorker | null;
}

/** In-process worker logs go to a file: the terminal shows progress, the file keeps everything. */
function workerLogger(config: ResolvedConfig) {
  return createLogger({ destination: pino.destination({ dest: path.join(config.stateDir, 'logs', 'worker.log'), mkdir: true, sync: false }) });
}

export async function withWorkflows<T>(config: ResolvedConfig, options: { worker: boolean; log?: (m: string) => void }, work: (session: WorkflowSession) => Promise<T>): Promise<T> {
  // Loaded here, not at the top: read-only verbs (status, plan) never need Temporal or the worker.
  const { openTemporal } = await import('../client/temporal-connection');
  const { startWorker } = await import('../worker');
  const temporal = await openTemporal(config, options.log ? { log: options.log } : {});
  let worker: RunningWorker | null = null;
  try {
    if (options.worker) {
      worker = await startWorker({
        databaseUrl: requireDatabaseUrl(config),
        temporalAddress: temporal.address,
        namespace: config.temporalNamespace,
        taskQueue: config.taskQueue,
        migrationsDir: config.migrationsDir,
        logger: workerLogger(config),
        webhookUrl: config.webhookUrl,
        reportsDir: config.reportsDir,
      });
    }
    return await work({ temporal, worker });
  } finally {
    await worker?.stop().catch(() => undefined);
    await temporal.close();
  }
}
