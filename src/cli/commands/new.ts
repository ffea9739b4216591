// `new NAME`: writes a migration file with a UTC timestamp id and a template to start from.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../../config/errors';
import { type ResolvedConfig } from '../../config/resolve-config';
import { EXIT, type ExitCode } from '../exit-codes';
import { type Output } from '../output';

export function utcTimestamp(date = new Date()): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

export function snakeName(name: string): string {
  const snake = name
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
  if (!/^[a-z0-9]+(?:_[a-z0-9]+)*$/.test(snake)) {
    throw new ConfigError(`"${name}" is not a usable migration name`, { hint: 'use words, e.g. `stockrx-migrate new add_index_to_inventories`' });
  }
  return snake;
}

const TEMPLATE = (description: string) => `import { defineMigration } from 'stockrx-migrate';

export default defineMigration({
  description: ${JSON.stringify(description)},
  steps: (m) => [
    // Each step is undone automatically if a later one fails, and by \`stockrx-migrate down\`.
    // m.addIndex('inventories', ['name']),
    // m.addColumn('inventories', 'sku', 'text'),
    m.sql({ up: 'SELECT 1', down: 'SELECT 1' }),
  ],
  // validate: (v) => [v.noRows('inventories', 'price < 0')],
});
`;

export async function newCommand(config: ResolvedConfig, name: string, out: Output): Promise<ExitCode> {
  const snake = snakeName(name);
  await mkdir(config.migrationsDir, { recursive: true });
  const file = path.join(config.migrationsDir, `${utcTimestamp()}_${snake}.ts`);
  if (existsSync(file)) throw new ConfigError(`${file} already exists`, { hint: 'wait a second or choose another name' });
  await writeFile(file, TEMPLATE(snake.replace(/_/g, ' ')), { flag: 'wx' });
  if (out.json) out.data({ file });
  else out.info(`Created ${path.relative(config.cwd, file)}`);
  return EXIT.OK;
}
