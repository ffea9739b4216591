// All CLI output goes through here: human text to stdout, problems to stderr, `--json` as one JSON
// document (or one per line for streams). Everything printed passes the secret redactor.
import { redactSecrets } from '../config/redact';

export interface Output {
  json: boolean;
  info(message: string): void;
  warn(message: string): void;
  error(message: string, hint?: string): void;
  data(value: unknown): void;
}

export function createOutput(json: boolean): Output {
  const out = (text: string) => process.stdout.write(`${redactSecrets(text)}\n`);
  const err = (text: string) => process.stderr.write(`${redactSecrets(text)}\n`);
  return {
    json,
    info: (message) => (json ? undefined : out(message)),
    warn: (message) => err(`warning: ${message}`),
    error: (message, hint) => err(`error: ${message}${hint ? `\n  fix: ${hint}` : ''}`),
    data: (value) => out(JSON.stringify(value, null, json ? 2 : 0)),
  };
}
