// Ctrl-C for the demo. The demo owns everything it starts, so the first Ctrl-C (or SIGTERM,
// SIGHUP) ends it in order: its workflows are terminated, the worker, Temporal and Postgres
// stopped. While our listener is installed, the dev server's own exit hook stands back (it only
// acts when it is the sole listener). A second signal gives up on the orderly way.
export class DemoInterrupted extends Error {
  override readonly name = 'DemoInterrupted';
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted (${signal})`);
  }
}

export interface InterruptWatch {
  /** Resolves with the first signal. */
  readonly signal: Promise<NodeJS.Signals>;
  fired(): NodeJS.Signals | null;
  /** Throws DemoInterrupted when a signal arrived. */
  check(): void;
  /** `work`, or DemoInterrupted as soon as a signal arrives (work goes on in the background, its outcome ignored). */
  race<T>(work: Promise<T>): Promise<T>;
  /** Removes our listeners (idempotent). */
  dispose(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function watchInterrupts(onFirst: (signal: NodeJS.Signals) => void = () => undefined): InterruptWatch {
  let fired: NodeJS.Signals | null = null;
  let resolveSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signal = new Promise<NodeJS.Signals>((resolve) => (resolveSignal = resolve));
  const interrupted = signal.then((s) => Promise.reject(new DemoInterrupted(s)));
  interrupted.catch(() => undefined);

  const dispose = () => {
    for (const s of SIGNALS) process.removeListener(s, handler);
  };
  function handler(s: NodeJS.Signals) {
    if (fired) {
      // Second signal: stop waiting for the orderly shutdown; the default action (or the dev
      // server's exit hook, which releases the server first) ends the process.
      dispose();
      process.kill(process.pid, s);
      return;
    }
    fired = s;
    onFirst(s);
    resolveSignal(s);
  }
  for (const s of SIGNALS) process.on(s, handler);

  return {
    signal,
    fired: () => fired,
    check() {
      if (fired) throw new DemoInterrupted(fired);
    },
    race<T>(work: Promise<T>): Promise<T> {
      work.catch(() => undefined);
      return Promise.race([work, interrupted as Promise<never>]);
    },
    dispose,
  };
}

let tolerating = false;

/**
 * After an interrupt the demo abandons the phase that was running; a call it left in flight can
 * hang (a query buffered behind a workflow task that a termination cancelled) and @temporalio/
 * client's gRPC retry interceptor then retries it from a timer after the connection closed, which
 * throws "Channel has been shut down" out of that timer and would crash the orderly shutdown. The
 * process is ending anyway: that one error is ignored, anything else still crashes as usual.
 */
export function tolerateClosedTemporalChannels(): void {
  if (tolerating) return;
  tolerating = true;
  process.on('uncaughtException', (error) => {
    if (error instanceof Error && error.message === 'Channel has been shut down') return;
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
