import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { dbKeyFromUrl } from './db-key';
import { ConfigError } from './errors';
import { redactSecrets } from './redact';

export interface LockConfig {
  /** How long a run may wait for the database lock (the runner workflow) before giving up. */
  timeoutMs: number;
  retryCount: number;
  retryDelayMs: number;
  /** Postgres `lock_timeout` for DDL, so a blocked ALTER fails fast instead of queueing traffic behind it. */
  statementLockTimeoutMs: number;
}

export interface ResolvedConfig {
  cwd: string;
  databaseUrl: string | null;
  /** null => the CLI starts the embedded dev server. */
  temporalAddress: string | null;
  temporalNamespace: string;
  taskQueue: string;
  migrationsDir: string;
  stateDir: string;
  reportsDir: string;
  /** host:port/database (never credentials); null when there is no database URL and no --lock-key. */
  lockKey: string | null;
  lock: LockConfig;
  metricsPort: number;
  webhookUrl: string | null;
  json: boolean;
}

/** What `stockrx-migrate.config.{ts,json}` may contain; every key is optional. */
export interface ConfigFile {
  databaseUrl?: string;
  temporalAddress?: string;
  temporalNamespace?: string;
  taskQueue?: string;
  migrationsDir?: string;
  stateDir?: string;
  reportsDir?: string;
  lock?: Partial<LockConfig>;
  metricsPort?: number;
  webhookUrl?: string;
}

export const CONFIG_FILE_NAMES = ['stockrx-migrate.config.ts', 'stockrx-migrate.config.json'] as const;

/** Seed defaults (MigrationLock) plus the 5 s DDL lock_timeout of the design. */
export const DEFAULT_LOCK: Readonly<LockConfig> = Object.freeze({
  timeoutMs: 5 * 60_000,
  retryCount: 3,
  retryDelayMs: 1_000,
  statementLockTimeoutMs: 5_000,
});
export const DEFAULT_METRICS_PORT = 9464;
export const DEFAULT_NAMESPACE = 'default';
export const TASK_QUEUE_PREFIX = 'stockrx-migrate';

/** Flag names as commander hands them over (camelCase of `--kebab-case`). Other keys are verb options and ignored. */
export const CONFIG_FLAGS = [
  'databaseUrl', 'temporalAddress', 'temporalNamespace', 'taskQueue', 'migrationsDir', 'stateDir',
  'reportsDir', 'lockKey', 'metricsPort', 'webhookUrl', 'json',
] as const;

const FILE_KEYS: readonly (keyof ConfigFile)[] = [
  'databaseUrl', 'temporalAddress', 'temporalNamespace', 'taskQueue', 'migrationsDir', 'stateDir',
  'reportsDir', 'lock', 'metricsPort', 'webhookUrl',
];
const LOCK_KEYS: readonly (keyof LockConfig)[] = ['timeoutMs', 'retryCount', 'retryDelayMs', 'statementLockTimeoutMs'];

type ConfigFlag = (typeof CONFIG_FLAGS)[number];

interface LoadedFile {
  name: string;
  values: Record<string, unknown>;
}

interface Sources {
  flags: Partial<Record<string, unknown>>;
  env: NodeJS.ProcessEnv;
  file: LoadedFile | null;
}

/** A raw value and where it came from, so every error can say which knob to turn. */
interface Found {
  value: unknown;
  source: string;
}

interface Lookup {
  flag?: ConfigFlag;
  env?: string;
  file?: readonly string[];
}

/**
 * The one place configuration is read. Precedence per setting: flags > env > config file >
 * defaults. Everything is validated here, so the rest of the code can trust the object; errors
 * are `ConfigError`s (exit 2) that name the source and the fix and never contain a password.
 */
