/**
 * Bad input or configuration: nothing has been touched yet, so the CLI exits with code 2 and
 * prints `hint` (how to fix it) under the message. Messages and hints are shown verbatim to
 * operators and end up in CI logs, so they must never contain a password; build them from
 * `redactUrl`/`redactSecrets`, never from a raw connection string or a URL parser's own error.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** Exit code 2 of the CLI contract: bad input or config, nothing changed. */
  readonly exitCode = 2 as const;
  readonly hint?: string;

  constructor(message: string, options: { hint?: string } = {}) {
    // Deliberately no `cause`: the usual causes here (URL/JSON parser errors) echo their input,
    // which may be a connection string with a password in it.
    super(message);
    if (options.hint !== undefined) this.hint = options.hint;
  }
}

export function isConfigError(error: unknown): error is ConfigError {
  return error instanceof ConfigError;
}
