// The end of a data step: checkpoint done and the journal's intent record turned into a done
// one, in one fenced transaction. The backup stays: `down` restores from it.
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { type Compensation } from '../../core/compensation';
import { readStepRecord, writeStepRecord } from '../../db/journal';
import { type FenceContext, inFencedTransaction } from '../schema/run-step';

export async function finishDataStep(ctx: FenceContext, stepIndex: number): Promise<Compensation> {
  return inFencedTransaction(ctx, async (trx) => {
    const record = await readStepRecord(trx, ctx.migrationId, stepIndex);
    if (!record) throw ApplicationFailure.create({ message: `step ${stepIndex + 1} has no journal record to finish`, nonRetryable: true });
    await sql`UPDATE stockrx_migrate.checkpoints SET done = true, updated_at = now() WHERE migration_id = ${ctx.migrationId} AND step_index = ${stepIndex}`.execute(trx);
    if (record.state !== 'done') await writeStepRecord(trx, ctx.migrationId, ctx.runToken, record.compensation, 'done');
    return record.compensation;
  });
}
