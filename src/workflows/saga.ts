// Runs compensations last-step-first. A compensation that still fails after its retries does not
// get skipped silently: the run records `compensation_failed` (exit code 4 for the CLI), and waits
// for an operator to send `resolveCompensation` (retry after fixing the cause, or skip).
import { condition, setHandler } from '@temporalio/workflow';
import { type Compensation } from '../core/compensation';
import { type RunOptions } from '../core/run-options';
import { journalActivities, stepActivities } from './activity-proxies';
import { type CompensationDecision, type MigrationProgress, resolveCompensationSignal } from './definitions';
import { failureMessage } from './failure-message';

export interface SagaContext {
  migrationId: string;
  runToken: string;
  options: RunOptions;
  progress: MigrationProgress;
  touch(): void;
}

export async function compensateAll(ctx: SagaContext, compensations: Compensation[]): Promise<void> {
  const steps = stepActivities(ctx.options);
  const journal = journalActivities(ctx.options);
  let decision: CompensationDecision | null = null;
  setHandler(resolveCompensationSignal, (d) => {
    decision = d;
  });

  ctx.progress.compensationsLeft = compensations.length;
  for (const compensation of compensations) {
    ctx.progress.current = { stepIndex: compensation.stepIndex, label: `undo ${compensation.label}` };
    ctx.touch();
    for (;;) {
      try {
        await steps.compensateStep({ migrationId: ctx.migrationId, runToken: ctx.runToken, compensation, options: ctx.options });
        break;
      } catch (error) {
        const message = `undo of step ${compensation.stepIndex + 1} (${compensation.label}) failed: ${failureMessage(error)}`;
        ctx.progress.status = 'compensation_failed';
        ctx.progress.error = message;
        ctx.touch();
        await journal.journalFinish({ migrationId: ctx.migrationId, runToken: ctx.runToken, status: 'compensation_failed', error: message });
        decision = null;
        await condition(() => decision !== null);
        const chosen = decision as CompensationDecision | null;
        ctx.progress.status = 'compensating';
        ctx.touch();
        if (chosen?.action === 'skip') {
          await steps.compensateStep({ migrationId: ctx.migrationId, runToken: ctx.runToken, compensation, options: ctx.options, skip: true });
          break;
        }
      }
    }
    ctx.progress.compensationsLeft -= 1;
    ctx.touch();
  }
  ctx.progress.current = null;
}
