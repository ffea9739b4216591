// What the test harness (scripts/test-run.ts) provides to every test file, plus per-file
// isolation: each test file creates its own database and task queues, so files never see each
// other's data or workers even though they share one Temporal server and one Postgres server.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestEnv {
  /** host:port of the harness's private Temporal dev server. */
  temporalAddress: string;
  /** Superuser URL of the test Postgres server (database `postgres`); use createTestDatabase(). */
  adminDatabaseUrl: string;
  /** Prebuilt workflow bundle (pass to Worker.create as `workflowBundle: { codePath }`). */
  workflowBundlePath: string;
  /** The temporal CLI the harness used. */
  temporalCliPath: string | undefined;
  /** Base URL of the private server's Web UI (http://127.0.0.1:<port>); undefined when headless. */
  temporalUiUrl: string | undefined;
}

export class OutsideHarnessError extends Error {
  override readonly name = 'OutsideHarnessError';
}

/** Reads the harness environment; fails with instructions when a test is run on its own. */
export function testEnv(): TestEnv {
  const missing: string[] = [];
  const need = (name: string): string => {
    const value = process.env[name];
    if (!value) missing.push(name);
    return value ?? '';
  };
  const env: TestEnv = {
    temporalAddress: need('TEMPORAL_ADDRESS'),
    adminDatabaseUrl: need('TEST_DATABASE_URL'),
    workflowBundlePath: need('STOCKRX_WORKFLOW_BUNDLE'),
    temporalCliPath: process.env.STOCKRX_TEMPORAL_CLI,
    temporalUiUrl: process.env.TEMPORAL_UI_URL || undefined,
  };
  if (missing.length > 0) {
    throw new OutsideHarnessError(
      `${missing.join(', ')} not set: this test needs the services started by the test harness. ` +
        'Run it through `npm test -- <this file>` (scripts/test-run.ts starts Temporal and Postgres and builds the workflow bundle).',
    );
  }
  return env;
}

/** Postgres identifiers max out at 63 bytes; keep the prefix readable and the suffix unique. */
function uniqueName(prefix: string, maxLength: number, separator: string): string {
  const suffix = `${Date.now().toString(36)}${separator}${randomBytes(4).toString('hex')}`;
  const clean = prefix.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean).join(separator) || 'test';
  const head = clean.slice(0, maxLength - suffix.length - 1);
  return `${head.endsWith(separator) ? head.slice(0, -1) : head}${separator}${suffix}`;
}

export interface TestDatabase {
  url: string;
  name: string;
  /** Drops the database, disconnecting anyone still connected (pools left open by a failed test). */
  drop(): Promise<void>;
}

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a uniquely named, empty database on the harness's Postgres server. */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const { adminDatabaseUrl } = testEnvForDatabase();
  const name = uniqueName(`stockrx_${prefix}`, 63, '_');
  await withAdmin(adminDatabaseUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
  const url = new URL(adminDatabaseUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      // WITH (FORCE) (Postgres 13+) terminates leftover connections instead of failing.
      await withAdmin(adminDatabaseUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`));
    },
  };
}

/** Database tests only need the database, not the Temporal parts of the harness. */
function testEnvForDatabase(): { adminDatabaseUrl: string } {
  const adminDatabaseUrl = process.env.TEST_DATABASE_URL;
  if (!adminDatabaseUrl) {
    throw new OutsideHarnessError(
      'TEST_DATABASE_URL not set: run this test through `npm test -- <this file>`, or set TEST_DATABASE_URL to a Postgres superuser URL (e.g. postgres://postgres@127.0.0.1:5432/postgres).',
    );
  }
  return { adminDatabaseUrl };
}

/** A task queue no other test (or earlier run against the same server) uses. */
export function uniqueTaskQueue(prefix: string): string {
  return uniqueName(`test-${prefix}`, 100, '-');
}
