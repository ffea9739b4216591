// A problem with a migration file found before anything runs. The CLI prints every one of them and
// exits 2; the database is never touched.

export interface PlanProblem {
  /** Migration file (relative to the migrations directory). */
  file: string;
  /** 1-based step number and label, when the problem belongs to a step. */
  step?: { number: number; label: string };
  message: string;
  /** What to do about it, when the message alone does not say. */
  fix?: string;
}

export function formatPlanProblem(problem: PlanProblem): string {
  const where = problem.step ? `${problem.file}, step ${problem.step.number} (${problem.step.label})` : problem.file;
  return `${where}: ${problem.message}${problem.fix ? `; fix: ${problem.fix}` : ''}`;
}

export class PlanError extends Error {
  constructor(readonly problems: PlanProblem[]) {
    super(problems.map(formatPlanProblem).join('\n'));
    this.name = 'PlanError';
  }
}
