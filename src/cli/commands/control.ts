// Verbs that steer runs already in flight: cancel (compensates), resolve (after a failed
// compensation), locks (who holds which database), unlock --force (terminate a stuck runner).
import { WorkflowNotFoundError } from '@temporalio/client';
import { ConfigError } from '../../config/errors';
import { type ResolvedConfig } from '../../config/resolve-config';
import { openTemporal } from '../../client/temporal-connection';
import { migrationWorkflowId, resolveCompensationSignal, runnerProgressQuery, runnerWorkflowId } from '../../workflows/definitions';
import { CliExit, EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';

function requireLockKey(config: ResolvedConfig): string {
  if (config.lockKey === null) {
    throw new ConfigError('no database selected', { hint: 'set DATABASE_URL (or pass --database-url / --lock-key) to say which database the run belongs to' });
  }
  return config.lockKey;
}

async function isRunning(handle: { describe(): Promise<{ status: { name: string } }> }): Promise<boolean> {
  try {
    return (await handle.describe()).status.name === 'RUNNING';
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

export async function cancelCommand(config: ResolvedConfig, id: string, out: Output): Promise<ExitCode> {
  const dbKey = requireLockKey(config);
  const temporal = await openTemporal(config);
  try {
    for (const workflowId of [migrationWorkflowId(dbKey, id, 'up'), migrationWorkflowId(dbKey, id, 'down'), ...(id === 'runner' ? [runnerWorkflowId(dbKey)] : [])]) {
      const handle = temporal.client.workflow.getHandle(workflowId);
      if (await isRunning(handle)) {
        await handle.cancel();
        out.info(`Cancellation requested for ${workflowId}: applied steps are being compensated.`);
        if (out.json) out.data({ cancelled: workflowId });
        return EXIT.OK;
      }
    }
    throw new CliExit(EXIT.BAD_INPUT, `no running migration ${id} on ${dbKey}`, 'see `stockrx-migrate status` or `stockrx-migrate locks`');
  } finally {
    await temporal.close();
  }
}

export async function resolveCommand(config: ResolvedConfig, id: string, action: 'retry' | 'skip', out: Output): Promise<ExitCode> {
  const dbKey = requireLockKey(config);
  const temporal = await openTemporal(config);
  try {
    for (const workflowId of [migrationWorkflowId(dbKey, id, 'up'), migrationWorkflowId(dbKey, id, 'down')]) {
      const handle = temporal.client.workflow.getHandle(workflowId);
      if (await isRunning(handle)) {
        await handle.signal(resolveCompensationSignal, { action });
        out.info(`Sent ${action} to ${workflowId}.`);
        return EXIT.OK;
      }
    }
    throw new CliExit(EXIT.BAD_INPUT, `no running migration ${id} waits for an operator on ${dbKey}`);
  } finally {
    await temporal.close();
  }
}

export async function locksCommand(config: ResolvedConfig, out: Output): Promise<ExitCode> {
  const temporal = await openTemporal(config);
  try {
    const locks: { workflowId: string; dbKey: string; startTime: string; mode: string | null; current: string | null }[] = [];
    for await (const execution of temporal.client.workflow.list({ query: `WorkflowType = 'runner' AND ExecutionStatus = 'Running'` })) {
      let mode: string | null = null;
      let current: string | null = null;
      try {
        const progress = await temporal.client.workflow.getHandle(execution.workflowId).query(runnerProgressQuery);
        mode = progress.mode;
        current = progress.current;
      } catch {
        // No worker is polling right now; the lock is held all the same.
      }
      const dbKey = execution.workflowId.replace(/^stockrx-migrate\//, '').replace(/\/runner$/, '');
      locks.push({ workflowId: execution.workflowId, dbKey, startTime: execution.startTime.toISOString(), mode, current });
    }
    if (out.json) out.data({ locks });
    else if (locks.length === 0) out.info('No database is locked: no run is active.');
    else for (const l of locks) out.info(`${l.dbKey}  held by ${l.workflowId} since ${l.startTime}${l.current ? `  (${l.mode} ${l.current})` : ''}`);
    return EXIT.OK;
  } finally {
    await temporal.close();
  }
}

export async function unlockCommand(config: ResolvedConfig, key: string | undefined, force: boolean, out: Output): Promise<ExitCode> {
  const dbKey = key ?? requireLockKey(config);
  if (!force) {
    throw new ConfigError(`refusing to unlock ${dbKey} without --force`, {
      hint: 'unlock terminates the runner; prefer `stockrx-migrate cancel ID`, which compensates cleanly. Pass --force if the runner is stuck.',
    });
  }
  const temporal = await openTemporal(config);
  try {
    const handle = temporal.client.workflow.getHandle(runnerWorkflowId(dbKey));
    if (!(await isRunning(handle))) throw new CliExit(EXIT.BAD_INPUT, `${dbKey} is not locked`);
    await handle.terminate('stockrx-migrate unlock --force');
    out.info(`Terminated ${runnerWorkflowId(dbKey)}. A migration it was running is asked to cancel and compensate; the journal keeps what was applied.`);
    return EXIT.OK;
  } finally {
    await temporal.close();
  }
}
