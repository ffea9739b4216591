// Loads migration modules on the worker, for the parts of a migration that are code rather than
// plan: validation `check` handlers (and, later, eachBatch handlers). Files are TypeScript, loaded
// through tsx, which the worker process runs under.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { type DefinedMigration, isDefinedMigration } from '../authoring/define-migration';

export interface MigrationRegistry {
  load(file: string): Promise<DefinedMigration>;
}

export function createMigrationRegistry(migrationsDir: string): MigrationRegistry {
  const cache = new Map<string, Promise<DefinedMigration>>();
  return {
    load(file) {
      let loading = cache.get(file);
      if (!loading) {
        loading = (async () => {
          const full = path.resolve(migrationsDir, file);
          if (!full.startsWith(path.resolve(migrationsDir) + path.sep)) {
            throw ApplicationFailure.create({ message: `migration file ${file} is outside the migrations directory`, nonRetryable: true });
          }
          const module = (await import(pathToFileURL(full).href)) as { default?: unknown };
          if (!isDefinedMigration(module.default)) {
            throw ApplicationFailure.create({ message: `${file} does not export default defineMigration(...) on this worker (is its migrations directory ${migrationsDir}?)`, nonRetryable: true });
          }
          return module.default;
        })();
        cache.set(file, loading);
        loading.catch(() => cache.delete(file));
      }
      return loading;
    },
  };
}
