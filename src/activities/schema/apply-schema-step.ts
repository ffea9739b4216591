// Applies one schema step exactly once and returns its compensation.
import { type Compensation } from '../../core/compensation';
import { type SchemaStep } from '../../core/plan';
import { readStepRecord, writeStepRecord } from '../../db/journal';
import { executionFor } from './step-executions';
import { type FenceContext, inFencedTransaction, outsideTransaction } from './run-step';

export async function applySchemaStep(ctx: FenceContext, step: SchemaStep): Promise<Compensation> {
  const execution = executionFor(step, ctx.migrationId);
  const record = (action: Compensation['action']): Compensation => ({ stepIndex: step.index, label: step.label, action });

  if (execution.mode === 'transaction') {
    const compensation = await inFencedTransaction(ctx, async (trx) => {
      const existing = await readStepRecord(trx, ctx.migrationId, step.index);
      if (existing?.state === 'done') return existing.compensation; // applied by an earlier attempt
      const applied = record(await execution.apply(trx));
      await writeStepRecord(trx, ctx.migrationId, ctx.runToken, applied, 'done');
      return applied;
    });
    if (execution.finish) await outsideTransaction(ctx, true, execution.finish);
    return compensation;
  }

  const intent = await inFencedTransaction(ctx, async (trx) => {
    const existing = await readStepRecord(trx, ctx.migrationId, step.index);
    if (existing) return existing;
    const prepared = record(await execution.prepare(trx));
    await writeStepRecord(trx, ctx.migrationId, ctx.runToken, prepared, 'intent');
    return { state: 'intent' as const, compensation: prepared };
  });
  if (intent.state === 'done') return intent.compensation;
  await outsideTransaction(ctx, execution.useLockTimeout, execution.execute);
  await inFencedTransaction(ctx, (trx) => writeStepRecord(trx, ctx.migrationId, ctx.runToken, intent.compensation, 'done'));
  return intent.compensation;
}
