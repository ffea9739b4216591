// `watch ID`: follow a running migration through its progress query. On a terminal it redraws one
// line; otherwise it prints a line per change; with --json it streams one JSON object per update.
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { ConfigError } from '../../config/errors';
import { type ResolvedConfig } from '../../config/resolve-config';
import { openTemporal } from '../../client/temporal-connection';
import { migrationWorkflowId, type MigrationProgress, progressQuery } from '../../workflows/definitions';
import { CliExit, EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';
import { renderProgress } from '../progress-bar';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface WatchOptions {
  intervalMs: number;
}

async function findRun(client: Client, dbKey: string, id: string) {
  for (const mode of ['up', 'down'] as const) {
    const handle = client.workflow.getHandle(migrationWorkflowId(dbKey, id, mode));
    try {
      const description = await handle.describe();
      if (description.status.name === 'RUNNING') return handle;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  }
  return null;
}

export async function watchCommand(config: ResolvedConfig, id: string, options: WatchOptions, out: Output): Promise<ExitCode> {
  if (config.lockKey === null) throw new ConfigError('no database selected', { hint: 'set DATABASE_URL (or pass --database-url / --lock-key)' });
  const temporal = await openTemporal(config);
  try {
    const handle = await findRun(temporal.client, config.lockKey, id);
    if (!handle) throw new CliExit(EXIT.BAD_INPUT, `no running migration ${id} on ${config.lockKey}`, 'see `stockrx-migrate status` for what ran');
    const tty = process.stdout.isTTY === true && !out.json;
    let last = '';
    let progress: MigrationProgress | null = null;
    for (;;) {
      try {
        progress = await handle.query(progressQuery);
      } catch {
        // Between runs of a continue-as-new chain, or just closed: describe() tells which.
      }
      if (progress) {
        const line = renderProgress(progress);
        if (out.json) {
          const json = JSON.stringify(progress);
          if (json !== last) process.stdout.write(`${json}\n`);
          last = json;
        } else if (tty) {
          process.stdout.write(`\r\x1b[2K${line.slice(0, (process.stdout.columns ?? 200) - 1)}`);
        } else if (line !== last) {
          process.stdout.write(`${line}\n`);
          last = line;
        }
      }
      const status = (await handle.describe()).status.name;
      if (status !== 'RUNNING') {
        if (tty) process.stdout.write('\n');
        if (!out.json) out.info(`${id}: workflow ${status.toLowerCase()}`);
        return status === 'COMPLETED' ? EXIT.OK : EXIT.MIGRATION_FAILED;
      }
      await sleep(options.intervalMs);
    }
  } finally {
    await temporal.close();
  }
}
