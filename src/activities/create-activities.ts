// The activity factory: every activity is a closure over injected dependencies, so the worker
// (the only composition root) decides which database, logger and registry they use, and tests can
// build the same activities against their own database.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { type Logger } from 'pino';
import { type Compensation } from '../core/compensation';
import { type Alert } from '../core/anomaly-rules';
import { type DataStep } from '../core/data-plan';
import { reportFileName, type RunReport } from '../core/run-report';
import { type MigrationMetrics } from '../metrics/migration-metrics';
import { type AlertSender, createAlertSender } from './alerts/alert-sender';
import { type MigrationPlan, type SchemaStep } from '../core/plan';
import { type CheckpointState } from './data/checkpoint';
import { finishDataStep } from './data/finish-data-step';
import { type LoadSource } from './data/load-source';
import { prepareDataStep } from './data/prepare-data-step';
import { runDataSlice, type SliceInput, type SliceResult } from './data/run-data-slice';
import { realLoadSource } from './load/real-load-source';
import { type RunOptions } from '../core/run-options';
import { type Db } from '../db/connect';
import { sqlstateOf } from '../db/sqlstate';
import { journalFinish, journalStart, pendingCompensations, rollbackStart, type RunIdentity } from './journal-activities';
import { type MigrationRegistry } from './migration-registry';
import { runValidations } from './run-validations';
import { classifyError } from './runtime/classify-error';
import { applySchemaStep } from './schema/apply-schema-step';
import { compensateStep } from './schema/compensate-step';

export interface ActivityDeps {
  db: Db;
  logger: Logger;
  registry: MigrationRegistry;
  /** Host and database load for the load controller; tests inject a fake. */
  loadSource?: LoadSource;
  /** Where alerts go (log, metric, webhook); defaults to the log only. */
  alerts?: AlertSender;
  /** Prometheus metrics of this worker. */
  metrics?: MigrationMetrics;
  /** Directory of the JSON run reports (default log/migrations under the working directory). */
  reportsDir?: string;
}

export interface DataStepInput {
  migrationId: string;
  runToken: string;
  step: DataStep;
  options: RunOptions;
}

export interface StepInput {
  migrationId: string;
  runToken: string;
  step: SchemaStep;
  options: RunOptions;
}

export interface CompensateInput {
  migrationId: string;
  runToken: string;
  compensation: Compensation;
  options: RunOptions;
  /** Operator decision: forget this compensation without running it. */
  skip?: boolean;
}

async function guarded<T>(context: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw classifyError(error, context);
  }
}

/** The workflow run an activity works for; empty outside an activity (direct calls in tests). */
function runIdentity(): { workflowId?: string; runId?: string; activity?: string } {
  try {
    const { workflowExecution, activityType } = Context.current().info;
    return { workflowId: workflowExecution?.workflowId, runId: workflowExecution?.runId, activity: activityType };
  } catch {
    return {};
  }
}

function attempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

