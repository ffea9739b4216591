// Whether any worker polls a task queue right now: `up --detach` leaves the run to other workers,
// so it says so when there are none (the run would wait, holding the database's lock).
import { type Client } from '@temporalio/client';

// Enum values of temporal.api.enums.v1 (TaskQueueKind.NORMAL, TaskQueueType.WORKFLOW); the proto
// package is not a direct dependency, and these numbers are part of the wire protocol.
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_WORKFLOW = 1;

export async function workflowPollerCount(client: Client, namespace: string, taskQueue: string): Promise<number> {
  const response = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
    taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
  });
  return response.pollers?.length ?? 0;
}
