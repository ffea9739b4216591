// `down [ID | --steps N]`: roll back applied migrations (newest first) through the runner.
import { startRunner } from '../../client/run-workflow';
import { hasSearchAttributes } from '../../client/search-attributes';
import { preflightDown } from '../../client/preflight';
import { type ResolvedConfig } from '../../config/resolve-config';
import { runOptionsFrom } from '../run-options';
import { EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';
import { followRunLive } from '../live-progress';
import { withTargetDatabase, withWorkflows } from '../session';

export interface DownOptions {
  id?: string;
  steps?: number;
  worker: boolean;
}

export async function downCommand(config: ResolvedConfig, options: DownOptions, out: Output): Promise<ExitCode> {
  return withTargetDatabase(config, async (target, dbKey) => {
    const { migrationIds } = await preflightDown(target.db, options);
    if (migrationIds.length === 0) {
      out.info('Nothing to roll back: no migration is applied.');
      if (out.json) out.data({ rolledBack: [] });
      return EXIT.OK;
    }
    out.info(`Rolling back ${migrationIds.join(', ')} on ${dbKey}`);
    return withWorkflows(config, { worker: options.worker, log: (m) => out.info(m) }, async ({ temporal }) => {
      const run = await startRunner(temporal.client, config.taskQueue, { dbKey, mode: 'down', plans: [], migrationIds, options: runOptionsFrom(config, await hasSearchAttributes(temporal.client, config.temporalNamespace)) }, config.lock);
      const result = await followRunLive(temporal.client, run, out);
      if (out.json) out.data({ exitCode: result.exitCode, message: result.message, finished: result.finished });
      if (result.exitCode === EXIT.OK) out.info(`Rolled back: ${result.finished.map((f) => f.migrationId).join(', ')}`);
      else out.error(result.message);
      return result.exitCode as ExitCode;
    });
  });
}
