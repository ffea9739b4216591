// Plan types of data steps: batched changes to rows, each keeping a durable backup of exactly
// what it changes so its compensation restores the table exactly.
import { type QualifiedName } from './identifiers';

/** A WHERE condition: SQL with `$1…` placeholders and their values (always bound, never inlined). */
export interface WhereClause {
  sql: string;
  parameters: unknown[];
  /** Columns named by an object-form `where` (checked against the table at plan time). */
  columns?: string[];
}

export type SetValue = { column: string; value: unknown } | { column: string; raw: string };

interface DataStepBase {
  index: number;
  label: string;
  table: QualifiedName;
  /** False only when the author opted out; the step is then irreversible. */
  backup: boolean;
}

export interface UpdateRecordsStep extends DataStepBase {
  kind: 'updateRecords';
  where: WhereClause | null;
  set: SetValue[];
}

export interface DeleteRecordsStep extends DataStepBase {
  kind: 'deleteRecords';
  where: WhereClause | null;
}

export interface CreateRecordsStep extends DataStepBase {
  kind: 'createRecords';
  columns: string[];
  rowCount: number;
  /** sha256 of the rows; the worker reloads them from the migration file and checks it. */
  rowsChecksum: string;
  /** Rows per insert batch (the seed's `create_records(..., batch_size:)`). */
  batchSize: number;
}

export interface EachBatchStep extends DataStepBase {
  kind: 'eachBatch';
  where: WhereClause | null;
  /** Columns the handler receives (null = all). */
  columns: string[] | null;
  /** Name of the function in the migration's `handlers`. */
  handler: string;
  /** Step fails when more than this share of rows (percent) throws. */
  maxErrorRatePercent: number;
}

export type DataStep = UpdateRecordsStep | DeleteRecordsStep | CreateRecordsStep | EachBatchStep;
export type DataStepKind = DataStep['kind'];

export const DATA_STEP_KINDS: readonly DataStepKind[] = ['updateRecords', 'deleteRecords', 'createRecords', 'eachBatch'];

export function isDataStep(step: { kind: string }): step is DataStep {
  return (DATA_STEP_KINDS as readonly string[]).includes(step.kind);
}

/** Whether a data step's checkpoint has reached the end of its range (pure: used by workflow and worker). */
export function isStepFinished(step: DataStep, checkpoint: { cursor: unknown; upper: unknown; done: boolean }): boolean {
  if (checkpoint.done || checkpoint.upper === null) return true;
  if (step.kind === 'createRecords') return typeof checkpoint.cursor === 'number' && checkpoint.cursor >= step.rowCount;
  return JSON.stringify(checkpoint.cursor) === JSON.stringify(checkpoint.upper);
}
