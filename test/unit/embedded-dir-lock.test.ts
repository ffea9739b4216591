// The cross-process mutex used by the dev server, the CLI install and embedded Postgres.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readLockOwner, tryDirLockSync, withDirLock } from '../../src/embedded/dir-lock';

const roots: string[] = [];
after(() => Promise.all(roots.map((root) => fs.rm(root, { recursive: true, force: true }))));

async function lockPath(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stockrx-lock-test-'));
  roots.push(dir);
  return path.join(dir, 'thing.lock.d');
}

/** A pid that certainly belongs to no running process: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(child.stdout.trim());
}

test('concurrent holders never overlap', async () => {
  const lockDir = await lockPath();
  let inside = 0;
  let maxInside = 0;
  const order: number[] = [];
  await Promise.all(
    [1, 2, 3, 4, 5].map((n) =>
      withDirLock(lockDir, async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        await new Promise((resolve) => setTimeout(resolve, 20));
        order.push(n);
        inside--;
      }),
    ),
  );
  assert.equal(maxInside, 1);
  assert.equal(order.length, 5);
  assert.equal(await readLockOwner(lockDir), null, 'lock removed after the last holder');
});

test('the lock is released when the critical section throws', async () => {
  const lockDir = await lockPath();
  await assert.rejects(withDirLock(lockDir, () => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(await withDirLock(lockDir, () => Promise.resolve('again')), 'again');
});

test('a lock whose owner pid is dead is broken', async () => {
  const lockDir = await lockPath();
  await fs.mkdir(lockDir);
  await fs.writeFile(path.join(lockDir, 'owner'), `${deadPid()} stale-token\n`);
  const started = Date.now();
  assert.equal(await withDirLock(lockDir, () => Promise.resolve('got it'), { timeoutMs: 5000 }), 'got it');
  assert.ok(Date.now() - started < 2000);
});

test('a lock held by a live process times out with the holder named', async () => {
  const lockDir = await lockPath();
  const unlock = tryDirLockSync(lockDir);
  assert.ok(unlock);
  assert.equal(tryDirLockSync(lockDir), null, 'a second sync attempt fails while held');
  await assert.rejects(
    withDirLock(lockDir, () => Promise.resolve(), { timeoutMs: 200, what: 'test lock' }),
    new RegExp(`test lock .* held by pid ${process.pid}`),
  );
  unlock();
  assert.equal(await withDirLock(lockDir, () => Promise.resolve(1)), 1);
});