export async function resolveConfig(
  flags: Partial<Record<string, unknown>>,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): Promise<ResolvedConfig> {
  const root = path.resolve(cwd);
  const sources: Sources = { flags, env, file: await loadConfigFile(root) };
  const find = (spec: Lookup) => lookup(sources, spec);
  const dir = (spec: Lookup, fallback: string) => {
    const found = find(spec);
    return path.resolve(root, found ? parseNonEmptyString(found) : fallback);
  };

  const databaseUrl = parseDatabaseUrl(find({ flag: 'databaseUrl', env: 'DATABASE_URL', file: ['databaseUrl'] }));
  const lockKeyFlag = find({ flag: 'lockKey' });
  const lockKey = lockKeyFlag ? parseLockKey(lockKeyFlag) : databaseUrl === null ? null : dbKeyFromUrl(databaseUrl);

  const taskQueueFound = find({ flag: 'taskQueue', env: 'STOCKRX_TASK_QUEUE', file: ['taskQueue'] });
  // A worker holds a pool on exactly one database, so each database gets its own queue: a task
  // for shop-db must never be picked up by a worker connected to billing-db.
  const taskQueue = taskQueueFound
    ? parseTaskQueue(taskQueueFound)
    : lockKey === null ? TASK_QUEUE_PREFIX : `${TASK_QUEUE_PREFIX}@${lockKey}`;

  const temporalAddressFound = find({ flag: 'temporalAddress', env: 'TEMPORAL_ADDRESS', file: ['temporalAddress'] });
  const namespaceFound = find({ flag: 'temporalNamespace', env: 'TEMPORAL_NAMESPACE', file: ['temporalNamespace'] });
  const metricsPortFound = find({ flag: 'metricsPort', env: 'STOCKRX_METRICS_PORT', file: ['metricsPort'] });
  const webhookFound = find({ flag: 'webhookUrl', env: 'STOCKRX_WEBHOOK_URL', file: ['webhookUrl'] });
  const jsonFound = find({ flag: 'json' });

  const lockInt = (key: keyof LockConfig, min: number, max: number, why: string, envName?: string): number => {
    const found = find({ ...(envName ? { env: envName } : {}), file: ['lock', key] });
    return found ? parseInteger(found, min, max, why) : DEFAULT_LOCK[key];
  };

  return {
    cwd: root,
    databaseUrl,
    temporalAddress: temporalAddressFound ? parseTemporalAddress(temporalAddressFound) : null,
    temporalNamespace: namespaceFound ? parseNamespace(namespaceFound) : DEFAULT_NAMESPACE,
    taskQueue,
    migrationsDir: dir({ flag: 'migrationsDir', env: 'STOCKRX_MIGRATIONS_DIR', file: ['migrationsDir'] }, 'migrations'),
    stateDir: dir({ flag: 'stateDir', env: 'STOCKRX_STATE_DIR', file: ['stateDir'] }, '.stockrx'),
    reportsDir: dir({ flag: 'reportsDir', env: 'STOCKRX_REPORTS_DIR', file: ['reportsDir'] }, path.join('log', 'migrations')),
    lockKey,
    lock: {
      timeoutMs: lockInt('timeoutMs', 1_000, 24 * 3_600_000, 'milliseconds, 1 s to 24 h'),
      retryCount: lockInt('retryCount', 0, 100, 'attempts'),
      retryDelayMs: lockInt('retryDelayMs', 0, 10 * 60_000, 'milliseconds, up to 10 min'),
      // 0 is refused on purpose: in Postgres it disables lock_timeout, and a DDL statement waiting
      // for its lock blocks every query queued behind it.
      statementLockTimeoutMs: lockInt(
        'statementLockTimeoutMs', 10, 10 * 60_000, 'milliseconds, 10 ms to 10 min; 0 would disable lock_timeout',
        'STOCKRX_LOCK_TIMEOUT_MS',
      ),
    },
    // 0 lets the OS pick a free port (tests run several workers side by side).
    metricsPort: metricsPortFound ? parseInteger(metricsPortFound, 0, 65_535, 'a TCP port, 0 = any free port') : DEFAULT_METRICS_PORT,
    webhookUrl: webhookFound ? parseWebhookUrl(webhookFound) : null,
    json: jsonFound ? parseBoolean(jsonFound) : false,
  };
}

