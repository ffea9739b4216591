// Links into the Temporal Web UI for the workflows the demo ran.
export function workflowListUrl(uiUrl: string, namespace: string): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows`;
}

/** A workflow's history page. Workflow IDs contain `/` and `:`, so they are encoded. */
export function workflowUrl(uiUrl: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${workflowListUrl(uiUrl, namespace)}/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}
