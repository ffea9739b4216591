// Identifiers reach SQL through kysely's quoting, but we still refuse anything that is not a plain
// name: a migration that names `inventories; drop table x` is a bug we want to catch at plan time,
// with the file and step in the message, not a surprise in production.

const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Postgres truncates identifiers longer than NAMEDATALEN - 1 bytes, silently. */
export const MAX_IDENTIFIER_LENGTH = 63;

export interface QualifiedName {
  schema: string;
  name: string;
}

export function isPlainName(value: unknown): value is string {
  return typeof value === 'string' && PLAIN_NAME.test(value) && value.length <= MAX_IDENTIFIER_LENGTH;
}

/** Why a value is not a plain identifier, or null when it is one. */
export function identifierProblem(value: unknown): string | null {
  if (typeof value !== 'string') return `expected a name, got ${typeof value}`;
  if (value.length === 0) return 'the name is empty';
  if (value.length > MAX_IDENTIFIER_LENGTH) {
    return `"${value}" is longer than ${MAX_IDENTIFIER_LENGTH} characters (Postgres would truncate it)`;
  }
  if (!PLAIN_NAME.test(value)) {
    return `"${value}" is not a plain name (letters, digits and _; not starting with a digit)`;
  }
  return null;
}

/** Parses `table` or `schema.table`; the schema defaults to `public`. */
export function parseQualifiedName(value: string): QualifiedName {
  const parts = value.split('.');
  if (parts.length === 2) return { schema: parts[0]!, name: parts[1]! };
  return { schema: 'public', name: value };
}

export function qualifiedNameProblem(value: unknown): string | null {
  if (typeof value !== 'string') return `expected a table name, got ${typeof value}`;
  const parts = value.split('.');
  if (parts.length > 2) return `"${value}" has more than one dot; use "table" or "schema.table"`;
  for (const part of parts) {
    const problem = identifierProblem(part);
    if (problem) return problem;
  }
  return null;
}

export function formatQualifiedName(name: QualifiedName): string {
  return name.schema === 'public' ? name.name : `${name.schema}.${name.name}`;
}

/** Double-quotes an identifier for SQL text we build ourselves (kysely does the same). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteQualified(name: QualifiedName): string {
  return `${quoteIdent(name.schema)}.${quoteIdent(name.name)}`;
}

/**
 * A derived object name (index, constraint, backup table) that fits in 63 characters. When the
 * natural name is too long we keep a readable prefix and append a short stable hash, the way Rails
 * and Django do, so the same inputs always give the same name (idempotent re-runs find it).
 */
export function boundedName(natural: string, hash: (s: string) => string): string {
  if (natural.length <= MAX_IDENTIFIER_LENGTH) return natural;
  const suffix = hash(natural).slice(0, 8);
  return `${natural.slice(0, MAX_IDENTIFIER_LENGTH - 9)}_${suffix}`;
}
