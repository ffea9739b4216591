// Times the canary lookup continuously, every `intervalMs`, on the canary's own connection, for
// as long as a slice runs: through batches and through pauses alike. Foreground requests arrive at
// any moment, so a harm estimate must sample uniformly in time; one lookup per batch (as before)
// gave 20 samples only after 20 batches — tens of seconds once the controller had backed off — so
// its p99 was the maximum of a handful of noisy lookups, and the controller swung between crawling
// and racing. At the default 15 ms a 100-sample window fills in about 1.5 s whatever the batch
// size or pause; the lookups cost the database a few index probes per second.
import { type Canary } from './canary';

export interface CanarySampler {
  /** The lookups timed since the previous call, oldest first. Throws if the canary failed. */
  drain(): number[];
  /** Stops sampling and waits for the lookup in flight. */
  stop(): Promise<void>;
}

/** At most this many undrained samples are kept (a slice that stops draining must not grow memory). */
const MAX_BUFFERED = 10_000;

export function startCanarySampler(canary: Canary, intervalMs: number): CanarySampler {
  let stopped = false;
  let buffer: number[] = [];
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const loop = (async () => {
    while (!stopped && failure === null) {
      try {
        buffer.push(await canary.measure());
        if (buffer.length > MAX_BUFFERED) buffer = buffer.slice(-MAX_BUFFERED);
      } catch (error) {
        // Reported at the next drain, so the slice fails where it can handle it.
        failure = error;
        break;
      }
      if (!stopped) await pause(intervalMs);
    }
  })();
  return {
    drain() {
      if (failure !== null) throw failure;
      const out = buffer;
      buffer = [];
      return out;
    },
    async stop() {
      stopped = true;
      (wake as (() => void) | null)?.();
      await loop;
    },
  };
}
