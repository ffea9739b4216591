// Delivers alerts: always to the log (and the alerts metric), and to a webhook when configured —
// a JSON POST with a Slack-compatible `text` field. Webhook delivery runs in the background with
// retries and backoff, so a slow or dead webhook never slows or fails the migration. Each notice
// carries an id (X-Stockrx-Alert-Id) so a receiver can drop the rare duplicate of a retried POST.
import { type Alert } from '../../core/anomaly-rules';
import { redactSecrets } from '../../config/redact';
import { type Logger } from '../../logging/logger';

export interface AlertNotice extends Alert {
  id: string;
  migrationId: string;
  workflowId: string;
  /** The workflow run that raised it (absent when sent outside an activity). */
  runId?: string;
}

export interface AlertSenderOptions {
  webhookUrl: string | null;
  logger: Logger;
  onAlert?: (notice: AlertNotice) => void;
  attempts?: number;
  firstDelayMs?: number;
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}

export interface AlertSender {
  send(notice: AlertNotice): void;
  /** Waits (at most `ms`) for queued webhook deliveries, e.g. before the worker exits. */
  drain(ms: number): Promise<void>;
}

export function slackText(notice: AlertNotice): string {
  const icon = notice.state === 'resolved' ? '✅' : notice.severity === 'critical' ? '🚨' : '⚠️';
  return `${icon} stockrx-migrate ${notice.migrationId}: ${notice.state === 'resolved' ? 'RESOLVED' : notice.severity.toUpperCase()} ${notice.rule} — ${notice.message}`;
}

export function createAlertSender(options: AlertSenderOptions): AlertSender {
  const pending = new Set<Promise<void>>();
  const attempts = options.attempts ?? 5;
  const doFetch = options.fetchImpl ?? fetch;

  const post = async (notice: AlertNotice) => {
    let delay = options.firstDelayMs ?? 500;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const response = await doFetch(options.webhookUrl!, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-stockrx-alert-id': notice.id },
          body: JSON.stringify({ text: slackText(notice), alert: notice }),
          signal: AbortSignal.timeout(options.timeoutMs ?? 3000),
        });
        if (response.ok) return;
        if (response.status < 500 && response.status !== 429) {
          options.logger.warn({ alertId: notice.id, migrationId: notice.migrationId, workflowId: notice.workflowId, runId: notice.runId, status: response.status }, 'alert webhook refused the alert; not retrying');
          return;
        }
      } catch {
        // Network errors and timeouts are retried below.
      }
      if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 8000);
    }
    options.logger.warn({ alertId: notice.id, migrationId: notice.migrationId, workflowId: notice.workflowId, runId: notice.runId, rule: notice.rule }, 'alert webhook unreachable; the alert is in this log only');
  };

  return {
    send(notice) {
      const fields = { alertId: notice.id, migrationId: notice.migrationId, workflowId: notice.workflowId, runId: notice.runId, rule: notice.rule, severity: notice.severity, state: notice.state, value: notice.value, threshold: notice.threshold };
      const message = redactSecrets(slackText(notice));
      if (notice.state === 'resolved') options.logger.info(fields, message);
      else if (notice.severity === 'critical') options.logger.error(fields, message);
      else options.logger.warn(fields, message);
      options.onAlert?.(notice);
      if (!options.webhookUrl) return;
      const delivery = post(notice).finally(() => pending.delete(delivery));
      pending.add(delivery);
    },
    async drain(ms) {
      if (pending.size === 0) return;
      await Promise.race([Promise.allSettled([...pending]), new Promise((resolve) => setTimeout(resolve, ms))]);
    },
  };
}
