// Checks a run's plans against the live catalog before anything starts. Each step is simulated on
// a copy of the catalog, so a later step may use what an earlier one (of any migration in the run)
// creates. An `sql` step's effect is unknown: after one, "does not exist" findings become warnings,
// because the statement may have created the object.
import type { Catalog } from '../db/catalog';
import { formatQualifiedName, type QualifiedName } from './identifiers';
import { dataStepProblems } from './data-plan-checks';
import { type MigrationPlan, type StepPlan } from './plan';
import { type PlanProblem } from './plan-error';

interface SimTable {
  columns: Set<string>;
  primaryKey: string[];
  constraints: Set<string>;
  estimatedRows: number;
}

export interface PlanCheckResult {
  problems: PlanProblem[];
  warnings: PlanProblem[];
}

/** Tables above this many rows get a warning for index builds that block writes. */
export const LARGE_TABLE_ROWS = 100_000;

const key = (name: QualifiedName) => `${name.schema}.${name.name}`;

export function checkPlans(plans: MigrationPlan[], catalog: Catalog): PlanCheckResult {
  const tables = new Map<string, SimTable>();
  for (const t of catalog.tables) {
    tables.set(key(t), {
      columns: new Set(t.columns.map((c) => c.name)),
      primaryKey: [...t.primaryKey],
      constraints: new Set(t.constraints.map((c) => c.name)),
      estimatedRows: t.estimatedRows,
    });
  }
  // Indexes share the relation namespace with tables, per schema.
  const relations = new Set<string>([...catalog.indexes.map((i) => `${i.schema}.${i.name}`), ...catalog.tables.map(key)]);
  const indexes = new Set(catalog.indexes.map((i) => `${i.schema}.${i.name}`));

  const problems: PlanProblem[] = [];
  const warnings: PlanProblem[] = [];
  let opaque = false; // an sql step ran earlier in this run

  for (const plan of plans) {
    const report = (step: StepPlan | null, message: string, missing = false, fix?: string) => {
      const problem: PlanProblem = { file: plan.file, message, ...(step ? { step: { number: step.index + 1, label: step.label } } : {}), ...(fix ? { fix } : {}) };
      (missing && opaque ? warnings : problems).push(problem);
    };
    const needTable = (step: StepPlan, name: QualifiedName): SimTable | null => {
      const table = tables.get(key(name));
      if (!table) report(step, `table ${formatQualifiedName(name)} does not exist`, true, 'check the table name, or create the table in an earlier step');
      return table ?? null;
    };
    const needColumn = (step: StepPlan, name: QualifiedName, table: SimTable | null, column: string) => {
      if (table && !table.columns.has(column)) {
        const known = [...table.columns];
        const shown = `${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}`;
        report(step, `column ${formatQualifiedName(name)}.${column} does not exist`, true, `check the column name (${formatQualifiedName(name)} has ${shown || 'no columns'}), or add the column in an earlier step`);
      }
    };

    for (const step of plan.steps) {
      switch (step.kind) {
        case 'createTable':
          if (relations.has(key(step.table))) report(step, `a table or index named ${formatQualifiedName(step.table)} already exists`);
          tables.set(key(step.table), { columns: new Set(step.columns), primaryKey: [], constraints: new Set(), estimatedRows: 0 });
          relations.add(key(step.table));
          break;
        case 'dropTable':
          if (needTable(step, step.table)) {
            tables.delete(key(step.table));
            relations.delete(key(step.table));
          }
          break;
        case 'addColumn': {
          const table = needTable(step, step.table);
          if (table?.columns.has(step.column)) report(step, `column ${formatQualifiedName(step.table)}.${step.column} already exists`);
          table?.columns.add(step.column);
          break;
        }
        case 'dropColumn': {
          const table = needTable(step, step.table);
          needColumn(step, step.table, table, step.column);
          if (table && table.primaryKey.length === 0 && !opaque) {
            report(step, `table ${formatQualifiedName(step.table)} has no primary key, so the dropped values could not be restored by down; add a primary key first`);
          }
          if (table?.primaryKey.includes(step.column)) report(step, `column ${step.column} is part of the primary key`);
          table?.columns.delete(step.column);
          break;
        }
        case 'renameColumn': {
          const table = needTable(step, step.table);
          needColumn(step, step.table, table, step.from);
          if (table?.columns.has(step.to)) report(step, `column ${formatQualifiedName(step.table)}.${step.to} already exists`);
          if (table) {
            table.columns.delete(step.from);
            table.columns.add(step.to);
            table.primaryKey = table.primaryKey.map((c) => (c === step.from ? step.to : c));
          }
          break;
        }
        case 'addIndex': {
          const table = needTable(step, step.table);
          for (const column of step.columns) needColumn(step, step.table, table, column);
          const indexKey = `${step.table.schema}.${step.name}`;
          if (relations.has(indexKey)) report(step, `a relation named ${step.name} already exists; pass { name } to choose another index name`);
          relations.add(indexKey);
          indexes.add(indexKey);
          if (!step.concurrently && table && table.estimatedRows > LARGE_TABLE_ROWS) {
            warnings.push({ file: plan.file, step: { number: step.index + 1, label: step.label }, message: `builds without CONCURRENTLY on a table of about ${Math.round(table.estimatedRows)} rows: writes are blocked until it finishes` });
          }
          break;
        }
        case 'dropIndex':
          if (!indexes.has(key(step.indexName))) report(step, `index ${formatQualifiedName(step.indexName)} does not exist`, true);
          indexes.delete(key(step.indexName));
          relations.delete(key(step.indexName));
          break;
        case 'addForeignKey': {
          const table = needTable(step, step.table);
          needColumn(step, step.table, table, step.column);
          const ref = needTable(step, step.refTable);
          needColumn(step, step.refTable, ref, step.refColumn);
          if (table?.constraints.has(step.name)) report(step, `constraint ${step.name} already exists on ${formatQualifiedName(step.table)}`);
          table?.constraints.add(step.name);
          break;
        }
        case 'sql':
          opaque = true;
          warnings.push({ file: plan.file, step: { number: step.index + 1, label: step.label }, message: 'raw SQL is not checked before it runs; make sure `down` undoes it exactly' });
          break;
        case 'updateRecords':
        case 'deleteRecords':
        case 'createRecords':
        case 'eachBatch': {
          const table = needTable(step, step.table);
          if (table) for (const p of dataStepProblems(step, table)) report(step, p.message, !p.message.includes('primary key'), p.fix);
          if (!step.backup) {
            warnings.push({ file: plan.file, step: { number: step.index + 1, label: step.label }, message: 'runs with backup: false: it cannot be undone, and `down` past this migration is refused' });
          }
          break;
        }
      }
    }
    for (const validation of plan.validations) {
      if (validation.kind === 'check') continue;
      if (!tables.has(key(validation.table))) report(null, `validation ${validation.label}: table ${formatQualifiedName(validation.table)} does not exist`, true);
    }
  }
  return { problems, warnings };
}
