// The most useful single line for a failure chain: Temporal wraps the real error (an activity's
// ApplicationFailure) in ActivityFailure / ChildWorkflowFailure, whose own messages say little.
import { TemporalFailure } from '@temporalio/workflow';

export function failureMessage(error: unknown): string {
  let current: unknown = error;
  let message = error instanceof Error ? error.message : String(error);
  while (current instanceof TemporalFailure && current.cause) {
    current = current.cause;
    if (current instanceof Error && current.message) message = current.message;
  }
  return message;
}
