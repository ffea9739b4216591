// SQLSTATE codes we act on, named. Classification happens at the activity boundary: transient
// errors are retried by Temporal, permanent ones become non-retryable failures that say what to do.

export const SQLSTATE = {
  LOCK_NOT_AVAILABLE: '55P03',
  DEADLOCK_DETECTED: '40P01',
  SERIALIZATION_FAILURE: '40001',
  QUERY_CANCELED: '57014',
  ADMIN_SHUTDOWN: '57P01',
  CRASH_SHUTDOWN: '57P02',
  CANNOT_CONNECT_NOW: '57P03',
  TOO_MANY_CONNECTIONS: '53300',
  UNDEFINED_TABLE: '42P01',
  UNDEFINED_COLUMN: '42703',
  UNDEFINED_OBJECT: '42704',
  DUPLICATE_TABLE: '42P07',
  DUPLICATE_COLUMN: '42701',
  DUPLICATE_OBJECT: '42710',
  DEPENDENT_OBJECTS_STILL_EXIST: '2BP01',
  UNIQUE_VIOLATION: '23505',
  FOREIGN_KEY_VIOLATION: '23503',
} as const;

/** Node-level network errors that mean "try again", not "this statement is wrong". */
const TRANSIENT_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);

export function sqlstateOf(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}

/** Lock waits we retry ourselves with backoff, so DDL never queues for long in front of traffic. */
export function isLockContention(error: unknown): boolean {
  const code = sqlstateOf(error);
  return code === SQLSTATE.LOCK_NOT_AVAILABLE || code === SQLSTATE.DEADLOCK_DETECTED;
}

export function isTransient(error: unknown): boolean {
  const code = sqlstateOf(error);
  if (code !== null) {
    return (
      isLockContention(error) ||
      code === SQLSTATE.SERIALIZATION_FAILURE ||
      code === SQLSTATE.ADMIN_SHUTDOWN ||
      code === SQLSTATE.CRASH_SHUTDOWN ||
      code === SQLSTATE.CANNOT_CONNECT_NOW ||
      code === SQLSTATE.TOO_MANY_CONNECTIONS ||
      code.startsWith('08') // connection exceptions
    );
  }
  const nodeCode = (error as { code?: unknown } | null)?.code;
  if (typeof nodeCode === 'string' && TRANSIENT_NETWORK_CODES.has(nodeCode)) return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection (?:was )?closed|timeout exceeded when trying to connect/i.test(message);
}
