import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { freePort, isPortFree, pickPort } from '../../src/embedded/free-port';
import { canConnect, splitAddress, waitForPort } from '../../src/embedded/wait-for-port';

async function listen(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test('freePort / isPortFree / pickPort', async () => {
  const port = await freePort();
  assert.ok(port > 0);
  assert.equal(await isPortFree(port), true);
  const busy = await listen();
  try {
    assert.equal(await isPortFree(busy.port), false);
    assert.notEqual(await pickPort(busy.port), busy.port, 'busy preferred port → another one');
    assert.equal(await pickPort(port), port, 'free preferred port is kept');
    assert.notEqual(await pickPort(port, [port]), port, 'avoided port is not picked');
  } finally {
    await busy.close();
  }
});

test('canConnect and waitForPort', async () => {
  const server = await listen();
  assert.equal(await canConnect('127.0.0.1', server.port), true);
  assert.deepEqual(await waitForPort({ host: '127.0.0.1', port: server.port, timeoutMs: 1000 }), { ok: true });
  await server.close();
  assert.equal(await canConnect('127.0.0.1', server.port), false);
  const timedOut = await waitForPort({ host: '127.0.0.1', port: server.port, timeoutMs: 150 });
  assert.equal(timedOut.ok, false);
  const aborted = await waitForPort({ host: '127.0.0.1', port: server.port, timeoutMs: 10_000, abortReason: () => 'process exited' });
  assert.deepEqual(aborted, { ok: false, reason: 'process exited' });
});

test('splitAddress', () => {
  assert.deepEqual(splitAddress('127.0.0.1:7233'), { host: '127.0.0.1', port: 7233 });
  assert.throws(() => splitAddress('localhost'));
});
