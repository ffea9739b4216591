import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors';
import { DEFAULT_LOCK, requireDatabaseUrl, resolveConfig } from '../../src/config/resolve-config';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh cwd holding the given files. */
function project(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'stockrx-config-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const json = (value: unknown) => ({ 'stockrx-migrate.config.json': JSON.stringify(value) });

/** Asserts a ConfigError whose message matches and returns it for further checks. */
async function rejects(promise: Promise<unknown>, message: RegExp): Promise<ConfigError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.match(caught.message, message);
  assert.equal(caught.exitCode, 2);
  assert.ok(caught.hint, 'a ConfigError says how to fix it');
  return caught;
}

void describe('resolveConfig defaults', () => {
  void it('fills every field from the defaults', async () => {
    const cwd = project();
    assert.deepEqual(await resolveConfig({}, {}, cwd), {
      cwd,
      databaseUrl: null,
      temporalAddress: null,
      temporalNamespace: 'default',
      taskQueue: 'stockrx-migrate',
      migrationsDir: path.join(cwd, 'migrations'),
      stateDir: path.join(cwd, '.stockrx'),
      reportsDir: path.join(cwd, 'log', 'migrations'),
      lockKey: null,
      lock: { timeoutMs: 300_000, retryCount: 3, retryDelayMs: 1_000, statementLockTimeoutMs: 5_000 },
      metricsPort: 9464,
      webhookUrl: null,
      json: false,
    });
  });

  void it('derives the lock key and a per-database task queue from DATABASE_URL', async () => {
    const config = await resolveConfig({}, { DATABASE_URL: 'postgresql://app:pw@DB.internal/shop' }, project());
    assert.equal(config.lockKey, 'db.internal:5432/shop');
    assert.equal(config.taskQueue, 'stockrx-migrate@db.internal:5432/shop');
  });

  void it('does not share the default lock object between calls', async () => {
    const config = await resolveConfig({}, {}, project());
    assert.notEqual(config.lock, DEFAULT_LOCK);
  });
});

void describe('resolveConfig precedence: flags > env > file > defaults', () => {
  const fileValues = {
    databaseUrl: 'postgres://file@file-db/filedb',
    temporalNamespace: 'from-file',
    metricsPort: 1111,
    migrationsDir: 'file-migrations',
    temporalAddress: 'file-temporal:7233',
  };
  const envValues = {
    DATABASE_URL: 'postgres://env@env-db/envdb',
    TEMPORAL_NAMESPACE: 'from-env',
    STOCKRX_METRICS_PORT: '2222',
    STOCKRX_MIGRATIONS_DIR: '/abs/env-migrations',
  };

  void it('file beats defaults', async () => {
    const cwd = project(json(fileValues));
    const config = await resolveConfig({}, {}, cwd);
    assert.equal(config.databaseUrl, fileValues.databaseUrl);
    assert.equal(config.temporalNamespace, 'from-file');
    assert.equal(config.metricsPort, 1111);
    assert.equal(config.migrationsDir, path.join(cwd, 'file-migrations'));
    assert.equal(config.temporalAddress, 'file-temporal:7233');
  });

  void it('env beats file', async () => {
    const config = await resolveConfig({}, envValues, project(json(fileValues)));
    assert.equal(config.databaseUrl, envValues.DATABASE_URL);
    assert.equal(config.lockKey, 'env-db:5432/envdb');
    assert.equal(config.temporalNamespace, 'from-env');
    assert.equal(config.metricsPort, 2222);
    assert.equal(config.migrationsDir, '/abs/env-migrations');
    assert.equal(config.temporalAddress, 'file-temporal:7233', 'unset in env, so the file still applies');
  });

  void it('flags beat env', async () => {
    const config = await resolveConfig(
      { databaseUrl: 'postgres://flag@flag-db/flagdb', temporalNamespace: 'from-flag', metricsPort: '3333', json: true },
      envValues,
      project(json(fileValues)),
    );
    assert.equal(config.databaseUrl, 'postgres://flag@flag-db/flagdb');
    assert.equal(config.lockKey, 'flag-db:5432/flagdb');
    assert.equal(config.temporalNamespace, 'from-flag');
    assert.equal(config.metricsPort, 3333);
    assert.equal(config.json, true);
  });

  void it('treats empty env values as unset', async () => {
    const config = await resolveConfig({}, { DATABASE_URL: '', TEMPORAL_ADDRESS: '  ' }, project(json(fileValues)));
    assert.equal(config.databaseUrl, fileValues.databaseUrl);
    assert.equal(config.temporalAddress, 'file-temporal:7233');
  });

  void it('ignores undefined flags and verb options it does not know', async () => {
    const config = await resolveConfig({ databaseUrl: undefined, to: '20240101_x', worker: false }, envValues, project());
    assert.equal(config.databaseUrl, envValues.DATABASE_URL);
  });

  void it('--lock-key overrides the derived key and moves the task queue with it', async () => {
    const config = await resolveConfig({ lockKey: 'shop-primary' }, envValues, project());
    assert.equal(config.lockKey, 'shop-primary');
    assert.equal(config.taskQueue, 'stockrx-migrate@shop-primary');
  });

  void it('STOCKRX_TASK_QUEUE overrides the derived queue', async () => {
    const config = await resolveConfig({}, { ...envValues, STOCKRX_TASK_QUEUE: 'custom-q' }, project());
    assert.equal(config.taskQueue, 'custom-q');
  });

  void it('merges a partial lock section over the seed defaults; STOCKRX_LOCK_TIMEOUT_MS beats the file', async () => {
    const cwd = project(json({ lock: { retryCount: 5, statementLockTimeoutMs: 2_000 } }));
    assert.deepEqual((await resolveConfig({}, {}, cwd)).lock, { ...DEFAULT_LOCK, retryCount: 5, statementLockTimeoutMs: 2_000 });
    const fromEnv = await resolveConfig({}, { STOCKRX_LOCK_TIMEOUT_MS: '750' }, cwd);
    assert.equal(fromEnv.lock.statementLockTimeoutMs, 750);
    assert.equal(fromEnv.lock.retryCount, 5);
  });

  void it('resolves relative directories against cwd and keeps absolute ones', async () => {
    const cwd = project(json({ stateDir: 'var/state', reportsDir: '/srv/reports' }));
    const config = await resolveConfig({ migrationsDir: 'db/migrate' }, { STOCKRX_STATE_DIR: '' }, cwd);
    assert.equal(config.migrationsDir, path.join(cwd, 'db/migrate'));
    assert.equal(config.stateDir, path.join(cwd, 'var/state'));
    assert.equal(config.reportsDir, '/srv/reports');
  });

  void it('reads the webhook URL from env', async () => {
    const config = await resolveConfig({}, { STOCKRX_WEBHOOK_URL: 'https://hooks.example.com/T/B/x' }, project());
    assert.equal(config.webhookUrl, 'https://hooks.example.com/T/B/x');
  });
});

