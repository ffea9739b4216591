// `status` reads one migrations directory, but the demo's failing migration lives apart from
// migrations/ (so `up` never applies it). For the demo's final `status`, a temporary directory of
// symlinks shows both sets, so the failed one is listed with its description instead of as
// "file missing". Node resolves symlinked modules to their real path, so the files' own imports
// (`stockrx-migrate`, kysely) resolve exactly as they do in place.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const MIGRATION_FILE = /\.(?:ts|mts|js|mjs)$/;

export interface MigrationsView {
  dir: string;
  remove(): Promise<void>;
}

export async function createMigrationsView(sources: readonly string[]): Promise<MigrationsView> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'stockrx-demo-migrations-'));
  try {
    for (const source of sources) {
      for (const name of await fsp.readdir(source)) {
        if (!MIGRATION_FILE.test(name) || name.endsWith('.d.ts')) continue;
        await fsp.symlink(path.join(source, name), path.join(dir, name));
      }
    }
  } catch (error) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw error;
  }
  return { dir, remove: () => fsp.rm(dir, { recursive: true, force: true }) };
}
