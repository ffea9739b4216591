// Finds migration files, imports them (TypeScript through tsx, no build step) and compiles each to
// its plan. Every problem in every file is collected, so one run of `plan` shows them all.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compilePlan } from '../authoring/compile-plan';
import { isDefinedMigration } from '../authoring/define-migration';
import { ConfigError } from '../config/errors';
import { redactSecrets } from '../config/redact';
import { type MigrationPlan } from '../core/plan';
import { PlanError, type PlanProblem } from '../core/plan-error';

const MIGRATION_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];

export async function loadMigrations(migrationsDir: string): Promise<MigrationPlan[]> {
  if (!existsSync(migrationsDir)) {
    throw new ConfigError(`migrations directory ${migrationsDir} does not exist`, {
      hint: 'create it with `stockrx-migrate new NAME`, or point STOCKRX_MIGRATIONS_DIR / --migrations-dir at yours',
    });
  }
  const files = (await readdir(migrationsDir))
    .filter((f) => MIGRATION_EXTENSIONS.includes(path.extname(f)) && !f.endsWith('.d.ts'))
    .sort();

  const problems: PlanProblem[] = [];
  const plans: MigrationPlan[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const id = path.basename(file, path.extname(file));
    const earlier = seen.get(id);
    if (earlier) {
      problems.push({ file, message: `duplicate migration id ${id} (also ${earlier}); rename one of them` });
      continue;
    }
    seen.set(id, file);
    let loaded: { default?: unknown };
    try {
      loaded = (await import(pathToFileURL(path.join(migrationsDir, file)).href)) as { default?: unknown };
    } catch (error) {
      // Not just the first line: esbuild's is "Transform failed with 1 error:", and the line:column
      // and what is wrong follow on the next ones.
      const detail = redactSecrets(error instanceof Error ? error.message : String(error))
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean)
        .slice(0, 4)
        .join(' ');
      problems.push({ file, message: `cannot be loaded: ${detail}`, fix: 'correct the file so it compiles and imports without throwing' });
      continue;
    }
    if (!isDefinedMigration(loaded.default)) {
      problems.push({ file, message: "its default export must be `defineMigration({...})` imported from 'stockrx-migrate'" });
      continue;
    }
    try {
      plans.push(compilePlan(id, file, loaded.default));
    } catch (error) {
      if (error instanceof PlanError) problems.push(...error.problems);
      else problems.push({ file, message: `cannot be planned: ${error instanceof Error ? error.message : String(error)}` });
    }
  }
  if (problems.length > 0) throw new PlanError(problems);
  return plans;
}
