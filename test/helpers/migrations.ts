// Writes migration files for a test into a fresh directory inside the repo (so that
// `import { defineMigration } from 'stockrx-migrate'` resolves through the package's self-reference).
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './cli';

export interface MigrationsDir {
  dir: string;
  write(id: string, source: string): Promise<string>;
  remove(id: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createMigrationsDir(prefix: string): Promise<MigrationsDir> {
  const dir = path.join(REPO_ROOT, '.tmp', 'test-migrations', `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  return {
    dir,
    async write(id, source) {
      const file = path.join(dir, `${id}.ts`);
      await writeFile(file, source);
      return file;
    },
    async remove(id) {
      await rm(path.join(dir, `${id}.ts`), { force: true });
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Source of a migration file whose steps are the given `m.…` expressions. */
export function migrationSource(steps: string[], extra = ''): string {
  return `import { defineMigration } from 'stockrx-migrate';\n\nexport default defineMigration({\n  steps: (m) => [\n    ${steps.join(',\n    ')},\n  ],\n${extra}});\n`;
}
