// `up [--to ID]`: apply pending migrations through the runner workflow.
import { startRunner } from '../../client/run-workflow';
import { type Client } from '@temporalio/client';
import { hasSearchAttributes } from '../../client/search-attributes';
import { workflowPollerCount } from '../../client/task-queue-pollers';
import { preflightUp } from '../../client/preflight';
import { type ResolvedConfig } from '../../config/resolve-config';
import { formatPlanProblem } from '../../core/plan-error';
import { runOptionsFrom } from '../run-options';
import { EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';
import { followRunLive } from '../live-progress';
import { withTargetDatabase, withWorkflows } from '../session';

export interface UpOptions {
  to?: string;
  worker: boolean;
  /** Start the run and return at once; workers elsewhere apply it (`watch ID` follows it). */
  detach?: boolean;
}

export async function upCommand(config: ResolvedConfig, options: UpOptions, out: Output): Promise<ExitCode> {
  return withTargetDatabase(config, async (target, dbKey) => {
    const { pending, warnings } = await preflightUp(target.db, config, options.to === undefined ? {} : { to: options.to });
    for (const warning of warnings) out.warn(formatPlanProblem(warning));
    if (pending.length === 0) {
      out.info('Nothing to apply: every migration is applied.');
      if (out.json) out.data({ applied: [], status: 'up-to-date' });
      return EXIT.OK;
    }
    out.info(`Applying ${pending.length} migration(s) to ${dbKey}: ${pending.map((p) => p.id).join(', ')}`);
    // Detached, an in-process worker would die with this process, mid-run: the run is left to
    // the workers that poll the task queue (`stockrx-migrate worker`, or `dev`).
    const detach = options.detach === true;
    return withWorkflows(config, { worker: options.worker && !detach, log: (m) => out.info(m) }, async ({ temporal }) => {
      if (temporal.uiUrl) out.info(`Temporal Web UI: ${temporal.uiUrl}`);
      const run = await startRunner(
        temporal.client,
        config.taskQueue,
        { dbKey, mode: 'up', plans: pending, migrationIds: [], options: runOptionsFrom(config, await hasSearchAttributes(temporal.client, config.temporalNamespace)) },
        config.lock,
      );
      if (detach) return detached(temporal.client, config, run.workflowId, pending.map((p) => p.id), out);
      const result = await followRunLive(temporal.client, run, out);
      if (out.json) out.data({ exitCode: result.exitCode, message: result.message, finished: result.finished });
      if (result.exitCode === EXIT.OK) out.info(`Applied: ${result.finished.map((f) => `${f.migrationId} (${f.outcome})`).join(', ')}`);
      else out.error(result.message);
      return result.exitCode as ExitCode;
    });
  });
}

async function detached(client: Client, config: ResolvedConfig, runnerId: string, ids: string[], out: Output): Promise<ExitCode> {
  out.info(`Started runner ${runnerId}; not waiting (--detach).`);
  out.info(`Follow it: ${ids.map((id) => `stockrx-migrate watch ${id}`).join(', ')}; or \`stockrx-migrate status\`.`);
  const pollers = await workflowPollerCount(client, config.temporalNamespace, config.taskQueue).catch(() => null);
  if (pollers === 0) {
    out.warn(`no worker polls task queue ${config.taskQueue} yet: the run waits (holding the database's lock) until one starts — run \`stockrx-migrate worker\` with the same DATABASE_URL`);
  }
  if (out.json) out.data({ detached: true, runnerWorkflowId: runnerId, migrations: ids, workersPolling: pollers });
  return EXIT.OK;
}
