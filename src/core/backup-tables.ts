// Which tables an applied step keeps for its undo, and what its compensation becomes once they are
// purged. Backups live in stockrx_migrate_backup until the migration is rolled back: on a 5M-row
// backfill that is a second copy of every changed value, which an operator eventually wants back
// once the change has proved itself. Purging them is a decision to give up the undo, so the step's
// compensation is replaced by an irreversible one that says when and why: `down` then refuses the
// migration up front, naming the step, instead of failing halfway through on a missing table.
import { type Compensation, type CompensationAction } from './compensation';
import { type QualifiedName } from './identifiers';

/** The tables this compensation needs to undo its step (none for steps undone by DDL alone). */
export function backupTablesOf(action: CompensationAction): QualifiedName[] {
  switch (action.kind) {
    case 'restoreTable':
      return [action.archived];
    case 'restoreColumn':
    case 'restoreUpdatedRows':
    case 'restoreDeletedRows':
    case 'deleteCreatedRows':
      return [action.backup];
    default:
      return [];
  }
}

/** The compensation a step keeps once its backup tables are dropped (`at`: an ISO timestamp). */
export function purgedCompensation(compensation: Compensation, at: string): Compensation {
  const tables = backupTablesOf(compensation.action).map((t) => `${t.schema}.${t.name}`);
  return {
    ...compensation,
    action: { kind: 'irreversible', reason: `its backup (${tables.join(', ')}) was purged at ${at}`, purgedAt: at },
  };
}