/** For verbs that touch the database: narrows the URL or explains the three ways to provide one. */
export function requireDatabaseUrl(config: Pick<ResolvedConfig, 'databaseUrl'>): string {
  if (config.databaseUrl !== null) return config.databaseUrl;
  const fix = 'pass --database-url, set DATABASE_URL, or run `stockrx-migrate demo` to try it on an embedded database';
  throw new ConfigError(`DATABASE_URL is not set: ${fix}`, {
    hint: `${fix}. Example: DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DATABASE`,
  });
}

function lookup({ flags, env, file }: Sources, spec: Lookup): Found | undefined {
  if (spec.flag) {
    const value = flags[spec.flag];
    if (value !== undefined && value !== null) return { value, source: `flag --${kebab(spec.flag)}` };
  }
  if (spec.env) {
    // `FOO=` (set but empty) counts as unset: that is how .env files and CI templates blank a value.
    const value = env[spec.env]?.trim();
    if (value) return { value, source: `env ${spec.env}` };
  }
  if (spec.file && file) {
    let value: unknown = file.values;
    for (const key of spec.file) value = isPlainObject(value) ? value[key] : undefined;
    if (value !== undefined) return { value, source: `${file.name} key "${spec.file.join('.')}"` };
  }
  return undefined;
}

function invalid(found: Found, problem: string, hint: string): ConfigError {
  return new ConfigError(`Invalid ${found.source}: ${problem}`, { hint: `${hint} (set by ${found.source})` });
}

function parseNonEmptyString(found: Found): string {
  if (typeof found.value !== 'string' || found.value.trim() === '') {
    throw invalid(found, `expected a non-empty string, got ${describe(found.value)}`, 'Give it a text value');
  }
  return found.value.trim();
}

function parseDatabaseUrl(found: Found | undefined): string | null {
  if (!found) return null;
  if (typeof found.value !== 'string' || found.value.trim() === '') {
    throw invalid(found, `expected a postgres:// URL, got ${describe(found.value)}`, 'Use postgres://USER:PASSWORD@HOST:PORT/DATABASE');
  }
  const url = found.value.trim();
  try {
    dbKeyFromUrl(url);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // dbKeyFromUrl never echoes the URL; the source makes the message actionable.
    throw new ConfigError(`Invalid ${found.source}: ${error.message}`, {
      hint: `${error.hint ?? 'Fix the URL'} (set by ${found.source})`,
    });
  }
  return url;
}

function parseLockKey(found: Found): string {
  const key = parseNonEmptyString(found);
  // The key is printed in workflow IDs and the Web UI and kept in history forever.
  if (key.includes('://') || key.includes('@')) {
    throw invalid(found, 'looks like a connection URL; a lock key must not carry credentials',
      'Pass a plain name such as db.internal:5432/shop');
  }
  if (key.length > 255 || /\s/.test(key)) {
    throw invalid(found, 'must be at most 255 characters without whitespace', 'Pass a short name such as db.internal:5432/shop');
  }
  return key;
}

function parseTaskQueue(found: Found): string {
  const queue = parseNonEmptyString(found);
  if (queue.length > 1_000) throw invalid(found, 'is longer than 1000 characters', 'Use a shorter task queue name');
  return queue;
}

function parseTemporalAddress(found: Found): string {
  const address = parseNonEmptyString(found);
  if (address.includes('://')) {
    throw invalid(found, 'must be host:port without a scheme', 'Use e.g. temporal:7233 or my-ns.a1b2c.tmprl.cloud:7233');
  }
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?$/.test(address)) {
    // Userinfo (`user:token@host`) has no place in an address; if present, do not echo it.
    const shown = address.includes('@') ? 'the value' : `"${address}"`;
    throw invalid(found, `${shown} is not a host:port address`, 'Use e.g. temporal:7233, or unset it to use the embedded dev server');
  }
  return address;
}

function parseNamespace(found: Found): string {
  const namespace = parseNonEmptyString(found);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(namespace)) {
    throw invalid(found, `"${namespace}" is not a valid Temporal namespace name`, 'Use letters, digits, ".", "-" and "_", e.g. default');
  }
  return namespace;
}

function parseWebhookUrl(found: Found): string {
  const text = parseNonEmptyString(found);
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  // Webhook URLs embed their credential (Slack puts it in the path), so the value is never echoed.
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw invalid(found, 'is not an http(s) URL', 'Use the full URL of the webhook, e.g. https://hooks.slack.com/services/…');
  }
  return text;
}

