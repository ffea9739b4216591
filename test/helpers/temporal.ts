// A Temporal client and an in-test worker on the harness's server, using the prebuilt bundle.
import { Client, Connection } from '@temporalio/client';
import { type LoadSource } from '../../src/activities/data/load-source';
import { startWorker, type RunningWorker } from '../../src/worker';
import { createLogger } from '../../src/logging/logger';
import { testEnv } from './env';

export async function testClient(): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({ address: testEnv().temporalAddress });
  return { client: new Client({ connection }), close: () => connection.close() };
}

export async function startTestWorker(options: {
  databaseUrl: string;
  taskQueue: string;
  migrationsDir: string;
  loadSource?: LoadSource;
  /** Alerts are also POSTed here (a receiver the test runs). */
  webhookUrl?: string;
}): Promise<RunningWorker> {
  const env = testEnv();
  return startWorker({
    ...options,
    temporalAddress: env.temporalAddress,
    namespace: 'default',
    workflowBundlePath: env.workflowBundlePath,
    logger: createLogger({ level: process.env.STOCKRX_TEST_LOG_LEVEL ?? 'warn' }),
    shutdownGraceTimeMs: 2000,
  });
}