void describe('resolveConfig config file', () => {
  void it('loads the default export of stockrx-migrate.config.ts', async () => {
    const cwd = project({
      'stockrx-migrate.config.ts': "const port: number = 4444;\nexport default { metricsPort: port, taskQueue: 'from-ts' };\n",
    });
    const config = await resolveConfig({}, {}, cwd);
    assert.equal(config.metricsPort, 4444);
    assert.equal(config.taskQueue, 'from-ts');
  });

  void it('refuses two config files at once', async () => {
    const cwd = project({ ...json({}), 'stockrx-migrate.config.ts': 'export default {};\n' });
    await rejects(resolveConfig({}, {}, cwd), /Both stockrx-migrate\.config\.ts and stockrx-migrate\.config\.json/);
  });

  void it('names an unknown key and lists the valid ones', async () => {
    const error = await rejects(resolveConfig({}, {}, project(json({ batchSize: 10 }))), /Unknown key "batchSize" in stockrx-migrate\.config\.json/);
    assert.match(error.hint ?? '', /databaseUrl, temporalAddress, .*metricsPort, webhookUrl/);
  });

  void it('suggests the right spelling of an env-style key', async () => {
    await rejects(resolveConfig({}, {}, project(json({ DATABASE_URL: 'postgres://h/d' }))), /did you mean "databaseUrl"\?/);
  });

  void it('names an unknown lock key', async () => {
    const error = await rejects(resolveConfig({}, {}, project(json({ lock: { timeout: 1 } }))), /Unknown key "lock\.timeout"/);
    assert.match(error.hint ?? '', /timeoutMs, retryCount, retryDelayMs, statementLockTimeoutMs/);
  });

  void it('rejects a non-object lock section', async () => {
    await rejects(resolveConfig({}, {}, project(json({ lock: 5 }))), /"lock": expected an object, got 5/);
  });

  void it('rejects a file that is not an object', async () => {
    await rejects(resolveConfig({}, {}, project(json([1, 2]))), /must contain a JSON object, got an array/);
    await rejects(resolveConfig({}, {}, project({ 'stockrx-migrate.config.ts': 'export default 42;\n' })), /must default-export an object, got 42/);
  });

  void it('reports the position of a JSON syntax error', async () => {
    await rejects(resolveConfig({}, {}, project({ 'stockrx-migrate.config.json': '{\n  "metricsPort": 1,\n}' })), /not valid JSON at line 3, column 1/);
  });

  void it('wraps a .ts file that throws while loading', async () => {
    const cwd = project({ 'stockrx-migrate.config.ts': "throw new Error('boom');\nexport default {};\n" });
    await rejects(resolveConfig({}, {}, cwd), /stockrx-migrate\.config\.ts failed to load: boom/);
  });
});

