// Turns a loaded migration definition into its JSON plan, collecting every problem with the file
// and step it belongs to. Checks here need no database; live checks are in client/check-plan.ts.
import { planChecksum } from '../core/checksum';
import { ANOMALY_KEYS } from '../core/anomaly-rules';
import { isDataStep } from '../core/data-plan';
import { resolveLoadControl, validateLoadControl } from '../core/load-control-config';
import { type MigrationPlan, type StepPlan, type ValidationPlan } from '../core/plan';
import { PlanError, type PlanProblem } from '../core/plan-error';
import { type DefinedMigration } from './define-migration';
import { createStepBuilder, type StepSpec } from './step-builder';
import { createValidationBuilder, type ValidationSpec } from './validation-builder';

/** `<UTC timestamp YYYYMMDDHHMMSS>_<snake_name>` */
export const MIGRATION_ID_PATTERN = /^\d{14}_[a-z0-9]+(?:_[a-z0-9]+)*$/;

const STEP_KINDS = new Set<StepPlan['kind']>([
  'createTable', 'dropTable', 'addColumn', 'dropColumn', 'renameColumn', 'addIndex', 'dropIndex', 'addForeignKey', 'sql',
  'updateRecords', 'deleteRecords', 'createRecords', 'eachBatch',
]);

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function compilePlan(id: string, file: string, definition: DefinedMigration): MigrationPlan {
  const problems: PlanProblem[] = [];
  const fileProblem = (text: string) => problems.push({ file, message: text });

  if (!MIGRATION_ID_PATTERN.test(id)) {
    fileProblem(`the file name must be <UTC timestamp>_<snake_name>.ts, e.g. 20250101120000_add_index_to_inventories.ts (create one with \`stockrx-migrate new NAME\`)`);
  }
  if (typeof definition.steps !== 'function') {
    throw new PlanError([{ file, message: '`steps` must be a function `(m) => [ ...steps ]`' }]);
  }

  let specs: unknown;
  try {
    specs = definition.steps(createStepBuilder());
  } catch (error) {
    throw new PlanError([{ file, message: `steps() threw: ${message(error)}`, fix: 'make steps() only build and return the steps, e.g. `(m) => [m.addIndex(...)]`' }]);
  }
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new PlanError([{ file, message: 'steps() must return a non-empty array of steps built with `m.*`' }]);
  }

  const steps: StepPlan[] = [];
  specs.forEach((raw: unknown, index) => {
    const spec = raw as StepSpec | undefined;
    if (!spec || typeof spec !== 'object' || !STEP_KINDS.has(spec.kind)) {
      problems.push({ file, step: { number: index + 1, label: '?' }, message: 'not a step: build steps with the `m` argument, e.g. m.addIndex(...)' });
      return;
    }
    const { problems: specProblems, ...step } = spec;
    for (const text of specProblems ?? []) {
      problems.push({ file, step: { number: index + 1, label: step.label }, message: text });
    }
    steps.push({ ...step, index } as StepPlan);
  });

  const validations: ValidationPlan[] = [];
  if (definition.validate !== undefined) {
    let validationSpecs: unknown;
    try {
      validationSpecs = definition.validate(createValidationBuilder());
    } catch (error) {
      throw new PlanError([{ file, message: `validate() threw: ${message(error)}` }]);
    }
    if (!Array.isArray(validationSpecs)) {
      fileProblem('validate() must return an array built with the `v` argument');
    } else {
      for (const raw of validationSpecs as ValidationSpec[]) {
        const { problems: specProblems, ...validation } = raw;
        for (const text of specProblems ?? []) fileProblem(`validation ${validation.label}: ${text}`);
        if (validation.kind === 'check' && typeof definition.handlers?.[validation.handler] !== 'function') {
          fileProblem(`validation ${validation.label}: no function \`${validation.handler}\` in the migration's \`handlers\``);
        }
        validations.push(validation);
      }
    }
  }

  const description = typeof definition.description === 'string' ? definition.description : id;
  const irreversible = steps.some((s) => (s.kind === 'sql' && s.irreversible) || (isDataStep(s) && !s.backup));
  for (const step of steps) {
    if (step.kind === 'eachBatch' && typeof definition.handlers?.[step.handler] !== 'function') {
      problems.push({ file, step: { number: step.index + 1, label: step.label }, message: `no function \`${step.handler}\` in the migration's \`handlers\`` });
    }
  }
  const loadControl = numericRecord(definition.loadControl, problems, file);
  const monitor = monitorOverrides(definition.monitor, problems, file);
  if (problems.length > 0) throw new PlanError(problems);
  // `monitor` joins the checksum only when set, so plans written before it existed keep theirs.
  const content = { id, description, steps, validations, loadControl, ...(monitor ? { monitor } : {}) };
  return { id, description, file, steps, validations, irreversible, loadControl, ...(monitor ? { monitor } : {}), checksum: planChecksum(content) };
}

function numericRecord(value: unknown, problems: PlanProblem[], file: string): Record<string, number> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push({ file, message: '`loadControl` must be an object like { initialBatchSize: 500 }' });
    return {};
  }
  const result: Record<string, number> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) problems.push({ file, message: `loadControl.${key} must be a number` });
    else result[key] = v;
  }
  // The settings as the workflow will run them (defaults filled in): unknown names, values out of
  // range and contradictions (min above max, critical not above normal…) stop the plan here
  // instead of failing the run or being repaired silently by the controller.
  for (const text of validateLoadControl(resolveLoadControl(result))) problems.push({ file, message: `loadControl: ${text}` });
  return result;
}

function monitorOverrides(value: unknown, problems: PlanProblem[], file: string): Record<string, number> | null {
  if (value === undefined) return null;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push({ file, message: '`monitor` must be an object like { stalledAfterMs: 120000 }' });
    return null;
  }
  const result: Record<string, number> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(ANOMALY_KEYS as readonly string[]).includes(key)) problems.push({ file, message: `monitor.${key} is not a setting; use one of ${ANOMALY_KEYS.join(', ')}` });
    else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) problems.push({ file, message: `monitor.${key} must be a non-negative number` });
    else result[key] = v;
  }
  return result;
}
