// Times the canary lookup continuously, every `intervalMs`, on the canary's own connection, for
// as long as a slice runs: through batches and through pauses alike. Foreground requests arrive at
// any moment, so a harm estimate must sample uniformly in time; one lookup per batch (as before)
// gave 20 samples only after 20 batches — tens of seconds once the controller had backed off — so
// its p99 was the maximum of a handful of noisy lookups, and the controller swung between crawling
// and racing. At the default 15 ms a 100-sample window fills in about 1.5 s whatever the batch
// size or pause; the lookups cost the database a few index probes per second.
//
// The slice tells the sampler when its batches run, so the sampler can also set apart the *quiet*
// lookups: those that overlapped no batch and began at least `quietAfterMs` after the last one
// ended. They measure the foreground as it is now without this migration — the counterfactual the
// latency budget is relative to — and the controller re-measures its baseline from them
// (load-controller.ts). The gap leaves out a batch's wake (the WAL and dirty buffers it left).
import { performance } from 'node:perf_hooks';
import { type Canary } from './canary';

export interface CanaryDrain {
  /** Every lookup timed since the previous drain, oldest first. */
  samples: number[];
  /** The quiet ones among them (see above), oldest first. */
  quiet: number[];
}

export interface CanarySampler {
  /** The lookups timed since the previous call. Throws if the canary failed. */
  drain(): CanaryDrain;
  /** A batch starts now; lookups overlapping it are not quiet. */
  batchStarted(): void;
  /** The batch ended now; lookups begun within `quietAfterMs` of this are not quiet either. */
  batchEnded(): void;
  /** Stops sampling and waits for the lookup in flight. */
  stop(): Promise<void>;
}

export interface CanarySamplerOptions {
  intervalMs: number;
  /** How long after a batch ends a lookup must begin to count as quiet. */
  quietAfterMs: number;
}

/** At most this many undrained samples are kept (a slice that stops draining must not grow memory). */
const MAX_BUFFERED = 10_000;

export function startCanarySampler(canary: Canary, options: CanarySamplerOptions): CanarySampler {
  const { intervalMs, quietAfterMs } = options;
  let stopped = false;
  let samples: number[] = [];
  let quiet: number[] = [];
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  // Batches started so far, whether one is running, and when the last one ended. Before the
  // first batch the slice has just begun: its previous batch (in the last slice) is unknown, so
  // the sampler waits the full gap from its own start.
  let batchesStarted = 0;
  let batchRunning = false;
  let lastBatchEnded = performance.now();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const keep = (buffer: number[], value: number): number[] => {
    buffer.push(value);
    return buffer.length > MAX_BUFFERED ? buffer.slice(-MAX_BUFFERED) : buffer;
  };
  const loop = (async () => {
    while (!stopped && failure === null) {
      const begun = performance.now();
      const epoch = batchesStarted;
      const quietAtStart = !batchRunning && begun - lastBatchEnded >= quietAfterMs;
      try {
        const ms = await canary.measure();
        samples = keep(samples, ms);
        // No batch began while it ran (so none ran during it: none was running when it began).
        if (quietAtStart && batchesStarted === epoch) quiet = keep(quiet, ms);
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
      const out = { samples, quiet };
      samples = [];
      quiet = [];
      return out;
    },
    batchStarted() {
      batchesStarted += 1;
      batchRunning = true;
    },
    batchEnded() {
      batchRunning = false;
      lastBatchEnded = performance.now();
    },
    async stop() {
      stopped = true;
      (wake as (() => void) | null)?.();
      await loop;
    },
  };
}