void describe('resolveConfig validation', () => {
  const cases: Array<[string, Parameters<typeof resolveConfig>[0], NodeJS.ProcessEnv, Record<string, unknown> | null, RegExp]> = [
    ['non-postgres DATABASE_URL', {}, { DATABASE_URL: 'mysql://u@h/db' }, null, /^Invalid env DATABASE_URL: .*postgres:\/\/ or postgresql:\/\/ scheme, not mysql/],
    ['DATABASE_URL without a database', {}, { DATABASE_URL: 'postgres://u@h' }, null, /env DATABASE_URL: database URL names no database/],
    ['databaseUrl of the wrong type in the file', {}, {}, { databaseUrl: 5432 }, /stockrx-migrate\.config\.json key "databaseUrl": expected a postgres:\/\/ URL, got 5432/],
    ['metrics port out of range', { metricsPort: 70_000 }, {}, null, /flag --metrics-port: expected an integer from 0 to 65535 .*got 70000/],
    ['metrics port not a number', {}, { STOCKRX_METRICS_PORT: 'abc' }, null, /env STOCKRX_METRICS_PORT: expected an integer .*got "abc"/],
    ['metrics port as a string in the file', {}, {}, { metricsPort: 'x9' }, /key "metricsPort": expected an integer/],
    ['fractional lock timeout', {}, {}, { lock: { timeoutMs: 1.5 } }, /key "lock\.timeoutMs": expected an integer from 1000/],
    ['negative retry count', {}, {}, { lock: { retryCount: -1 } }, /key "lock\.retryCount": expected an integer from 0 to 100/],
    ['lock_timeout 0 would disable it', {}, { STOCKRX_LOCK_TIMEOUT_MS: '0' }, null, /env STOCKRX_LOCK_TIMEOUT_MS: .*0 would disable lock_timeout/],
    ['temporal address with a scheme', {}, { TEMPORAL_ADDRESS: 'http://temporal:7233' }, null, /env TEMPORAL_ADDRESS: must be host:port without a scheme/],
    ['temporal address with junk', { temporalAddress: 'temporal:7233/x' }, {}, null, /flag --temporal-address: "temporal:7233\/x" is not a host:port address/],
    ['bad namespace', {}, { TEMPORAL_NAMESPACE: 'has space' }, null, /env TEMPORAL_NAMESPACE: "has space" is not a valid Temporal namespace/],
    ['lock key that is a URL', { lockKey: 'postgres://u:pw@h/db' }, {}, null, /flag --lock-key: looks like a connection URL/],
    ['empty lock key', { lockKey: '' }, {}, null, /flag --lock-key: expected a non-empty string/],
    ['webhook that is not http', {}, { STOCKRX_WEBHOOK_URL: 'ftp://x/y' }, null, /env STOCKRX_WEBHOOK_URL: is not an http\(s\) URL/],
    ['--json with a value', { json: 'yes' }, {}, null, /flag --json: expected true or false, got "yes"/],
    ['empty migrations dir in the file', {}, {}, { migrationsDir: '' }, /key "migrationsDir": expected a non-empty string/],
  ];
  for (const [name, flags, env, file, message] of cases) {
    void it(`rejects ${name}`, async () => {
      const error = await rejects(resolveConfig(flags, env, project(file ? json(file) : {})), message);
      assert.match(error.hint ?? '', /set by (flag|env|stockrx-migrate\.config\.json)/, 'the hint names the source');
    });
  }
});

void describe('requireDatabaseUrl', () => {
  void it('returns the URL when set', () => {
    assert.equal(requireDatabaseUrl({ databaseUrl: 'postgres://h/d' }), 'postgres://h/d');
  });

  void it('explains the three ways to provide one', () => {
    assert.throws(() => requireDatabaseUrl({ databaseUrl: null }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /DATABASE_URL is not set/);
      assert.match(error.message, /--database-url/);
      assert.match(error.message, /set DATABASE_URL/);
      assert.match(error.message, /stockrx-migrate demo/);
      return true;
    });
  });
});
