// The alert sender with a fake fetch: delivery, retries, and that send() never waits on the webhook.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAlertSender, slackText, type AlertNotice } from '../../src/activities/alerts/alert-sender';
import { createLogger } from '../../src/logging/logger';
import { Writable } from 'node:stream';

const silent = createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
const notice: AlertNotice = {
  id: 'a1', migrationId: 'm1', workflowId: 'w1', rule: 'high_cpu', severity: 'warning', state: 'firing',
  message: 'CPU at 91 %', value: 91, threshold: 80, since: 1, at: 1,
};

test('slack text names the migration, severity, rule and message', () => {
  assert.equal(slackText(notice), '⚠️ stockrx-migrate m1: WARNING high_cpu — CPU at 91 %');
  assert.match(slackText({ ...notice, state: 'resolved', message: 'resolved: CPU at 91 %' }), /^✅ .*RESOLVED high_cpu/);
});

test('delivers once with the id header; retries 5xx and network errors; gives up on 4xx', async () => {
  const calls: { id: string | null; body: { text: string } }[] = [];
  let failures = 2;
  const sender = createAlertSender({
    webhookUrl: 'http://127.0.0.1:9/hook',
    logger: silent,
    firstDelayMs: 1,
    fetchImpl: (async (_url: string, init: RequestInit) => {
      calls.push({ id: (init.headers as Record<string, string>)['x-stockrx-alert-id'] ?? null, body: JSON.parse(String(init.body)) });
      if (failures-- > 0) return failures === 1 ? new Response('', { status: 503 }) : Promise.reject(new Error('ECONNREFUSED'));
      return new Response('ok');
    }) as typeof fetch,
  });
  sender.send(notice);
  await sender.drain(5000);
  assert.equal(calls.length, 3);
  assert.deepEqual(calls.map((c) => c.id), ['a1', 'a1', 'a1']);
  assert.equal(calls[2]!.body.text, slackText(notice));

  const refused: number[] = [];
  const strict = createAlertSender({ webhookUrl: 'http://x/', logger: silent, firstDelayMs: 1, fetchImpl: (async () => { refused.push(1); return new Response('', { status: 400 }); }) as typeof fetch });
  strict.send(notice);
  await strict.drain(5000);
  assert.equal(refused.length, 1);
});

test('send() is synchronous: it returns while the webhook request is still hanging', async () => {
  let resolveHang: () => void = () => undefined;
  let completed = false;
  const sender = createAlertSender({
    webhookUrl: 'http://x/',
    logger: silent,
    attempts: 1,
    fetchImpl: (() => new Promise<Response>((resolve) => (resolveHang = () => resolve(new Response('ok')))).finally(() => (completed = true))) as typeof fetch,
  });
  const seen: string[] = [];
  createAlertSender({ webhookUrl: null, logger: silent, onAlert: (n) => seen.push(n.id) }).send(notice);
  const returned: unknown = sender.send(notice);
  assert.equal(returned, undefined, 'send returns nothing to await');
  assert.deepEqual(seen, ['a1'], 'the log/metric side happens inside send');
  assert.equal(completed, false, 'the webhook request is still pending after send returned');
  resolveHang();
  await sender.drain(1000);
  assert.equal(completed, true);
});
