// Undoes one applied (or half-applied) step and deletes its journal record. Safe to repeat: once
// the record is gone the compensation has happened.
import { type Compensation } from '../../core/compensation';
import { deleteStepRecord, readStepRecord } from '../../db/journal';
import { isRestoreAction, restoreRows } from '../data/restore-rows';
import { undoFor } from './step-executions';
import { type FenceContext, inFencedTransaction, outsideTransaction } from './run-step';

export async function compensateStep(ctx: FenceContext, compensation: Compensation, skip = false): Promise<'compensated' | 'already-compensated' | 'skipped'> {
  if (skip) {
    await inFencedTransaction(ctx, (trx) => deleteStepRecord(trx, ctx.migrationId, compensation.stepIndex));
    return 'skipped';
  }
  const undo = undoFor(compensation.action);
  if (undo.mode === 'batched' && isRestoreAction(compensation.action)) {
    const present = await inFencedTransaction(ctx, async (trx) => (await readStepRecord(trx, ctx.migrationId, compensation.stepIndex)) !== null);
    if (!present) return 'already-compensated';
    await restoreRows(ctx, compensation.action);
    await inFencedTransaction(ctx, (trx) => deleteStepRecord(trx, ctx.migrationId, compensation.stepIndex));
    return 'compensated';
  }
  if (undo.mode === 'transaction') {
    return inFencedTransaction(ctx, async (trx) => {
      if (!(await readStepRecord(trx, ctx.migrationId, compensation.stepIndex))) return 'already-compensated';
      await undo.apply(trx);
      await deleteStepRecord(trx, ctx.migrationId, compensation.stepIndex);
      return 'compensated';
    });
  }
  if (undo.mode !== 'outside') throw new Error(`no undo for ${compensation.action.kind}`);
  const present = await inFencedTransaction(ctx, async (trx) => (await readStepRecord(trx, ctx.migrationId, compensation.stepIndex)) !== null);
  if (!present) return 'already-compensated';
  await outsideTransaction(ctx, undo.useLockTimeout, undo.execute);
  await inFencedTransaction(ctx, (trx) => deleteStepRecord(trx, ctx.migrationId, compensation.stepIndex));
  return 'compensated';
}
