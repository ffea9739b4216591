import { type redactOptions } from 'pino';

/** What every masked secret is replaced with. Fixed, so tests and operators can grep for it. */
export const MASK = '***';

// A URL-ish token: scheme://… up to whitespace, quotes or angle brackets, which is how URLs are
// delimited in logs, JSON and error messages.
const URL_TOKEN = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s'"<>`]*)/gi;
// libpq keyword/value and query-string forms: `password=secret`, `?password=secret&…`.
const PASSWORD_PARAM = /(\b(?:ssl)?password\s*=\s*)('[^']*'|"[^"]*"|[^\s&;,'"]+)/gi;

/**
 * Masks the password in the userinfo part of `scheme://user:password@host…` (what follows
 * `://`). Follows the WHATWG rule that the authority ends at the first `/`, `?` or `#` and the
 * userinfo at the last `@` before it, so a password containing `@` is masked whole. A string
 * that is not a valid URL (an unencoded `/` in the password) still gets masked up to its first
 * `@`: leaking part of a password because the URL was malformed is the case that matters most.
 */
function maskUserinfo(rest: string): string {
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  let at = authority.lastIndexOf('@');
  if (at === -1) at = rest.indexOf('@');
  if (at === -1) return rest;
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  if (colon === -1) return rest;
  return `${userinfo.slice(0, colon + 1)}${MASK}${rest.slice(at)}`;
}

function maskUrls(text: string): string {
  return text
    .replace(URL_TOKEN, (_match, scheme: string, rest: string) => scheme + maskUserinfo(rest))
    .replace(PASSWORD_PARAM, (_match, key: string) => key + MASK);
}

/**
 * `postgres://app:s3cret@db:5432/shop` → `postgres://app:***@db:5432/shop`. Works on any scheme
 * and on strings that do not parse as a URL; everything but the password is kept as written.
 */
export function redactUrl(url: string): string {
  return maskUrls(url);
}

/**
 * Masks passwords of every URL inside arbitrary text (error messages, pg errors, child process
 * output), plus each given literal secret, raw and URL-encoded (a password with `@` appears as
 * `%40` inside a URL but raw in other places). Empty secrets are ignored: masking '' would
 * interleave the mask between every character.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  const literals = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    literals.add(secret);
    literals.add(encodeURIComponent(secret));
  }
  // Longest first, so a secret that contains another one is masked whole.
  let out = text;
  for (const literal of [...literals].sort((a, b) => b.length - a.length)) {
    out = out.split(literal).join(MASK);
  }
  return maskUrls(out);
}

/**
 * The password of a connection URL, decoded and raw, ready for `redactSecrets`. Empty when the
 * URL has none or does not parse (then URL masking in `redactSecrets` still applies).
 */
export function secretsOfUrl(url: string | null | undefined): string[] {
  if (!url) return [];
  try {
    const { password } = new URL(url);
    if (!password) return [];
    return [...new Set([password, safeDecode(password)])];
  } catch {
    return [];
  }
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Paths pino must censor in log objects (`logger.info({ databaseUrl }, …)`). Both the top level
 * and one level down, because config and connection options are usually logged nested.
 */
export const logRedactPaths: readonly string[] = [
  'databaseUrl',
  '*.databaseUrl',
  'password',
  '*.password',
  'connectionString',
  '*.connectionString',
  // Slack-style webhook URLs carry their credential in the path, so they are masked whole.
  'webhookUrl',
  '*.webhookUrl',
];

const URL_VALUED_KEYS = new Set(['databaseUrl', 'connectionString']);

/**
 * Pass as `pino({ redact: logRedact })`. Connection strings keep host and database (what an
 * operator needs to read the log) and lose only the password; everything else is masked whole.
 */
export const logRedact: redactOptions = {
  paths: [...logRedactPaths],
  censor: (value: unknown, path: string[]) => {
    const key = path[path.length - 1];
    if (typeof value === 'string' && key !== undefined && URL_VALUED_KEYS.has(key)) return redactUrl(value);
    return MASK;
  },
};
