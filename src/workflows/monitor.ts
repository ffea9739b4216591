// The workflow side of MigrationMonitor: publishes status and progress to the Temporal Web UI
// (search attributes, current details), evaluates the anomaly rules on every observation, and
// hands alerts to a background pump that calls the notify activity. Nothing here waits on alert
// delivery: a dead webhook never slows a migration.
import { condition, proxyActivities, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/create-activities';
import { type Alert, type AnomalyConfig, type AnomalyState, evaluateAnomalies, type Observation, resolveAll } from '../core/anomaly-rules';
import { type MigrationProgress, type MonitorCarry } from './definitions';
import { MIGRATION_ID_KEY, PROGRESS_KEY, STATUS_KEY } from './search-attribute-keys';

/** Resolved alerts kept in the progress query, newest last. */
const RESOLVED_KEPT = 10;

export interface MonitorOptions {
  migrationId: string;
  description: string;
  anomalies: AnomalyConfig;
  /** False when the server lacks our search attributes (the CLI checks before starting). */
  searchAttributes: boolean;
}

export interface Monitor {
  /** Call after every change of `progress`: updates the Web UI view. */
  publish(): void;
  observe(observation: Observation, startedAt: number): void;
  /** Ends every open alert episode (a step ended, or the run did). */
  resolveAll(): void;
  /** Waits briefly for queued alerts to be handed to the worker (end of run). */
  flush(): Promise<void>;
  alerts(): Alert[];
  /** What continue-as-new hands to the next run (see createMonitor's `carried`). */
  carry(): MonitorCarry;
}

/** `carried`: the previous run's open episodes and resolved notices (continue-as-new). */
export function createMonitor(options: MonitorOptions, progress: MigrationProgress, carried?: MonitorCarry): Monitor {
  const { notifyAlerts } = proxyActivities<Activities>({ startToCloseTimeout: '10 seconds', retry: { maximumAttempts: 3 } });
  const workflowId = workflowInfo().workflowId;
  let state: AnomalyState = carried?.open ?? {};
  let history: Alert[] = carried?.resolved ?? [];
  if (carried) progress.alerts = [...Object.values(state), ...history];
  let lastStatus: string | null = null;
  let lastProgress = -1;
  let lastDetails = '';
  const queue: Alert[] = [];
  let pumping = false;

  const pump = async () => {
    pumping = true;
    while (queue.length > 0) {
      const batch = queue.splice(0);
      try {
        await notifyAlerts({
          migrationId: options.migrationId,
          workflowId,
          notices: batch.map((alert) => ({ ...alert, id: `${workflowId}/${alert.rule}/${alert.since}/${alert.state}` })),
        });
      } catch {
        // The worker logged what it could; alerts must never fail the migration.
      }
    }
    pumping = false;
  };

  const deliver = (notices: Alert[]) => {
    if (notices.length === 0) return;
    for (const notice of notices) {
      if (notice.state === 'resolved') history = [...history.filter((a) => a.state === 'resolved'), notice].slice(-RESOLVED_KEPT);
    }
    progress.alerts = [...Object.values(state), ...history];
    queue.push(...notices);
    if (!pumping) void pump();
  };

  const ratio = () => {
    if (progress.data && progress.data.rowsTotal > 0) {
      const stepShare = 1 / Math.max(1, progress.stepCount);
      return Math.min(1, progress.stepsDone * stepShare + stepShare * Math.min(1, progress.data.rowsDone / progress.data.rowsTotal));
    }
    return progress.stepCount > 0 ? progress.stepsDone / progress.stepCount : 1;
  };

  return {
    publish() {
      // Each upsert is a command, so whether one is issued must follow from the history alone:
      // from status and progress (changed only by activity results and signals), not from elapsed
      // workflow time. An earlier version throttled on "5 s since the last upsert", the same length
      // as a slice, and one CI run (a worker SIGKILLed mid-step) got a history whose replay issued
      // an upsert where the original had not: the workflow was stuck in nondeterminism. Progress
      // moves only when a slice reports back, so this is at most one upsert per slice (0.1 % steps).
      const value = Math.round(ratio() * 1000) / 10;
      if (options.searchAttributes && (progress.status !== lastStatus || value !== lastProgress)) {
        upsertSearchAttributes([
          { key: MIGRATION_ID_KEY, value: options.migrationId },
          { key: STATUS_KEY, value: progress.status },
          { key: PROGRESS_KEY, value },
        ]);
        lastProgress = value;
      }
      lastStatus = progress.status;
      const d = progress.data;
      const details =
        `**${options.migrationId}** — ${options.description}\n\n` +
        `status **${progress.status}**, step ${Math.min(progress.stepsDone + 1, progress.stepCount)}/${progress.stepCount}` +
        `${progress.current ? `: ${progress.current.label}` : ''}` +
        `${d ? `\n\n${d.rowsDone}/${d.rowsTotal} rows, ${Math.round(d.rowsPerSecond)} rows/s, batch ${d.batchSize}, pause ${d.sleepMs} ms${d.throttled ? `, throttled (${d.reasons.join('; ')})` : ''}` : ''}` +
        `${progress.error ? `\n\nerror: ${progress.error}` : ''}` +
        `${Object.values(state).length > 0 ? `\n\nalerts: ${Object.values(state).map((a) => `${a.severity} ${a.rule}`).join(', ')}` : ''}`;
      if (details !== lastDetails) {
        setCurrentDetails(details);
        lastDetails = details;
      }
    },
    observe(observation, startedAt) {
      const result = evaluateAnomalies(state, observation, options.anomalies, startedAt);
      state = result.state;
      deliver(result.notices);
    },
    resolveAll() {
      const result = resolveAll(state, Date.now());
      state = result.state;
      deliver(result.notices);
    },
    async flush() {
      await condition(() => !pumping && queue.length === 0, '10 seconds');
    },
    alerts: () => [...Object.values(state), ...history],
    carry: () => ({ open: state, resolved: history }),
  };
}