function parseInteger(found: Found, min: number, max: number, unit: string): number {
  const { value } = found;
  const number = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(number) || number < min || number > max) {
    throw invalid(found, `expected an integer from ${min} to ${max} (${unit}), got ${describe(value)}`,
      `Set a whole number between ${min} and ${max}`);
  }
  return number;
}

function parseBoolean(found: Found): boolean {
  if (typeof found.value === 'boolean') return found.value;
  throw invalid(found, `expected true or false, got ${describe(found.value)}`, 'Pass the flag without a value');
}

async function loadConfigFile(cwd: string): Promise<LoadedFile | null> {
  const present = CONFIG_FILE_NAMES.filter((name) => existsSync(path.join(cwd, name)));
  if (present.length > 1) {
    throw new ConfigError(`Both ${present.join(' and ')} exist in ${cwd}`, {
      hint: 'Keep one of them: silently preferring one would hide edits made to the other',
    });
  }
  const name = present[0];
  if (name === undefined) return null;
  const file = path.join(cwd, name);
  const raw = name.endsWith('.json') ? await readJson(file, name) : await importDefault(file, name);
  if (!isPlainObject(raw)) {
    throw new ConfigError(`${name} must ${name.endsWith('.json') ? 'contain a JSON object' : 'default-export an object'}, got ${describe(raw)}`, {
      hint: name.endsWith('.json') ? 'Write { "migrationsDir": "migrations", … }' : 'Write `export default { migrationsDir: \'migrations\' }`',
    });
  }
  checkKeys(raw, FILE_KEYS, name, '');
  if (raw.lock !== undefined) {
    if (!isPlainObject(raw.lock)) {
      throw new ConfigError(`Invalid ${name} key "lock": expected an object, got ${describe(raw.lock)}`, {
        hint: `Write "lock": { ${LOCK_KEYS.map((key) => `"${key}": …`).join(', ')} }`,
      });
    }
    checkKeys(raw.lock, LOCK_KEYS, name, 'lock.');
  }
  return { name, values: raw };
}

async function readJson(file: string, name: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // V8's message quotes a slice of the input, which may hold a password: report the position only.
    const position = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
    const where = position === undefined ? '' : ` at ${lineColumn(text, Number(position))}`;
    throw new ConfigError(`${name} is not valid JSON${where}`, { hint: `Fix the syntax of ${file}` });
  }
}

async function importDefault(file: string, name: string): Promise<unknown> {
  let module: { default?: unknown };
  try {
    // tsx is registered at runtime, so a .ts config loads like any module.
    module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${name} failed to load: ${redactSecrets(message).slice(0, 500)}`, { hint: `Fix ${file}` });
  }
  let value = module.default;
  // A .ts file compiled as CommonJS (project without "type": "module") arrives double-wrapped.
  if (isPlainObject(value) && 'default' in value && Object.keys(value).every((key) => key === 'default' || key === '__esModule')) {
    value = value.default;
  }
  return value;
}

function checkKeys(object: Record<string, unknown>, valid: readonly string[], file: string, prefix: string): void {
  for (const key of Object.keys(object)) {
    if (valid.includes(key)) continue;
    const normalised = normaliseKey(key);
    const suggestion = valid.find((candidate) => normaliseKey(candidate) === normalised);
    throw new ConfigError(
      `Unknown key "${prefix}${key}" in ${file}${suggestion ? ` (did you mean "${prefix}${suggestion}"?)` : ''}`,
      { hint: `Valid keys${prefix ? ` under "${prefix.slice(0, -1)}"` : ''}: ${valid.join(', ')}` },
    );
  }
}

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

function lineColumn(text: string, position: number): string {
  const before = text.slice(0, position).split('\n');
  return `line ${before.length}, column ${(before[before.length - 1]?.length ?? 0) + 1}`;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/** Type and shape only: values may be secrets, so strings are never quoted back unless short and URL-free. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    return value.length <= 40 && !/[:@/]/.test(value) ? JSON.stringify(value) : `a string of ${value.length} characters`;
  }
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
