// A cross-process mutex built on the one filesystem operation that is atomic everywhere: mkdir.
// The directory holds an `owner` file ("<pid> <token>") so a lock left behind by a crashed process
// can be recognised (owner pid dead) and broken instead of blocking every later command.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { isPidAlive } from './process-control';

export interface DirLockOptions {
  /** Give up waiting after this long; the error names the holder. Default 60 s. */
  timeoutMs?: number;
  /** Describes what is being locked in error messages. */
  what?: string;
}

/** A lock dir without an owner file is someone between mkdir and writeFile, unless it is this old. */
const OWNERLESS_STALE_MS = 10_000;

interface Owner {
  pid: number;
  token: string;
}

function readOwnerSync(lockDir: string): Owner | null {
  try {
    const [pid, token] = fs.readFileSync(path.join(lockDir, 'owner'), 'utf8').trim().split(' ');
    return pid && token ? { pid: Number(pid), token } : null;
  } catch {
    return null;
  }
}

function isStale(lockDir: string, owner: Owner | null): boolean {
  if (owner) return !isPidAlive(owner.pid);
  try {
    return Date.now() - fs.statSync(lockDir).mtimeMs > OWNERLESS_STALE_MS;
  } catch {
    return false; // vanished meanwhile: simply retry the mkdir
  }
}

/**
 * Moves a stale lock aside atomically (rename) and deletes it. If, between our staleness check and
 * the rename, another process already broke it and took a fresh lock, we moved *their* lock: put it
 * back. (A third process could slip in during that window; the window is microseconds after a
 * crash, which is an acceptable risk for a developer tool.)
 */
function breakStaleLock(lockDir: string, seen: Owner | null): void {
  const aside = `${lockDir}.stale-${process.pid}-${randomUUID().slice(0, 8)}`;
  try {
    fs.renameSync(lockDir, aside);
  } catch {
    return;
  }
  const moved = readOwnerSync(aside);
  if (moved && moved.token !== seen?.token) {
    try {
      fs.renameSync(aside, lockDir);
      return;
    } catch {
      // Someone created a new lock meanwhile; the moved one is lost either way.
    }
  }
  fs.rmSync(aside, { recursive: true, force: true });
}

/** One attempt; returns the owner token on success. */
function tryLockSync(lockDir: string): string | null {
  try {
    fs.mkdirSync(lockDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      fs.mkdirSync(path.dirname(lockDir), { recursive: true });
      return tryLockSync(lockDir);
    }
    if (code !== 'EEXIST') throw error;
    const owner = readOwnerSync(lockDir);
    if (isStale(lockDir, owner)) breakStaleLock(lockDir, owner);
    return null;
  }
  const token = randomUUID();
  fs.writeFileSync(path.join(lockDir, 'owner'), `${process.pid} ${token}\n`);
  return token;
}

function unlockSync(lockDir: string, token: string): void {
  // Only remove the lock if it is still ours (it may have been broken as stale after a long pause).
  if (readOwnerSync(lockDir)?.token === token) fs.rmSync(lockDir, { recursive: true, force: true });
}

/** Runs `fn` while holding the lock; waits (polling) for other holders, breaking stale locks. */
export async function withDirLock<T>(lockDir: string, fn: () => Promise<T>, opts: DirLockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let token = tryLockSync(lockDir);
  let delay = 10;
  while (token === null) {
    if (Date.now() >= deadline) {
      const owner = readOwnerSync(lockDir);
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for the ${opts.what ?? 'lock'} ${lockDir}` +
          (owner ? `, held by pid ${owner.pid}` : '') +
          '. If that process is hung, stop it or remove the directory.',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 200);
    token = tryLockSync(lockDir);
  }
  try {
    return await fn();
  } finally {
    unlockSync(lockDir, token);
  }
}

/**
 * For `exit` handlers: a single non-blocking attempt. Returns the unlock function, or null when
 * the lock is busy (the caller then skips work that needs it).
 */
export function tryDirLockSync(lockDir: string): (() => void) | null {
  const token = tryLockSync(lockDir);
  return token === null ? null : () => unlockSync(lockDir, token);
}

/** Exposed for tests and diagnostics. */
export async function readLockOwner(lockDir: string): Promise<Owner | null> {
  try {
    await fsp.access(lockDir);
  } catch {
    return null;
  }
  return readOwnerSync(lockDir);
}