export function createActivities({
  db,
  logger,
  registry,
  loadSource = realLoadSource,
  alerts = createAlertSender({ webhookUrl: null, logger }),
  metrics,
  reportsDir = path.resolve('log', 'migrations'),
}: ActivityDeps) {
  // Every line about a migration names it, its step (when there is one) and the workflow run it
  // belongs to, so one grep follows a run across workers, retries and continue-as-new.
  const logFor = (migrationId: string, extra: Record<string, unknown> = {}) => logger.child({ migrationId, ...extra, ...runIdentity() });
  const fence = (input: DataStepInput, log: Logger) => ({
    db,
    migrationId: input.migrationId,
    runToken: input.runToken,
    options: input.options,
    label: `step ${input.step.index + 1} (${input.step.label})`,
    onLockRetry: (n: number, error: unknown) => log.warn({ attempt: n, sqlstate: sqlstateOf(error) }, 'lock not available; retrying with backoff'),
  });

  return {
    async journalStart(input: { plan: MigrationPlan; run: Omit<RunIdentity, 'migrationId'> }) {
      return guarded(`starting ${input.plan.id}`, () => journalStart(db, input.plan, { ...input.run, migrationId: input.plan.id }));
    },

    async journalFinish(input: Parameters<typeof journalFinish>[1]) {
      logFor(input.migrationId).info({ status: input.status, error: input.error }, 'migration finished');
      return guarded(`recording ${input.migrationId} as ${input.status}`, () => journalFinish(db, input));
    },

    async pendingCompensations(input: { migrationId: string }) {
      return guarded(`reading compensations of ${input.migrationId}`, () => pendingCompensations(db, input.migrationId));
    },

    async rollbackStart(input: RunIdentity) {
      return guarded(`starting rollback of ${input.migrationId}`, () => rollbackStart(db, input));
    },

    async applySchemaStep(input: StepInput): Promise<Compensation> {
      const log = logFor(input.migrationId, { step: input.step.index + 1, label: input.step.label });
      log.info({ attempt: attempt() }, 'step started');
      const started = Date.now();
      // The workflow adds which migration and step failed; the activity reports what Postgres said.
      const compensation = await guarded('', () =>
        applySchemaStep(
          {
            db,
            migrationId: input.migrationId,
            runToken: input.runToken,
            options: input.options,
            label: `step ${input.step.index + 1} (${input.step.label})`,
            onLockRetry: (n, error) => log.warn({ attempt: n, sqlstate: sqlstateOf(error) }, 'lock not available; retrying with backoff'),
          },
          input.step,
        ),
      );
      log.info({ ms: Date.now() - started }, 'step applied');
      return compensation;
    },

    async compensateStep(input: CompensateInput) {
      const log = logFor(input.migrationId, { step: input.compensation.stepIndex + 1, label: input.compensation.label });
      log.info({ action: input.compensation.action.kind, attempt: attempt() }, 'compensation started');
      const outcome = await guarded(`undoing ${input.migrationId} step ${input.compensation.stepIndex + 1} (${input.compensation.label})`, () =>
        compensateStep(
          {
            db,
            migrationId: input.migrationId,
            runToken: input.runToken,
            options: input.options,
            label: `undo of step ${input.compensation.stepIndex + 1} (${input.compensation.label})`,
            onLockRetry: (n, error) => log.warn({ attempt: n, sqlstate: sqlstateOf(error) }, 'lock not available; retrying with backoff'),
          },
          input.compensation,
          input.skip === true,
        ),
      );
      log.info({ outcome }, 'compensation finished');
      metrics?.compensation(input.migrationId, outcome);
      return outcome;
    },

    async prepareDataStep(input: DataStepInput): Promise<CheckpointState> {
      const log = logFor(input.migrationId, { step: input.step.index + 1, label: input.step.label });
      const checkpoint = await guarded('', () => prepareDataStep(fence(input, log), input.step));
      log.info({ rowsTotal: checkpoint.rowsTotal, rowsDone: checkpoint.rowsDone }, 'data step prepared');
      return checkpoint;
    },

    async runDataSlice(input: Omit<SliceInput, 'file'> & { file: string }): Promise<SliceResult> {
      const log = logFor(input.migrationId, { step: input.step.index + 1, label: input.step.label });
      // Decisions are logged only when debug lines would be written: one comes every batch or so.
      const logDecision = log.isLevelEnabled('debug') ? (fields: Record<string, unknown>) => log.debug(fields, 'load control decision') : undefined;
      return guarded('', () => runDataSlice({ db, registry, loadSource, metrics, log: (m, f) => log.warn(f ?? {}, m), logDecision }, input));
    },

    async finishDataStep(input: DataStepInput): Promise<Compensation> {
      const log = logFor(input.migrationId, { step: input.step.index + 1, label: input.step.label });
      const compensation = await guarded('', () => finishDataStep(fence(input, log), input.step.index));
      log.info('data step finished');
      return compensation;
    },

    /** Hands alerts to the sender and returns at once: webhook delivery runs in the background. */
    async notifyAlerts(input: { migrationId: string; workflowId: string; notices: (Alert & { id: string })[] }): Promise<void> {
      for (const notice of input.notices) alerts.send({ ...notice, migrationId: input.migrationId, workflowId: input.workflowId, runId: runIdentity().runId });
    },

    async writeReport(input: { report: RunReport }): Promise<string> {
      const file = path.join(reportsDir, reportFileName(input.report.migrationId, input.report.startedAt));
      await mkdir(reportsDir, { recursive: true });
      await writeFile(file, `${JSON.stringify(input.report, null, 2)}\n`);
      logFor(input.report.migrationId).info({ file, status: input.report.status }, 'run report written');
      return file;
    },

    async runValidations(input: { plan: MigrationPlan }) {
      const log = logFor(input.plan.id);
      return guarded(`validating ${input.plan.id}`, () => runValidations(db, input.plan, registry, (m, f) => log.info(f ?? {}, m)));
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
