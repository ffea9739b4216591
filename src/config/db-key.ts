import { ConfigError } from './errors';

const DEFAULT_PORT = 5432;
// `scheme://userinfo@` directly followed by the path, query or end: userinfo with no host.
const EMPTY_HOST_AFTER_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*@)(?=[/?#]|$)/i;
const PLACEHOLDER_HOST = 'placeholder.invalid';
const URL_FORMAT_HINT =
  'Use postgres://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode special characters in the password, e.g. @ as %40), ' +
  'or postgres:///DATABASE?host=/var/run/postgresql for a unix socket.';

/**
 * The identity of a database for locking and task routing: `host:port/database`, e.g.
 * `db.internal:5432/stockrx`. It ends up in workflow IDs and task queue names, which are visible
 * in the Temporal UI and kept in history, so it never carries credentials or query options, and
 * spellings of the same database (`postgresql://`, upper-case host, implicit port) give one key:
 * two keys for one database would mean two runners and no lock.
 *
 * Unix sockets: `postgres:///shop?host=/var/run/postgresql` → `/var/run/postgresql:5432/shop`
 * (the socket file name includes the port, so it stays part of the key).
 */
export function dbKeyFromUrl(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw new ConfigError(
      scheme && url.toLowerCase().startsWith(`${scheme}://`)
        ? `database URL must use the postgres:// or postgresql:// scheme, not ${scheme}://`
        : 'database URL is not a postgres:// URL (key=value connection strings are not supported)',
      { hint: URL_FORMAT_HINT },
    );
  }

  // libpq accepts credentials with an empty host (`postgres://app:pw@/shop?host=/var/run/pg`);
  // the WHATWG parser does not, so parse with a placeholder host and treat it as empty.
  const emptyHost = EMPTY_HOST_AFTER_USERINFO.test(url);
  let parsed: URL;
  try {
    parsed = new URL(emptyHost ? url.replace(EMPTY_HOST_AFTER_USERINFO, `$1${PLACEHOLDER_HOST}`) : url);
  } catch {
    // The parser's own message echoes the input, password included: never pass it on.
    throw new ConfigError('database URL could not be parsed', { hint: URL_FORMAT_HINT });
  }

  const query = parsed.searchParams;
  const urlHost = emptyHost ? '' : decode(parsed.hostname);
  const host = normaliseHost(query.get('host') || urlHost || 'localhost');

  const portText = parsed.port || query.get('port') || String(DEFAULT_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new ConfigError(`database URL has an invalid port "${portText}" (expected 1-65535)`, { hint: URL_FORMAT_HINT });
  }

  // libpq would fall back to the user name; a lock key must not depend on such a guess.
  const database = decode(parsed.pathname.replace(/^\//, '')) || query.get('dbname') || '';
  if (!database) {
    throw new ConfigError('database URL names no database', {
      hint: 'Add the database name as the path: postgres://USER:PASSWORD@HOST:PORT/DATABASE',
    });
  }

  return `${host}:${port}/${database}`;
}

/** Host names are case-insensitive; socket directories are file paths and keep their case. */
function normaliseHost(host: string): string {
  return host.startsWith('/') ? host.replace(/\/+$/, '') : host.toLowerCase();
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new ConfigError('database URL contains an invalid percent-encoding', { hint: URL_FORMAT_HINT });
  }
}
