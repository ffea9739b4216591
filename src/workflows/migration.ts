// One migration as a saga: journal start → steps in order → validations → journal applied. On a
// failure or a cancel, everything applied so far is compensated last-first inside a
// non-cancellable scope, and the journal records the failure; the database ends as it was.
// Long data steps continue-as-new between slices, carrying the run token, the step index and the
// load controller's state, so history stays bounded while fencing and progress carry over.
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { resolveAnomalyConfig } from '../core/anomaly-rules';
import { isDataStep } from '../core/data-plan';
import { resolveLoadControl, validateLoadControl } from '../core/load-control-config';
import { applyConfigChange, initialControllerState } from '../core/load-controller';
import { journalActivities, stepActivities } from './activity-proxies';
import { runDataStep, type DataStepContext } from './data-step';
import {
  type MigrationInput,
  type MigrationOutcome,
  type MigrationProgress,
  pauseSignal,
  progressQuery,
  resumeSignal,
  setLoadControlUpdate,
} from './definitions';
import { failureMessage } from './failure-message';
import { createMonitor } from './monitor';
import { buildReport, emptyReportState, type ReportState, stepFinished, stepStarted } from './report-state';
import { compensateAll, type SagaContext } from './saga';

export async function migration(input: MigrationInput): Promise<MigrationOutcome> {
  const { plan, options, resume } = input;
  const info = workflowInfo();
  const runToken = resume?.runToken ?? uuid4();
  const now = () => new Date().toISOString();
  const progress: MigrationProgress = {
    migrationId: plan.id,
    mode: 'up',
    status: 'starting',
    stepCount: plan.steps.length,
    stepsDone: resume?.stepsDone ?? 0,
    current: null,
    compensationsLeft: 0,
    error: null,
    startedAt: resume?.startedAt ?? now(),
    updatedAt: now(),
    data: null,
    runs: (resume?.runs ?? 0) + 1,
  };
  const loadControl = resume?.loadControl ?? resolveLoadControl(plan.loadControl);
  const control: DataStepContext['control'] = {
    paused: resume?.paused ?? false,
    loadControl,
    controller: resume?.controller ?? initialControllerState(loadControl),
    rowsPerSecond: resume?.rowsPerSecond ?? 0,
    clock: resume?.clock ?? null,
  };
  setHandler(progressQuery, () => progress);
  const anomalies = resolveAnomalyConfig(plan.monitor ?? {});
  const monitor = createMonitor({ migrationId: plan.id, description: plan.description, anomalies, searchAttributes: options.searchAttributes === true }, progress, resume?.monitor);
  const report: ReportState = resume?.report ?? emptyReportState();
  setHandler(pauseSignal, () => void (control.paused = true));
  setHandler(resumeSignal, () => void (control.paused = false));
  setHandler(
    setLoadControlUpdate,
    (change) => {
      const next = resolveLoadControl({ ...control.loadControl, ...change });
      control.controller = applyConfigChange(control.controller, control.loadControl, next);
      control.loadControl = next;
      // Shown at once, not only after the running slice reports back.
      if (progress.data) progress.data.loadControl = next;
      return next;
    },
    {
      validator: (change) => {
        // Resolved first: a run started before a setting existed carries no value for it.
        const problems = validateLoadControl(resolveLoadControl({ ...control.loadControl, ...change }));
        if (problems.length > 0) throw new Error(problems.join('; '));
      },
    },
  );
  const touch = () => {
    progress.updatedAt = now();
    monitor.publish();
  };
  const saga: SagaContext = { migrationId: plan.id, runToken, options, progress, touch };
  const finishRun = async (status: string, compensated: boolean) => {
    monitor.resolveAll();
    report.alerts = [...report.alerts, ...monitor.alerts().filter((a) => !report.alerts.some((r) => r.rule === a.rule && r.since === a.since && r.state === a.state))];
    await journal
      .writeReport({ report: buildReport(report, { migrationId: plan.id, description: plan.description, mode: 'up', workflowId: info.workflowId, status, startedAt: progress.startedAt, finishedAt: now(), compensated }) })
      .catch(() => undefined); // a report that cannot be written must not change the outcome
    await monitor.flush();
  };
  const journal = journalActivities(options);
  const steps = stepActivities(options);

  let firstStep = 0;
  if (resume) {
    firstStep = resume.nextStep;
  } else {
    const start = await journal.journalStart({ plan, run: { runToken, workflowId: info.workflowId, runId: info.runId } });
    if (start.outcome === 'alreadyApplied') {
      progress.status = 'skipped';
      return { migrationId: plan.id, outcome: 'skipped' };
    }
    if (start.stale.length > 0) await compensateAll(saga, start.stale);
    // Steps are applied in order, so the completed ones are a prefix.
    const done = new Set(start.completed.map((c) => c.stepIndex));
    while (done.has(firstStep)) firstStep += 1;
    progress.stepsDone = firstStep;
  }

  let failedStep: string | null = null;
  try {
    progress.status = control.paused ? 'paused' : 'running';
    for (const step of plan.steps.slice(firstStep)) {
      progress.current = { stepIndex: step.index, label: step.label };
      failedStep = `step ${step.index + 1} (${step.label})`;
      stepStarted(report, step, now());
      saga.touch();
      if (isDataStep(step)) {
        const outcome = await runDataStep(
          {
            migrationId: plan.id,
            runToken,
            file: plan.file,
            options,
            progress,
            control,
            touch: saga.touch,
            shouldContinueAsNew: () => workflowInfo().continueAsNewSuggested,
            monitor,
            report,
            anomalies,
          },
          step,
        );
        if (outcome === 'continue-as-new') {
          // Alerts raised in this run go to the worker first: an activity still to run when the
          // run ends is dropped, and with it a firing or resolved notice.
          await monitor.flush();
          await continueAsNew<typeof migration>({
            ...input,
            resume: {
              runToken,
              nextStep: step.index,
              stepsDone: progress.stepsDone,
              startedAt: progress.startedAt,
              runs: progress.runs,
              paused: control.paused,
              loadControl: control.loadControl,
              controller: control.controller,
              rowsPerSecond: control.rowsPerSecond,
              report,
              monitor: monitor.carry(),
              clock: control.clock,
            },
          });
        }
        progress.data = null;
      } else {
        await steps.applySchemaStep({ migrationId: plan.id, runToken, step, options });
      }
      progress.stepsDone += 1;
      stepFinished(report, step.index, now());
    }
    failedStep = 'validation';
    progress.current = null;
    progress.status = 'validating';
    saga.touch();
    if (plan.validations.length > 0) await steps.runValidations({ plan });
    await journal.journalFinish({ migrationId: plan.id, runToken, status: 'applied' });
    progress.status = 'applied';
    saga.touch();
    await finishRun('applied', false);
    return { migrationId: plan.id, outcome: 'applied' };
  } catch (error) {
    // continueAsNew ends this run by throwing; it is not a failure.
    if (error instanceof ContinueAsNew) throw error;
    const cancelled = isCancellation(error);
    const message = cancelled ? `cancelled during ${failedStep ?? 'start'}` : `${failedStep ?? 'start'} failed: ${failureMessage(error)}`;
    progress.status = 'compensating';
    progress.error = message;
    saga.touch();
    await CancellationScope.nonCancellable(async () => {
      await compensateAll(saga, await journal.pendingCompensations({ migrationId: plan.id }));
      await journal.journalFinish({ migrationId: plan.id, runToken, status: 'failed', error: message });
    });
    progress.status = cancelled ? 'cancelled' : 'failed';
    saga.touch();
    report.errors.push(message);
    await CancellationScope.nonCancellable(() => finishRun(progress.status, true));
    if (cancelled) throw error;
    throw ApplicationFailure.create({
      message: `${plan.id}: ${message.replace(/\.+$/, '')}. Every applied step was undone; the database is as it was before.`,
      type: 'MigrationFailed',
      nonRetryable: true,
    });
  }
}
