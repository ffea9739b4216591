// `pause ID`, `resume ID`, `set ID key=value…`: steer a running data migration. Pause takes effect
// at the end of the current slice (a few seconds); `set` is a validated workflow update, so a bad
// value is refused with the validator's message and nothing changes.
import { type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ConfigError } from '../../config/errors';
import { type ResolvedConfig } from '../../config/resolve-config';
import { openTemporal } from '../../client/temporal-connection';
import { parseLoadControlAssignments } from '../../core/load-control-config';
import { migrationWorkflowId, pauseSignal, resumeSignal, setLoadControlUpdate } from '../../workflows/definitions';
import { CliExit, EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';

type Handle = ReturnType<Client['workflow']['getHandle']>;

async function withRunningMigration<T>(config: ResolvedConfig, id: string, work: (handle: Handle) => Promise<T>): Promise<T> {
  if (config.lockKey === null) {
    throw new ConfigError('no database selected', { hint: 'set DATABASE_URL (or pass --database-url / --lock-key)' });
  }
  const temporal = await openTemporal(config);
  try {
    const handle = temporal.client.workflow.getHandle(migrationWorkflowId(config.lockKey, id, 'up'));
    try {
      const description = await handle.describe();
      if (description.status.name !== 'RUNNING') throw new CliExit(EXIT.BAD_INPUT, `migration ${id} is not running (${description.status.name.toLowerCase()})`);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw new CliExit(EXIT.BAD_INPUT, `no running migration ${id} on ${config.lockKey}`, 'see `stockrx-migrate status`');
      throw error;
    }
    return await work(handle);
  } finally {
    await temporal.close();
  }
}

export async function pauseCommand(config: ResolvedConfig, id: string, out: Output): Promise<ExitCode> {
  return withRunningMigration(config, id, async (handle) => {
    await handle.signal(pauseSignal);
    out.info(`Pause requested for ${id}: it stops after the current slice (a few seconds). Resume with \`stockrx-migrate resume ${id}\`.`);
    return EXIT.OK;
  });
}

export async function resumeCommand(config: ResolvedConfig, id: string, out: Output): Promise<ExitCode> {
  return withRunningMigration(config, id, async (handle) => {
    await handle.signal(resumeSignal);
    out.info(`Resumed ${id}.`);
    return EXIT.OK;
  });
}

export async function setCommand(config: ResolvedConfig, id: string, assignments: string[], out: Output): Promise<ExitCode> {
  const parsed = parseLoadControlAssignments(assignments);
  if (parsed.errors.length > 0) throw new CliExit(EXIT.BAD_INPUT, parsed.errors.join('; '), 'use key=value with a load-control setting, e.g. `set ID initialBatchSize=500 sleepMs=50`');
  return withRunningMigration(config, id, async (handle) => {
    try {
      const applied = await handle.executeUpdate(setLoadControlUpdate, { args: [parsed.changes] });
      if (out.json) out.data({ loadControl: applied });
      else out.info(`Load control of ${id} is now: ${Object.entries(parsed.changes).map(([k]) => `${k}=${applied[k as keyof typeof applied]}`).join(' ')}`);
      return EXIT.OK;
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) throw new CliExit(EXIT.BAD_INPUT, `refused: ${error.cause?.message ?? error.message}`);
      throw error;
    }
  });
}
