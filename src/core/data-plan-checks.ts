// Plan-time checks of data steps against the (simulated) catalog: the table exists and has a
// primary key (batches page by it, backups are keyed by it), and every column the step names
// exists. An SQL-string `where` is the author's SQL and is only checked when it runs.
import { type DataStep } from './data-plan';

export interface SimulatedTable {
  columns: Set<string>;
  primaryKey: string[];
}

export function dataStepProblems(step: DataStep, table: SimulatedTable): { message: string; fix: string }[] {
  const problems: { message: string; fix: string }[] = [];
  const missing = (columns: readonly string[], what: string) => {
    for (const column of columns) {
      if (!table.columns.has(column)) {
        problems.push({ message: `${what} column ${column} does not exist`, fix: `check the name; the table has ${[...table.columns].slice(0, 12).join(', ')}` });
      }
    }
  };
  if (step.kind !== 'createRecords' && table.primaryKey.length === 0) {
    problems.push({ message: 'the table has no primary key', fix: 'add a primary key first: batches page by it and the backup is keyed by it' });
  }
  if ('where' in step && step.where?.columns) missing(step.where.columns, 'where');
  switch (step.kind) {
    case 'updateRecords':
      missing(step.set.map((s) => s.column), 'set');
      break;
    case 'createRecords':
      missing(step.columns, 'row');
      break;
    case 'eachBatch':
      missing(step.columns ?? [], 'eachBatch');
      break;
    case 'deleteRecords':
      break;
  }
  return problems;
}
