// When this slice's batches run, for the samplers that set apart *quiet* readings: taken with no
// batch running and at least `quietAfterMs` after the last one ended, so they read the foreground
// as it is now without this migration (the counterfactual the latency budget is relative to). The
// gap leaves out a batch's wake (the WAL and dirty buffers it left).
import { performance } from 'node:perf_hooks';

/** Where the clock stood when a reading began: pass it back to `stillQuiet` when it ends. */
export interface QuietMark {
  quiet: boolean;
  epoch: number;
}

export interface BatchClock {
  batchStarted(): void;
  batchEnded(): void;
  /** Is it quiet now? */
  mark(): QuietMark;
  /** Quiet at the mark, and no batch has started since. */
  stillQuiet(mark: QuietMark): boolean;
}

export function createBatchClock(quietAfterMs: number): BatchClock {
  // Before the first batch the slice has just begun: its previous batch (in the last slice) is
  // unknown, so the clock waits the full gap from its own start.
  let batchesStarted = 0;
  let batchRunning = false;
  let lastBatchEnded = performance.now();
  return {
    batchStarted() {
      batchesStarted += 1;
      batchRunning = true;
    },
    batchEnded() {
      batchRunning = false;
      lastBatchEnded = performance.now();
    },
    mark: () => ({ quiet: !batchRunning && performance.now() - lastBatchEnded >= quietAfterMs, epoch: batchesStarted }),
    // No batch began since the mark, so none ran in between: none was running at the mark.
    stillQuiet: (m) => m.quiet && batchesStarted === m.epoch,
  };
}
