import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors';
import { resolveConfig } from '../../src/config/resolve-config';

// Config errors are printed to terminals and CI logs: whatever went wrong, the password must not.
const PASSWORD = 'hunter2';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function project(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'stockrx-secrets-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

interface Case {
  name: string;
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  files?: Record<string, string>;
}

const cases: Case[] = [
  { name: 'mysql URL in env', env: { DATABASE_URL: `mysql://app:${PASSWORD}@db/shop` } },
  { name: 'bad port', env: { DATABASE_URL: `postgres://app:${PASSWORD}@db:99999/shop` } },
  { name: 'non-numeric port', env: { DATABASE_URL: `postgres://app:${PASSWORD}@db:port/shop` } },
  { name: 'no database', env: { DATABASE_URL: `postgres://app:${PASSWORD}@db` } },
  { name: 'multi-host URL', env: { DATABASE_URL: `postgres://app:${PASSWORD}@h1:5432,h2:5432/shop` } },
  { name: 'password with a space', env: { DATABASE_URL: `postgres://app:${PASSWORD} x@db:bad/shop` } },
  { name: 'unencoded slash in password', env: { DATABASE_URL: `postgres://app:${PASSWORD}/x@db/shop` } },
  { name: 'key=value DSN', env: { DATABASE_URL: `host=db user=app password=${PASSWORD} dbname=shop` } },
  { name: 'URL without scheme in a flag', flags: { databaseUrl: `app:${PASSWORD}@db/shop` } },
  { name: 'lock key that is a URL', flags: { lockKey: `postgres://app:${PASSWORD}@db/shop` } },
  { name: 'credentials in the Temporal address', env: { TEMPORAL_ADDRESS: `app:${PASSWORD}@temporal:7233` } },
  { name: 'scheme in the Temporal address', env: { TEMPORAL_ADDRESS: `https://app:${PASSWORD}@temporal:7233` } },
  { name: 'non-http webhook', env: { STOCKRX_WEBHOOK_URL: `ftp://app:${PASSWORD}@hooks/x` } },
  { name: 'webhook that is not a URL', env: { STOCKRX_WEBHOOK_URL: `hooks/${PASSWORD}` } },
  {
    name: 'JSON syntax error right after a password',
    files: { 'stockrx-migrate.config.json': `{ "databaseUrl": "postgres://app:${PASSWORD}@db/shop",, }` },
  },
  {
    name: 'JSON syntax error inside a password',
    files: { 'stockrx-migrate.config.json': `{ "databaseUrl": "postgres://app:${PASSWORD}\u0001@db/shop" }` },
  },
  {
    name: 'TypeScript syntax error near a password',
    files: { 'stockrx-migrate.config.ts': `export default { databaseUrl: 'postgres://app:${PASSWORD}@db/shop' ` },
  },
  {
    name: 'bad URL in a .ts config',
    files: { 'stockrx-migrate.config.ts': `export default { databaseUrl: 'mysql://app:${PASSWORD}@db/shop' };\n` },
  },
  {
    name: 'unknown key next to a password',
    files: { 'stockrx-migrate.config.json': JSON.stringify({ databaseUrl: `postgres://app:${PASSWORD}@db/shop`, password: PASSWORD }) },
  },
];

void describe('config errors never contain the password', () => {
  for (const { name, flags = {}, env = {}, files = {} } of cases) {
    void it(name, async () => {
      let caught: unknown;
      try {
        await resolveConfig(flags, env, project(files));
      } catch (error) {
        caught = error;
      }
      assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
      const shown = [caught.message, caught.hint, caught.stack, String(caught), JSON.stringify(caught)].join('\n');
      assert.ok(!shown.includes(PASSWORD), `password leaked:\n${shown}`);
    });
  }
});
