// One place that builds connections to the target database. Every session we open sets
// `client_connection_check_interval` so that a statement whose client died (a SIGKILLed worker) is
// cancelled by Postgres instead of running on, holding locks, until it finishes.
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { redactSecrets } from '../config/redact';
import { PreparingClient } from './prepared-client';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the target schema is not known statically
export type Db = Kysely<any>;

export interface TargetDatabase {
  db: Db;
  pool: pg.Pool;
  close(): Promise<void>;
}

export interface OpenOptions {
  max?: number;
  applicationName?: string;
  /**
   * Give up on a connection attempt (or a wait for a pooled one) after this long. Without it a host
   * that drops packets, or a port that accepts but never answers, hangs the caller forever.
   */
  connectTimeoutMs?: number;
}

/** Every session this tool opens is named this or starts with it (the foreground observer skips them). */
export const APPLICATION_NAME = 'stockrx-migrate';

export function openTargetDatabase(url: string, options: OpenOptions = {}): TargetDatabase {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    ...(options.connectTimeoutMs !== undefined ? { connectionTimeoutMillis: options.connectTimeoutMs } : {}),
    application_name: options.applicationName ?? APPLICATION_NAME,
    // Postgres ≥ 14: notice a vanished client within a second.
    options: '-c client_connection_check_interval=1000',
    // Statements marked with prepared() run as named prepared statements (prepared-client.ts).
    Client: PreparingClient,
  });
  // An idle client losing its connection must not crash the process; the next checkout reconnects.
  pool.on('error', () => undefined);
  const db: Db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    async close() {
      await db.destroy();
    },
  };
}

/** Rewrites a connection error so the password in the URL never reaches a log or a terminal. */
export function describeConnectionError(error: unknown, url: string): string {
  const message = error instanceof Error ? error.message : String(error);
  return redactSecrets(message, [passwordOf(url)].filter((p): p is string => !!p));
}

function passwordOf(url: string): string | null {
  try {
    const password = new URL(url).password;
    return password ? decodeURIComponent(password) : null;
  } catch {
    return null;
  }
}
