// `status`: every migration file and journal entry with its state. Reads the database only.
import { loadMigrations } from '../../client/load-migrations';
import { readJournalIfAny } from '../../client/preflight';
import { type ResolvedConfig } from '../../config/resolve-config';
import { type MigrationPlan } from '../../core/plan';
import { PlanError } from '../../core/plan-error';
import { EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';
import { withTargetDatabase } from '../session';

export interface StatusEntry {
  id: string;
  status: string;
  description: string | null;
  appliedAt: string | null;
  finishedAt: string | null;
  lastError: string | null;
  workflowId: string | null;
  /** The file changed since it was applied. */
  edited: boolean;
  /** The journal knows it but the file is gone. */
  fileMissing: boolean;
}

export async function statusCommand(config: ResolvedConfig, out: Output): Promise<ExitCode> {
  return withTargetDatabase(config, async (target, dbKey) => {
    let plans: MigrationPlan[] = [];
    let fileProblems: string[] = [];
    try {
      plans = await loadMigrations(config.migrationsDir);
    } catch (error) {
      if (!(error instanceof PlanError)) throw error;
      fileProblems = error.message.split('\n');
    }
    const journal = await readJournalIfAny(target.db);
    const rows = new Map(journal.map((r) => [r.id, r]));
    const ids = [...new Set([...plans.map((p) => p.id), ...journal.map((r) => r.id)])].sort();
    const entries: StatusEntry[] = ids.map((id) => {
      const row = rows.get(id);
      const plan = plans.find((p) => p.id === id);
      return {
        id,
        status: row?.status ?? 'pending',
        description: plan?.description ?? row?.description ?? null,
        appliedAt: row?.status === 'applied' ? (row.applied_at?.toISOString() ?? null) : null,
        finishedAt: row?.finished_at?.toISOString() ?? null,
        lastError: row?.last_error ?? null,
        workflowId: row?.workflow_id ?? null,
        edited: !!row && !!plan && row.status === 'applied' && row.checksum !== plan.checksum,
        fileMissing: !!row && !plan,
      };
    });
    if (out.json) {
      out.data({ database: dbKey, migrations: entries, fileProblems });
      return EXIT.OK;
    }
    out.info(`Database ${dbKey}`);
    if (entries.length === 0) out.info('  no migrations yet: create one with `stockrx-migrate new NAME`');
    for (const e of entries) {
      const flags = [e.edited ? 'EDITED since applied' : '', e.fileMissing ? 'file missing' : ''].filter(Boolean).join(', ');
      out.info(`  ${e.status.padEnd(19)} ${e.id}${e.appliedAt ? `  applied ${e.appliedAt}` : ''}${flags ? `  [${flags}]` : ''}`);
      if (e.lastError && e.status !== 'applied') out.info(`  ${''.padEnd(19)} last error: ${e.lastError}`);
    }
    for (const problem of fileProblems) out.warn(problem);
    return EXIT.OK;
  });
}
