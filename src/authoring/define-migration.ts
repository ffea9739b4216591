// The authoring entry point. `defineMigration` only tags and returns the definition: compiling it
// to a plan happens in the CLI (compile-plan.ts), so a migration file stays cheap to import and
// side-effect free.
import { type Kysely } from 'kysely';
import { type AnomalyConfig } from '../core/anomaly-rules';
import { type LoadControlConfig } from '../core/load-control-config';
import { type StepBuilder, type StepSpec } from './step-builder';
import { type ValidationBuilder, type ValidationSpec } from './validation-builder';

/** Load-control settings a migration may set; every one left out takes its default. */
export type LoadControlOptions = Partial<LoadControlConfig>;

export interface HandlerContext {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations see the database untyped
  db: Kysely<any>;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/** A validation handler: throw, return false, or return a message to fail. */
export type CheckHandler = (ctx: HandlerContext) => unknown;

/** An eachBatch row handler: runs inside the batch's transaction (ctx.db), one savepoint per row. */
export type RowHandler = (row: Record<string, unknown>, ctx: HandlerContext) => unknown;

/**
 * One map holds both kinds, so the first parameter is loosely typed: a check handler receives the
 * context there (and again as the second argument), a row handler the row. Annotate it for full
 * types, e.g. `(row: Inventory, ctx) => …`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type MigrationHandler = (rowOrContext: any, ctx: HandlerContext) => unknown;

export interface MigrationDefinition {
  description?: string;
  loadControl?: LoadControlOptions;
  /** Anomaly-rule thresholds (seed monitor defaults otherwise), e.g. { stalledAfterMs: 120000 }. */
  monitor?: Partial<AnomalyConfig>;
  steps: (m: StepBuilder) => StepSpec[];
  validate?: (v: ValidationBuilder) => ValidationSpec[];
  handlers?: Record<string, MigrationHandler>;
}

const MARKER = Symbol.for('stockrx-migrate.migration');

export type DefinedMigration = MigrationDefinition & { readonly [MARKER]: true };

export function defineMigration(definition: MigrationDefinition): DefinedMigration {
  return Object.freeze({ ...definition, [MARKER]: true as const });
}

export function isDefinedMigration(value: unknown): value is DefinedMigration {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARKER] === true;
}
