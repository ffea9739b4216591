// `purge-backups ID… [--yes]`: drop what applied migrations keep for their undo
// (db/purge-backups.ts). Without --yes it only shows what would be dropped and how big it is: the
// purge gives up `down` for good, so it is never the default. Every ID is checked before anything
// is dropped; one that cannot be purged stops the command with exit 2 and no change.
import { type ResolvedConfig } from '../../config/resolve-config';
import { formatPlanProblem, PlanError, type PlanProblem } from '../../core/plan-error';
import { isPlanProblem, type MigrationBackups, purgeBackups, readBackups } from '../../db/purge-backups';
import { CliExit, EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';
import { withTargetDatabase } from '../session';

export async function purgeBackupsCommand(config: ResolvedConfig, ids: string[], options: { yes: boolean }, out: Output): Promise<ExitCode> {
  return withTargetDatabase(config, async (target, dbKey) => {
    const unique = [...new Set(ids)];
    const found = await Promise.all(unique.map((id) => readBackups(target.db, id)));
    const problems = found.filter(isPlanProblem);
    if (problems.length > 0) throw new PlanError(problems);
    const previews = found as MigrationBackups[];
    if (!options.yes) {
      if (out.json) out.data({ database: dbKey, dryRun: true, migrations: previews.map(toJson) });
      else {
        out.info(`Backups kept on ${dbKey} (nothing dropped):`);
        for (const m of previews) printBackups(m, out);
        const total = sum(previews);
        if (total.tables > 0) out.info(`Run again with --yes to drop ${total.tables} table${total.tables === 1 ? '' : 's'} (${formatBytes(total.bytes)}); \`down\` then refuses ${previews.filter((m) => m.steps.length > 0).map((m) => m.migrationId).join(', ')} for good.`);
      }
      return EXIT.OK;
    }
    const purged: MigrationBackups[] = [];
    const refused: PlanProblem[] = [];
    for (const id of unique) {
      // Checked again under the journal row's lock: a `down` may have started since the check above.
      const result = await purgeBackups(target.db, id, new Date());
      if (isPlanProblem(result)) refused.push(result);
      else purged.push(result);
    }
    if (out.json) out.data({ database: dbKey, dryRun: false, migrations: purged.map(toJson), refused });
    else {
      for (const m of purged) {
        const { tables, bytes } = sum([m]);
        if (tables === 0) printBackups(m, out);
        else out.info(`${m.migrationId}: dropped ${tables} backup table${tables === 1 ? '' : 's'} (${formatBytes(bytes)}); \`down\` now refuses it.`);
      }
    }
    if (refused.length === 0) return EXIT.OK;
    // Only a run that started since the check above gets here; what was purged stays purged.
    if (purged.length === 0) throw new PlanError(refused);
    throw new CliExit(EXIT.BAD_INPUT, `not purged (the others above were):\n${refused.map((p) => `  ${formatPlanProblem(p)}`).join('\n')}`);
  });
}

function printBackups(m: MigrationBackups, out: Output): void {
  if (m.steps.length === 0) {
    out.info(m.purgedAt ? `${m.migrationId}: its backups were purged at ${m.purgedAt}; nothing left to drop` : `${m.migrationId}: keeps no backups (its steps are undone without them); nothing to drop`);
    return;
  }
  out.info(`${m.migrationId}:`);
  for (const s of m.steps) {
    for (const t of s.tables) out.info(`  step ${s.stepIndex + 1} (${s.label}): ${t.table.schema}.${t.table.name}  ${t.bytes === null ? 'already gone' : formatBytes(t.bytes)}`);
  }
}

function sum(ms: MigrationBackups[]): { tables: number; bytes: number } {
  const tables = ms.flatMap((m) => m.steps.flatMap((s) => s.tables));
  return { tables: tables.length, bytes: tables.reduce((a, t) => a + (t.bytes ?? 0), 0) };
}

function toJson(m: MigrationBackups) {
  return {
    id: m.migrationId,
    purgedAt: m.purgedAt,
    tables: m.steps.flatMap((s) => s.tables.map((t) => ({ step: s.stepIndex + 1, label: s.label, table: `${t.table.schema}.${t.table.name}`, bytes: t.bytes }))),
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
