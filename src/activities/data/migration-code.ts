// The parts of a data step that are code, not plan: createRecords rows and eachBatch handlers,
// loaded from the migration file on the worker and checked against the plan.
import { ApplicationFailure } from '@temporalio/common';
import { CREATE_RECORDS_ROWS, rowsChecksum } from '../../authoring/data-step-builder';
import { createStepBuilder } from '../../authoring/step-builder';
import { type CreateRecordsStep, type EachBatchStep } from '../../core/data-plan';
import { type MigrationRegistry } from '../migration-registry';
import { type RowHandler } from './run-batch';

export async function loadCreateRecordsRows(registry: MigrationRegistry, file: string, step: CreateRecordsStep): Promise<Record<string, unknown>[]> {
  const migration = await registry.load(file);
  const spec = migration.steps(createStepBuilder())[step.index] as unknown as Record<symbol, unknown> | undefined;
  const rows = spec?.[CREATE_RECORDS_ROWS] as Record<string, unknown>[] | undefined;
  if (!rows || rowsChecksum(rows) !== step.rowsChecksum) {
    throw ApplicationFailure.create({
      message: `${file} step ${step.index + 1}: the rows on this worker differ from the planned ones (checksum); deploy the same migration files to every worker`,
      type: 'PlanMismatch',
      nonRetryable: true,
    });
  }
  return rows;
}

export async function loadRowHandler(registry: MigrationRegistry, file: string, step: EachBatchStep): Promise<RowHandler> {
  const migration = await registry.load(file);
  const handler = migration.handlers?.[step.handler];
  if (typeof handler !== 'function') {
    throw ApplicationFailure.create({ message: `${file}: no handler \`${step.handler}\` on this worker`, type: 'PlanMismatch', nonRetryable: true });
  }
  return handler as unknown as RowHandler;
}
