// Determinism audit, run by the test harness after the tests: every workflow history the tests
// wrote to the private Temporal server is replayed against the workflow bundle they ran with.
//
// Why: a workflow whose commands depend on anything but its history (wall-clock branching that a
// replay can decide the other way, state changed outside an activation) works until a worker dies
// and another one replays it; then it is stuck in "nondeterminism" forever. Tests that kill
// workers catch that only when the dice fall badly. Replaying every history catches it every time,
// for every workflow any test ran, including histories cut short by kills and terminations.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { type HistoryAndWorkflowId } from '@temporalio/common';
import { Worker } from '@temporalio/worker';

export interface ReplayAuditResult {
  replayed: number;
  /** One line per history that did not replay, naming the workflow and the saved history file. */
  failures: string[];
}

export async function replayAudit(options: { address: string; bundlePath: string; artifactsDir: string }): Promise<ReplayAuditResult> {
  const connection = await Connection.connect({ address: options.address });
  try {
    const client = new Client({ connection });
    // Kept by run ID so a failing one can be saved for a human to replay (`temporal workflow show`
    // cannot help: the server is private and gone after the run).
    const histories = new Map<string, HistoryAndWorkflowId>();
    async function* remembered(): AsyncIterable<HistoryAndWorkflowId> {
      for await (const item of client.workflow.list().intoHistories({ concurrency: 8 })) {
        const history = item.history as { events?: { workflowExecutionStartedEventAttributes?: { originalExecutionRunId?: string | null } | null }[] | null } | undefined;
        const runId = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.originalExecutionRunId ?? '';
        histories.set(`${item.workflowId}/${runId}`, item);
        yield item;
      }
    }
    let replayed = 0;
    const failures: string[] = [];
    const results = Worker.runReplayHistories({ workflowBundle: { codePath: options.bundlePath }, replayName: 'replay-audit' }, remembered());
    for await (const result of results) {
      replayed += 1;
      if (!result.error) continue;
      const item = histories.get(`${result.workflowId}/${result.runId}`);
      let saved = '';
      if (item) {
        await fsp.mkdir(options.artifactsDir, { recursive: true });
        const file = path.join(options.artifactsDir, `nondeterministic-${result.workflowId.replace(/[^\w.-]+/g, '_')}-${result.runId}.json`);
        await fsp.writeFile(file, JSON.stringify(item.history));
        saved = `; history saved to ${file}`;
      }
      failures.push(`${result.workflowId} (run ${result.runId}): ${result.error.message}${saved}`);
    }
    return { replayed, failures };
  } finally {
    await connection.close();
  }
}
