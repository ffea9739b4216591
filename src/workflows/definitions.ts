// Names and shapes shared by workflows and the client: queries, signals, inputs and results.
// Plain data only, so both sides (and the workflow sandbox) can import it.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { type Alert, type AnomalyState } from '../core/anomaly-rules';
import { type ReportState } from './report-state';
import { type LoadControlConfig } from '../core/load-control-config';
import { type ControllerState, type LatencyReading, type LoadSample } from '../core/load-controller';
import { type Compensation } from '../core/compensation';
import { type MigrationPlan } from '../core/plan';
import { type RunOptions } from '../core/run-options';

export type MigrationPhase =
  | 'starting'
  | 'running'
  | 'validating'
  | 'paused'
  | 'throttled'
  | 'compensating'
  | 'compensation_failed'
  | 'applied'
  | 'skipped'
  | 'failed'
  | 'cancelled'
  | 'rolled_back';

export interface MigrationProgress {
  migrationId: string;
  mode: 'up' | 'down';
  status: MigrationPhase;
  stepCount: number;
  stepsDone: number;
  /** The step (or compensation) running now. */
  current: { stepIndex: number; label: string } | null;
  compensationsLeft: number;
  error: string | null;
  startedAt: string;
  updatedAt: string;
  /** Data step in progress (null for schema steps). */
  data: DataProgress | null;
  /** Runs of this workflow so far (continue-as-new keeps history bounded). */
  runs: number;
  /** Open anomaly alerts and the most recent resolved ones. */
  alerts?: Alert[];
}

export interface DataProgress {
  stepIndex: number;
  rowsDone: number;
  rowsTotal: number;
  batches: number;
  rowErrors: number;
  batchSize: number;
  sleepMs: number;
  /** Smoothed recent rows per second. */
  rowsPerSecond: number;
  /** Seconds left at the smoothed rate; null when unknown. */
  etaSeconds: number | null;
  paused: boolean;
  throttled: boolean;
  reasons: string[];
  lastSample: LoadSample | null;
  /** The latency budget's last judgement (foreground p95 or canary p99 against its limit); null
   *  before the first, or with latencyBudget 0. Optional: progress from older workers lacks it. */
  latency?: LatencyReading | null;
  loadControl: LoadControlConfig;
}

/** A data step's monitoring clock (epoch ms): the rate rules' warm-up and the stall rule count from it. */
export interface StepClock {
  startedAt: number;
  lastProgressAt: number;
}

/** The monitor's open alert episodes and recent resolved notices. */
export interface MonitorCarry {
  open: AnomalyState;
  resolved: Alert[];
}

/** State carried across continue-as-new. */
export interface MigrationResume {
  runToken: string;
  nextStep: number;
  stepsDone: number;
  startedAt: string;
  runs: number;
  paused: boolean;
  loadControl: LoadControlConfig | null;
  controller: ControllerState | null;
  rowsPerSecond: number;
  report?: ReportState;
  /** Carried so an open alert episode is neither fired again nor left without its resolved
   *  notice, and the running step's warm-up and stall clock do not restart with each run. */
  monitor?: MonitorCarry;
  clock?: StepClock | null;
}

export interface MigrationInput {
  dbKey: string;
  plan: MigrationPlan;
  options: RunOptions;
  /** Present when this run continues an earlier one (continue-as-new). */
  resume?: MigrationResume;
}

export interface RollbackInput {
  dbKey: string;
  migrationId: string;
  options: RunOptions;
}

export interface MigrationOutcome {
  migrationId: string;
  outcome: 'applied' | 'skipped' | 'rolled_back';
}

export interface RunnerInput {
  dbKey: string;
  mode: 'up' | 'down';
  /** For `up`: plans in order. */
  plans: MigrationPlan[];
  /** For `down`: migration ids in the order to roll back (newest first). */
  migrationIds: string[];
  options: RunOptions;
}

export interface RunnerProgress {
  mode: 'up' | 'down';
  total: number;
  current: string | null;
  /** Workflow ID of the child running now, for `watch` and `cancel`. */
  currentWorkflowId: string | null;
  finished: MigrationOutcome[];
}

/** Details attached to the runner's failure so the CLI can explain it. */
export interface RunFailureDetails {
  failedMigrationId: string;
  cancelled: boolean;
  finished: MigrationOutcome[];
}

export type CompensationDecision = { action: 'retry' } | { action: 'skip' };

export const progressQuery = defineQuery<MigrationProgress>('progress');
export const runnerProgressQuery = defineQuery<RunnerProgress>('runnerProgress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Live load-control change (`stockrx-migrate set ID key=value…`); validated before it is accepted. */
export const setLoadControlUpdate = defineUpdate<LoadControlConfig, [Partial<LoadControlConfig>]>('setLoadControl');

/** Sent by an operator after a compensation kept failing: try it again, or skip it. */
export const resolveCompensationSignal = defineSignal<[CompensationDecision]>('resolveCompensation');

export function runnerWorkflowId(dbKey: string): string {
  return `stockrx-migrate/${dbKey}/runner`;
}

export function migrationWorkflowId(dbKey: string, migrationId: string, mode: 'up' | 'down'): string {
  return mode === 'up' ? `stockrx-migrate/${dbKey}/${migrationId}` : `stockrx-migrate/${dbKey}/${migrationId}/down`;
}

export type { Compensation };
