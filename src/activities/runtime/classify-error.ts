// The activity boundary: turn whatever a step threw into what Temporal should do with it.
// Transient failures are rethrown as-is (Temporal retries them with backoff); everything else is a
// non-retryable ApplicationFailure whose message says what happened and, where we know, what to do.
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { isTransient, sqlstateOf } from '../../db/sqlstate';
import { FencedError } from '../../db/journal';
import { redactSecrets } from '../../config/redact';

export function classifyError(error: unknown, context: string): unknown {
  if (error instanceof CancelledFailure || error instanceof ApplicationFailure) return error;
  if (error instanceof FencedError) {
    return ApplicationFailure.create({ message: error.message, type: 'Fenced', nonRetryable: true });
  }
  const message = redactSecrets(error instanceof Error ? error.message : String(error));
  const code = sqlstateOf(error);
  if (isTransient(error)) return error;
  const detail = (error as { detail?: string }).detail;
  return ApplicationFailure.create({
    message: `${context ? `${context}: ` : ''}${message}${code ? ` (SQLSTATE ${code})` : ''}${detail ? ` — ${detail}` : ''}`,
    type: code ? `Postgres.${code}` : 'StepFailed',
    nonRetryable: true,
  });
}
