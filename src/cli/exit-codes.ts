// The CLI contract's exit codes (DESIGN.md).
export const EXIT = {
  OK: 0,
  /** The migration failed and was compensated: the database is as before. */
  MIGRATION_FAILED: 1,
  /** Bad input or config; nothing changed. */
  BAD_INPUT: 2,
  /** Another run holds the database's lock. */
  LOCKED: 3,
  /** A compensation failed: an operator is needed. */
  COMPENSATION_FAILED: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An expected way for a command to end, with the exit code and what to tell the user. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliExit';
  }
}
