// Where the demo's files live: inside this package, whatever directory the CLI runs in. The demo
// applies the package's example migrations, not the user's `--migrations-dir`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The StockRx example migrations (the seed's AddIndexToInventories and friends). */
export const DEMO_MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'migrations');

/** A migration that fails on its last step, kept apart so `up` never applies it. */
export const DEMO_FAILING_DIR = path.join(PACKAGE_ROOT, 'examples', 'failing');

/** Paths in messages: relative to the package when inside it. */
export function displayPath(file: string): string {
  const relative = path.relative(PACKAGE_ROOT, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}
