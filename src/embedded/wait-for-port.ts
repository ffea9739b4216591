// Readiness by TCP connect. For `temporal server start-dev` this is sufficient: the frontend only
// listens after the default namespace and search attributes exist (verified with CLI 1.9.1).
import net from 'node:net';

/** One connection attempt; resolves false instead of throwing so callers can poll. */
export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** "host:port" → parts; used for addresses recorded in state files. */
export function splitAddress(address: string): { host: string; port: number } {
  const index = address.lastIndexOf(':');
  const port = Number(address.slice(index + 1));
  if (index <= 0 || !Number.isInteger(port)) throw new Error(`not a host:port address: ${address}`);
  return { host: address.slice(0, index), port };
}

export interface WaitForPortOptions {
  host: string;
  port: number;
  timeoutMs: number;
  intervalMs?: number;
  /**
   * Called between attempts; return a reason string to stop waiting early (e.g. the process that
   * should open the port has exited), so a crash is reported at once rather than after the timeout.
   */
  abortReason?: () => string | undefined;
}

export type WaitForPortResult = { ok: true } | { ok: false; reason: string };

export async function waitForPort(opts: WaitForPortOptions): Promise<WaitForPortResult> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 50;
  for (;;) {
    const aborted = opts.abortReason?.();
    if (aborted !== undefined) return { ok: false, reason: aborted };
    if (await canConnect(opts.host, opts.port, 500)) return { ok: true };
    if (Date.now() >= deadline) {
      return { ok: false, reason: `nothing accepted connections on ${opts.host}:${opts.port} within ${opts.timeoutMs} ms` };
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
