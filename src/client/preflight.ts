// Everything `up`, `down` and `plan` check before a workflow starts. Problems become exit code 2
// and nothing is written: this only reads the catalog and the journal (if it exists).
import { type ResolvedConfig } from '../config/resolve-config';
import { type MigrationPlan } from '../core/plan';
import { PlanError, type PlanProblem } from '../core/plan-error';
import { checkPlans } from '../core/plan-checks';
import { readCatalog } from '../db/catalog';
import { type Db } from '../db/connect';
import { listJournal, readStepRecords, type JournalRow } from '../db/journal';
import { journalExists } from '../db/journal-schema';
import { loadMigrations } from './load-migrations';

export interface UpPreflight {
  plans: MigrationPlan[];
  journal: JournalRow[];
  pending: MigrationPlan[];
  warnings: PlanProblem[];
}

export async function readJournalIfAny(db: Db): Promise<JournalRow[]> {
  return (await journalExists(db)) ? listJournal(db) : [];
}

export async function preflightUp(db: Db, config: ResolvedConfig, options: { to?: string } = {}): Promise<UpPreflight> {
  const plans = await loadMigrations(config.migrationsDir);
  const journal = await readJournalIfAny(db);
  const rows = new Map(journal.map((r) => [r.id, r]));
  const problems: PlanProblem[] = [];

  for (const plan of plans) {
    const row = rows.get(plan.id);
    if (row?.status === 'applied' && row.checksum !== plan.checksum) {
      problems.push({ file: plan.file, message: 'was edited after it was applied (checksum differs); restore the applied version, or write a new migration for the change' });
    }
    if (row?.status === 'compensation_failed') {
      problems.push({ file: plan.file, message: `has a failed compensation waiting for an operator: \`stockrx-migrate resolve ${plan.id} --retry\` or --skip` });
    }
  }
  if (options.to !== undefined && !plans.some((p) => p.id === options.to)) {
    problems.push({ file: options.to, message: `--to names no migration in ${config.migrationsDir}`, fix: 'pass the id of a migration file (its name without the extension); `stockrx-migrate status` lists them' });
  }
  if (problems.length > 0) throw new PlanError(problems);

  const pending = plans.filter((p) => rows.get(p.id)?.status !== 'applied' && (options.to === undefined || p.id <= options.to));
  const { problems: catalogProblems, warnings } = checkPlans(pending, await readCatalog(db));
  if (catalogProblems.length > 0) throw new PlanError(catalogProblems);
  return { plans, journal, pending, warnings };
}

export interface DownPreflight {
  migrationIds: string[];
}

/** Picks what `down` rolls back (newest first) and refuses irreversible ones up front. */
export async function preflightDown(db: Db, options: { id?: string; steps?: number }): Promise<DownPreflight> {
  const journal = await readJournalIfAny(db);
  const applied = journal.filter((r) => r.status === 'applied' || r.status === 'running').sort((a, b) => b.id.localeCompare(a.id));
  let chosen: JournalRow[];
  if (options.id !== undefined) {
    const row = journal.find((r) => r.id === options.id);
    if (!row || (row.status !== 'applied' && row.status !== 'running')) {
      throw new PlanError([{ file: options.id, message: row ? `is ${row.status}, not applied; nothing to roll back` : 'was never applied to this database' }]);
    }
    // Rolling back one migration means rolling back everything applied after it first.
    chosen = applied.filter((r) => r.id >= options.id!);
  } else {
    chosen = applied.slice(0, options.steps ?? 1);
  }
  const problems: PlanProblem[] = [];
  for (const row of chosen) {
    const records = await readStepRecords(db, row.id);
    const irreversible = records.find((r) => r.compensation.action.kind === 'irreversible');
    if (irreversible) {
      // A step made irreversible by purge-backups says when; one declared so needs no more words.
      const action = irreversible.compensation.action;
      const purged = action.kind === 'irreversible' && action.purgedAt ? ` (${action.reason})` : '';
      problems.push({
        file: row.id,
        step: { number: irreversible.step_index + 1, label: irreversible.label },
        message: `is irreversible${purged}, so down cannot pass this migration; nothing was rolled back`,
        fix: 'roll back only the migrations applied after it (`down --steps N`), or undo its change with a new migration',
      });
    }
  }
  if (problems.length > 0) throw new PlanError(problems);
  return { migrationIds: chosen.map((r) => r.id) };
}
