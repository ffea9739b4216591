// The loop the canary sampler and the foreground observer share: one reading every `intervalMs`
// for as long as a slice runs, its samples (and the quiet ones among them, batch-clock.ts)
// buffered until the next decision drains them. A failed reading stops the loop and is thrown at
// the next drain, so the slice fails where it can handle it.
import { type BatchClock, createBatchClock } from './batch-clock';

export interface SamplerDrain {
  /** Every sample since the previous drain, oldest first. */
  samples: number[];
  /** The quiet ones among them, oldest first. */
  quiet: number[];
}

export interface PeriodicSampler {
  /** What was read since the previous call. Throws if a reading failed. */
  drain(): SamplerDrain;
  /** A batch starts now; readings overlapping it are not quiet. */
  batchStarted(): void;
  /** The batch ended now; readings begun within `quietAfterMs` of this are not quiet either. */
  batchEnded(): void;
  /** Reads every `ms` from now on: the pause in progress ends, so the next reading comes at once
   *  and the new rhythm starts from it. */
  setIntervalMs(ms: number): void;
  /** Stops reading and waits for the reading in flight. */
  stop(): Promise<void>;
}

/** At most this many undrained samples are kept (a slice that stops draining must not grow memory). */
const MAX_BUFFERED = 20_000;

/** `read` takes one reading, using the clock to tell which of its samples are quiet. */
export function startPeriodicSampler(options: { intervalMs: number; quietAfterMs: number }, read: (clock: BatchClock) => Promise<SamplerDrain>): PeriodicSampler {
  let stopped = false;
  let failure: unknown = null;
  let samples: number[] = [];
  let quiet: number[] = [];
  let wake: (() => void) | null = null;
  let intervalMs = options.intervalMs;
  const clock = createBatchClock(options.quietAfterMs);
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const keep = (buffer: number[], values: number[]): number[] => {
    buffer.push(...values);
    return buffer.length > MAX_BUFFERED ? buffer.slice(-MAX_BUFFERED) : buffer;
  };
  const loop = (async () => {
    while (!stopped) {
      try {
        const reading = await read(clock);
        samples = keep(samples, reading.samples);
        quiet = keep(quiet, reading.quiet);
      } catch (error) {
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
    batchStarted: clock.batchStarted,
    batchEnded: clock.batchEnded,
    setIntervalMs(ms: number) {
      intervalMs = ms;
      (wake as (() => void) | null)?.();
    },
    async stop() {
      stopped = true;
      (wake as (() => void) | null)?.();
      await loop;
    },
  };
}
