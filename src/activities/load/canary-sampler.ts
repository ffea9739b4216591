// Times the canary lookup continuously, every `intervalMs`, on the canary's own connection, for
// as long as a slice runs: through batches and through pauses alike. Foreground requests arrive at
// any moment, so a harm estimate must sample uniformly in time; one lookup per batch (as before)
// gave 20 samples only after 20 batches — tens of seconds once the controller had backed off — so
// its p99 was the maximum of a handful of noisy lookups, and the controller swung between crawling
// and racing. At the default 15 ms a 100-sample window fills in about 1.5 s whatever the batch
// size or pause; the lookups cost the database a few index probes per second.
//
// The slice tells the sampler when its batches run, so the sampler can also set apart the *quiet*
// lookups (batch-clock.ts): those that overlapped no batch and began at least `quietAfterMs` after
// the last one ended. The controller re-measures its baseline from them (load-controller.ts).
import { type Canary } from './canary';
import { type PeriodicSampler, type SamplerDrain, startPeriodicSampler } from './periodic-sampler';

export type CanaryDrain = SamplerDrain;
export type CanarySampler = PeriodicSampler;

export interface CanarySamplerOptions {
  intervalMs: number;
  /** How long after a batch ends a lookup must begin to count as quiet. */
  quietAfterMs: number;
}

export function startCanarySampler(canary: Canary, options: CanarySamplerOptions): CanarySampler {
  return startPeriodicSampler(options, async (clock) => {
    const mark = clock.mark();
    const ms = await canary.measure();
    return { samples: [ms], quiet: clock.stillQuiet(mark) ? [ms] : [] };
  });
}
