// The `v` in `validate: (v) => [...]`: post-conditions checked after the steps ran. A failing one
// fails the migration, and the saga undoes every step.
import {
  formatQualifiedName,
  identifierProblem,
  parseQualifiedName,
  qualifiedNameProblem,
} from '../core/identifiers';
import { type ValidationPlan } from '../core/plan';

export type ValidationSpec = ValidationPlan & { problems?: string[] };

function problems(...checks: (string | null)[]): string[] | undefined {
  const found = checks.filter((p): p is string => p !== null);
  return found.length > 0 ? found : undefined;
}

export function createValidationBuilder() {
  return {
    foreignKeyExists(table: string, refTable: string, options: { column?: string } = {}): ValidationSpec {
      const t = parseQualifiedName(table);
      const r = parseQualifiedName(refTable);
      return {
        kind: 'foreignKeyExists',
        label: `foreignKeyExists ${formatQualifiedName(t)} → ${formatQualifiedName(r)}`,
        table: t,
        refTable: r,
        column: options.column ?? null,
        problems: problems(
          qualifiedNameProblem(table),
          qualifiedNameProblem(refTable),
          options.column === undefined ? null : identifierProblem(options.column),
        ),
      };
    },

    indexExists(table: string, columnsOrName: string[] | { name: string }): ValidationSpec {
      const t = parseQualifiedName(table);
      const columns = Array.isArray(columnsOrName) ? columnsOrName : null;
      const name = Array.isArray(columnsOrName) ? null : columnsOrName.name;
      return {
        kind: 'indexExists',
        label: `indexExists ${formatQualifiedName(t)}(${columns ? columns.join(', ') : name})`,
        table: t,
        columns,
        name,
        problems: problems(
          qualifiedNameProblem(table),
          ...(columns ?? []).map(identifierProblem),
          name === null ? null : identifierProblem(name),
        ),
      };
    },

    /** Fails when `SELECT count(*) FROM table WHERE <where>` is not zero. `where` may use $1… params. */
    noRows(table: string, where: string, parameters: unknown[] = []): ValidationSpec {
      const t = parseQualifiedName(table);
      return {
        kind: 'noRows',
        label: `noRows ${formatQualifiedName(t)} where ${where}`,
        table: t,
        where,
        parameters,
        problems: problems(
          qualifiedNameProblem(table),
          typeof where === 'string' && where.trim() !== '' ? null : 'noRows() needs a WHERE condition',
        ),
      };
    },

    /** Runs `handlers[name]` from the migration file; it throws or returns a string to fail. */
    check(handler: string): ValidationSpec {
      return { kind: 'check', label: `check ${handler}`, handler };
    },
  };
}

export type ValidationBuilder = ReturnType<typeof createValidationBuilder>;
