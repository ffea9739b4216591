// Process checks shared by the dir lock, the dev server and embedded Postgres. Pids recorded in
// state files outlive the processes that wrote them, so every check has to tolerate dead, zombie
// and reused pids.
import fs from 'node:fs';

/** Linux exposes process state in /proc; elsewhere the checks fall back to signal 0 only. */
const hasProc = fs.existsSync('/proc/self/stat');

/**
 * True when the pid names a running process. EPERM means it exists but belongs to another user
 * (e.g. the postgres user the embedded cluster runs as). Zombies count as dead: in containers
 * without an init that reaps, a stopped server would otherwise look alive forever.
 */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (hasProc) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Field 3 is the state; the command name before it is parenthesised and may contain spaces.
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** The argv of a process (Linux only); null when it cannot be read, so callers can stay lenient. */
export function readCommandLine(pid: number): string[] | null {
  if (!hasProc) return null;
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((part) => part.length > 0);
  } catch {
    return null;
  }
}

/** All pids whose argv satisfies the predicate (Linux only; empty elsewhere). */
export function findProcesses(matches: (argv: string[]) => boolean): number[] {
  if (!hasProc) return [];
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const argv = readCommandLine(pid);
    if (argv && matches(argv) && isPidAlive(pid)) found.push(pid);
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    // Already gone, or not a group leader: fall back to the process itself.
    if (group) signal(pid, sig, false);
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isPidAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/**
 * SIGTERM the process group (the servers we start are group leaders), escalate to SIGKILL after
 * `graceMs`. Resolves once the leader is gone, so a successor never shares its state file.
 */
export async function stopProcessGroup(pid: number, opts: { graceMs?: number } = {}): Promise<void> {
  if (!isPidAlive(pid)) return;
  signal(pid, 'SIGTERM', true);
  if (await waitForExit(pid, opts.graceMs ?? 5000)) return;
  signal(pid, 'SIGKILL', true);
  if (!(await waitForExit(pid, 5000))) throw new Error(`process ${pid} did not exit after SIGKILL`);
}

/** Synchronous best effort for `exit` handlers, where nothing asynchronous runs any more. */
export function signalProcessGroupSync(pid: number, sig: NodeJS.Signals = 'SIGTERM'): void {
  if (isPidAlive(pid)) signal(pid, sig, true);
}
