// The plan is what actually runs: the CLI compiles a migration file into this JSON (kysely builders
// already turned into SQL text), checks it against the live database, and passes it to the workflow
// as input. The workflow history therefore shows exactly what was executed, and the checksum of the
// plan is what we compare to detect an edited, already-applied migration.

import { type DataStep } from './data-plan';
import { type QualifiedName } from './identifiers';

export type MigrationStatus =
  | 'pending'
  | 'running'
  | 'applied'
  | 'failed'
  | 'rolled_back'
  | 'compensation_failed';

export const MIGRATION_STATUSES: readonly MigrationStatus[] = [
  'pending',
  'running',
  'applied',
  'failed',
  'rolled_back',
  'compensation_failed',
];

interface StepBase {
  /** Position in the migration, 0-based. */
  index: number;
  /** Human label used in logs, errors and the Web UI: `addIndex inventories(name)`. */
  label: string;
}

export interface CreateTableStep extends StepBase {
  kind: 'createTable';
  table: QualifiedName;
  columns: string[];
  /** `CREATE TABLE …` compiled by kysely. */
  sql: string;
}

export interface DropTableStep extends StepBase {
  kind: 'dropTable';
  table: QualifiedName;
}

export interface AddColumnStep extends StepBase {
  kind: 'addColumn';
  table: QualifiedName;
  column: string;
  /** `ALTER TABLE … ADD COLUMN …` compiled by kysely. */
  sql: string;
}

export interface DropColumnStep extends StepBase {
  kind: 'dropColumn';
  table: QualifiedName;
  column: string;
}

export interface RenameColumnStep extends StepBase {
  kind: 'renameColumn';
  table: QualifiedName;
  from: string;
  to: string;
}

export interface AddIndexStep extends StepBase {
  kind: 'addIndex';
  table: QualifiedName;
  columns: string[];
  name: string;
  unique: boolean;
  /** Partial index predicate, authored SQL. */
  where: string | null;
  concurrently: boolean;
}

export interface DropIndexStep extends StepBase {
  kind: 'dropIndex';
  /** Schema-qualified index name. */
  indexName: QualifiedName;
  concurrently: boolean;
}

export type ForeignKeyAction = 'no action' | 'restrict' | 'cascade' | 'set null' | 'set default';

export interface AddForeignKeyStep extends StepBase {
  kind: 'addForeignKey';
  table: QualifiedName;
  column: string;
  refTable: QualifiedName;
  refColumn: string;
  name: string;
  onDelete: ForeignKeyAction;
  onUpdate: ForeignKeyAction;
}

export interface SqlStep extends StepBase {
  kind: 'sql';
  up: string;
  /** Null only when the author declared the step irreversible. */
  down: string | null;
  irreversible: boolean;
  /** Run inside a transaction (default). False for statements like CREATE INDEX CONCURRENTLY. */
  transaction: boolean;
}

export type SchemaStep =
  | CreateTableStep
  | DropTableStep
  | AddColumnStep
  | DropColumnStep
  | RenameColumnStep
  | AddIndexStep
  | DropIndexStep
  | AddForeignKeyStep
  | SqlStep;

export type StepPlan = SchemaStep | DataStep;
export type StepKind = StepPlan['kind'];

export type ValidationPlan =
  | { kind: 'foreignKeyExists'; label: string; table: QualifiedName; refTable: QualifiedName; column: string | null }
  | { kind: 'indexExists'; label: string; table: QualifiedName; columns: string[] | null; name: string | null }
  | { kind: 'noRows'; label: string; table: QualifiedName; where: string; parameters: unknown[] }
  | { kind: 'check'; label: string; handler: string };

export interface MigrationPlan {
  /** File name without extension: `20250101120000_add_index_to_inventories`. */
  id: string;
  description: string;
  /** Path of the migration file relative to the migrations directory (handlers are loaded from it). */
  file: string;
  steps: StepPlan[];
  validations: ValidationPlan[];
  /** sha256 of the canonical plan (see checksum.ts). */
  checksum: string;
  /** True when some step cannot be undone; `down` past it is refused up front. */
  irreversible: boolean;
  /** The author's load-control overrides (resolved against the seed defaults when a step runs). */
  loadControl: Record<string, number>;
  /** The author's anomaly-rule overrides (`monitor: { stalledAfterMs: … }`); absent when none. */
  monitor?: Record<string, number>;
}
