// `up [--to ID]`: apply pending migrations through the runner workflow.
import { followRun, startRunner } from '../../client/run-workflow';
import { hasSearchAttributes } from '../../client/search-attributes';
import { preflightUp } from '../../client/preflight';
import { type ResolvedConfig } from '../../config/resolve-config';
import { formatPlanProblem } from '../../core/plan-error';
import { runOptionsFrom } from '../run-options';
import { EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';
import { describeProgress } from '../progress-line';
import { withTargetDatabase, withWorkflows } from '../session';

export interface UpOptions {
  to?: string;
  worker: boolean;
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
    return withWorkflows(config, { worker: options.worker, log: (m) => out.info(m) }, async ({ temporal }) => {
      if (temporal.uiUrl) out.info(`Temporal Web UI: ${temporal.uiUrl}`);
      const run = await startRunner(
        temporal.client,
        config.taskQueue,
        { dbKey, mode: 'up', plans: pending, migrationIds: [], options: runOptionsFrom(config, await hasSearchAttributes(temporal.client, config.temporalNamespace)) },
        config.lock,
      );
      const result = await followRun(temporal.client, run, (p) => out.info(describeProgress(p)));
      if (out.json) out.data({ exitCode: result.exitCode, message: result.message, finished: result.finished });
      if (result.exitCode === EXIT.OK) out.info(`Applied: ${result.finished.map((f) => `${f.migrationId} (${f.outcome})`).join(', ')}`);
      else out.error(result.message);
      return result.exitCode as ExitCode;
    });
  });
}
