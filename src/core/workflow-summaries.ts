// What the Temporal Web UI shows for our workflows before anyone opens a payload: a static summary
// (one line) and static details (markdown) on the workflow page, both fixed when the workflow
// starts. The live part — step, rows, rate, alerts —
// is the migration's current details (workflows/monitor.ts).
//
// Temporal does not carry user metadata over continue-as-new (server 1.32 builds the new run's
// start request without it, and SDK 1.24 has no option for it), so after a long data step's first
// continue-as-new only the current details remain; they repeat id and description for that reason.
import { type MigrationPlan } from './plan';

export interface WorkflowMetadata {
  staticSummary: string;
  staticDetails: string;
}

/** The UI shows the summary on one line; anything longer is noise in a list. */
const SUMMARY_MAX = 200;
/** Steps or migrations listed in the details before "… and N more". */
const LIST_MAX = 20;

/** Whitespace collapsed (the summary is one line) and long text cut with an ellipsis. */
function oneLine(text: string, max = SUMMARY_MAX): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1).trimEnd()}…`;
}

function bulleted(lines: string[], numbered: boolean): string {
  const shown = lines.slice(0, LIST_MAX).map((line, i) => `${numbered ? `${i + 1}.` : '-'} ${oneLine(line, 300)}`);
  if (lines.length > LIST_MAX) shown.push(`\n… and ${lines.length - LIST_MAX} more`);
  return shown.join('\n');
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * "<id>: <description>" (just the id when the migration has no description). Deliberately not the
 * current details' "<id> — <description>" heading, so the two stay distinguishable on the page.
 */
export function migrationSummary(plan: Pick<MigrationPlan, 'id' | 'description'>): string {
  return oneLine(plan.description && plan.description !== plan.id ? `${plan.id}: ${plan.description}` : plan.id);
}

export function migrationMetadata(plan: MigrationPlan, dbKey: string): WorkflowMetadata {
  const facts = [
    `file \`${plan.file}\``,
    `checksum \`${plan.checksum.slice(0, 12)}\``,
    plural(plan.steps.length, 'step'),
    plural(plan.validations.length, 'validation'),
    ...(plan.irreversible ? ['**irreversible**: `down` past it is refused'] : []),
  ];
  return {
    staticSummary: migrationSummary(plan),
    staticDetails:
      `**migrate up** \`${plan.id}\` on \`${dbKey}\`\n\n` +
      `${plan.description && plan.description !== plan.id ? `${plan.description}\n\n` : ''}` +
      `${facts.join(' · ')}\n\n` +
      bulleted(
        plan.steps.map((step) => step.label),
        true,
      ),
  };
}

export function rollbackMetadata(migrationId: string, dbKey: string): WorkflowMetadata {
  return {
    staticSummary: oneLine(`rollback of ${migrationId}`),
    staticDetails:
      `**rollback** of \`${migrationId}\` on \`${dbKey}\`\n\n` +
      'Runs the compensations recorded in the journal (`stockrx_migrate.steps`), last step first.',
  };
}

export interface RunnerDescription {
  dbKey: string;
  mode: 'up' | 'down';
  plans: Pick<MigrationPlan, 'id' | 'description'>[];
  migrationIds: string[];
}

/** The runner is the database's lock: say which database, which direction and what it runs. */
export function runnerMetadata(run: RunnerDescription): WorkflowMetadata {
  const ids = run.mode === 'up' ? run.plans.map((p) => p.id) : run.migrationIds;
  const what = run.mode === 'up' ? `migrate up ${plural(ids.length, 'migration')}` : `roll back ${plural(ids.length, 'migration')}`;
  const items = run.mode === 'up' ? run.plans.map((p) => migrationSummary(p)) : run.migrationIds.map((id) => `rollback of ${id}`);
  return {
    staticSummary: oneLine(`${run.dbKey}: ${what}${ids.length > 0 ? ` (${ids.join(', ')})` : ''}`),
    staticDetails:
      `**stockrx-migrate runner** for \`${run.dbKey}\`: holds the database's migration lock while it runs, ` +
      `and runs each ${run.mode === 'up' ? 'migration' : 'rollback'} as a child workflow, in this order:\n\n` +
      bulleted(items, true),
  };
}
