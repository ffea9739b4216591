// Port helpers for the embedded services. Everything binds to 127.0.0.1 only: the embedded Temporal
// server and Postgres are development conveniences and must never be reachable from the network.
import net from 'node:net';

export const LOOPBACK = '127.0.0.1';

/** Asks the kernel for an unused port by binding port 0, then releases it for the caller to use. */
export function freePort(host: string = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not determine a free port'))));
    });
  });
}

/**
 * True when nothing listens on host:port. Binding (rather than connecting) is the honest test: it
 * also catches a listener on 0.0.0.0 and sockets lingering in a state that would refuse the bind.
 */
export function isPortFree(port: number, host: string = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * The preferred port when it is free (so the usual 7233/8233 are used when possible, matching the
 * Temporal docs), otherwise any free port. `avoid` keeps two picks for one process apart.
 */
export async function pickPort(preferred: number | undefined, avoid: readonly number[] = []): Promise<number> {
  if (preferred !== undefined && preferred > 0 && !avoid.includes(preferred) && (await isPortFree(preferred))) {
    return preferred;
  }
  for (;;) {
    const port = await freePort();
    if (!avoid.includes(port)) return port;
  }
}
