// A compensation is the undo of one applied step, recorded as data. Some can be computed from the
// plan (drop the index we created); others need facts captured at run time inside the same
// transaction as the change (the definition of an index we dropped, where a dropped table's data
// now lives). Storing them as data in the journal is what lets `down` run days later, from a
// different process, exactly.

import { type QualifiedName } from './identifiers';

export interface ColumnDefinition {
  /** `format_type()` of the column, e.g. `numeric(10,2)`. */
  type: string;
  notNull: boolean;
  /** Default expression text (`pg_get_expr`), or null. */
  defaultExpression: string | null;
  /** `GENERATED ALWAYS AS (…) STORED` expression: recomputed, not restored. */
  generatedExpression?: string | null;
  /** Identity columns cannot be dropped with an exact undo; recorded to refuse them. */
  identity?: 'always' | 'by default' | null;
}

export type CompensationAction =
  | { kind: 'dropTable'; table: QualifiedName }
  | { kind: 'restoreTable'; table: QualifiedName; archived: QualifiedName }
  | { kind: 'dropColumn'; table: QualifiedName; column: string }
  | {
      kind: 'restoreColumn';
      table: QualifiedName;
      column: string;
      definition: ColumnDefinition;
      /** Primary key columns used to put the saved values back. */
      key: string[];
      backup: QualifiedName;
      /** `pg_get_indexdef` of indexes that Postgres dropped along with the column. */
      indexes: string[];
      /** Constraints dropped along with the column: `ALTER TABLE … ADD CONSTRAINT name <def>`. */
      constraints: { name: string; definition: string }[];
    }
  | { kind: 'renameColumn'; table: QualifiedName; from: string; to: string }
  | { kind: 'dropIndex'; index: QualifiedName; concurrently: boolean }
  | { kind: 'createIndex'; index: QualifiedName; definition: string; concurrently: boolean }
  | { kind: 'dropConstraint'; table: QualifiedName; name: string }
  | { kind: 'sql'; sql: string; transaction: boolean }
  // purgedAt: set when the step was reversible until `purge-backups` dropped its backup tables.
  | { kind: 'irreversible'; reason: string; purgedAt?: string }
  // Data steps: undone in batches from their backup table, which shrinks as rows are put back, so
  // a restore interrupted by a crash resumes where it stopped.
  | { kind: 'restoreUpdatedRows'; table: QualifiedName; backup: QualifiedName; key: string[]; columns: string[]; stepIndex: number }
  | { kind: 'restoreDeletedRows'; table: QualifiedName; backup: QualifiedName; key: string[]; columns: string[]; stepIndex: number }
  | { kind: 'deleteCreatedRows'; table: QualifiedName; backup: QualifiedName; key: string[]; stepIndex: number };

export interface Compensation {
  stepIndex: number;
  label: string;
  action: CompensationAction;
}
