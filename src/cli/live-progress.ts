// What `up` (and `down`) print while they wait: the step changes as lines, and for data steps the
// same bar as `watch`. On a terminal the bar is redrawn in place under the last line; elsewhere
// (CI logs, pipes) a plain bar line is printed at most every PLAIN_EVERY_MS, so a long backfill
// shows it is alive without flooding the log.
import { type Client } from '@temporalio/client';
import { followRun, type RunResult, type StartedRun } from '../client/run-workflow';
import { type MigrationProgress } from '../workflows/definitions';
import { type Output } from './output';
import { describeProgress } from './progress-line';
import { renderProgress } from './progress-bar';

export const PLAIN_EVERY_MS = 10_000;

export interface LiveProgress {
  /** A change of status or step: printed as a line. */
  change(p: MigrationProgress): void;
  /** Every poll: redraws (terminal) or, now and then, prints the bar of a data step. */
  poll(p: MigrationProgress): void;
  /** Ends the live line so the next output starts on a fresh one. */
  done(): void;
}

export function createLiveProgress(out: Output, stream: NodeJS.WriteStream = process.stdout, now: () => number = Date.now): LiveProgress {
  // --json keeps stdout for the one result document; human progress would corrupt it.
  if (out.json) return { change: () => undefined, poll: () => undefined, done: () => undefined };
  const tty = stream.isTTY === true;
  let barShown = false;
  let lastPlainAt = 0;
  const clearBar = () => {
    if (tty && barShown) stream.write('\r\x1b[2K');
    barShown = false;
  };
  return {
    change(p) {
      clearBar();
      out.info(describeProgress(p));
    },
    poll(p) {
      if (!p.data) return;
      const line = `  ${renderProgress(p)}`;
      if (tty) {
        stream.write(`\r\x1b[2K${line.slice(0, (stream.columns ?? 200) - 1)}`);
        barShown = true;
      } else if (now() - lastPlainAt >= PLAIN_EVERY_MS) {
        lastPlainAt = now();
        out.info(line);
      }
    },
    done: clearBar,
  };
}

/** followRun with the live view: what `up`, `down` and the demo show while a run goes on. */
export async function followRunLive(client: Client, run: StartedRun, out: Output): Promise<RunResult> {
  const live = createLiveProgress(out);
  try {
    return await followRun(client, run, (p) => live.change(p), (p) => live.poll(p));
  } finally {
    live.done();
  }
}
