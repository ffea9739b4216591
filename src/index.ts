// Public API for migration authors: `import { defineMigration } from 'stockrx-migrate'`.
export { defineMigration, isDefinedMigration } from './authoring/define-migration';
export type {
  CheckHandler,
  MigrationHandler,
  RowHandler,
  DefinedMigration,
  HandlerContext,
  LoadControlOptions,
  MigrationDefinition,
} from './authoring/define-migration';
export type { StepBuilder } from './authoring/step-builder';
export type { ValidationBuilder } from './authoring/validation-builder';
export type { MigrationPlan, MigrationStatus, StepPlan, ValidationPlan } from './core/plan';
