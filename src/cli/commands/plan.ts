// `plan`: the dry run. Compiles pending migrations, checks them against the live database and
// prints what would run, with lint findings. Changes nothing.
import { preflightUp } from '../../client/preflight';
import { type ResolvedConfig } from '../../config/resolve-config';
import { formatPlanProblem } from '../../core/plan-error';
import { type StepPlan } from '../../core/plan';
import { EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';
import { withTargetDatabase } from '../session';

function stepSql(step: StepPlan): string | null {
  switch (step.kind) {
    case 'createTable':
    case 'addColumn':
      return step.sql;
    case 'sql':
      return `${step.up}${step.down ? `\n        down: ${step.down}` : '\n        (irreversible)'}`;
    case 'updateRecords':
    case 'deleteRecords':
    case 'eachBatch':
      return `${step.where ? `where ${step.where.sql}${step.where.parameters.length ? `  params ${JSON.stringify(step.where.parameters)}` : ''}` : 'every row'}; ${step.backup ? 'backup kept for undo' : 'NO BACKUP (irreversible)'}`;
    case 'createRecords':
      return `${step.rowCount} rows (${step.columns.join(', ')}) in batches of ${step.batchSize}; ${step.backup ? 'created keys kept for undo' : 'NO BACKUP (irreversible)'}`;
    default:
      return null;
  }
}

export async function planCommand(config: ResolvedConfig, options: { to?: string }, out: Output): Promise<ExitCode> {
  return withTargetDatabase(config, async (target, dbKey) => {
    const { pending, warnings } = await preflightUp(target.db, config, options.to === undefined ? {} : { to: options.to });
    if (out.json) {
      out.data({ database: dbKey, pending, warnings: warnings.map(formatPlanProblem) });
      return EXIT.OK;
    }
    out.info(pending.length === 0 ? `Nothing to apply on ${dbKey}.` : `Plan for ${dbKey} (nothing has been changed):`);
    for (const plan of pending) {
      out.info(`\n${plan.id}  ${plan.description}${plan.irreversible ? '  [irreversible]' : ''}\n  checksum ${plan.checksum.slice(0, 12)}`);
      for (const step of plan.steps) {
        const text = stepSql(step);
        out.info(`  ${String(step.index + 1).padStart(2)}. ${step.label}${text ? `\n        ${text}` : ''}`);
      }
      for (const validation of plan.validations) out.info(`   ✓ ${validation.label}`);
    }
    for (const warning of warnings) out.warn(formatPlanProblem(warning));
    return EXIT.OK;
  });
}
