// Headings and timings for the demo's phases, so its output reads as a short story:
//   [2/7] Seed the StockRx database
//     …what happened…
//     done in 1.4 s
import { performance } from 'node:perf_hooks';
import { type Output } from '../cli/output';

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export interface PhaseTiming {
  /** Short name for the closing summary. */
  name: string;
  ms: number;
}

export interface PhaseClock {
  /** Prints the heading; `end()` prints the time taken (and an optional one-line result). */
  begin(name: string, title: string): { end(result?: string): void };
  run<T>(name: string, title: string, work: () => Promise<T>): Promise<T>;
  /** `postgres 2.1 s, seed 1.3 s, …` */
  summary(): string;
  timings: PhaseTiming[];
  elapsedMs(): number;
}

export function createPhaseClock(out: Output, total: number): PhaseClock {
  const startedAt = performance.now();
  const timings: PhaseTiming[] = [];
  let number = 0;
  const begin = (name: string, title: string) => {
    number += 1;
    out.info(`\n[${number}/${total}] ${title}`);
    const t0 = performance.now();
    let ended = false;
    return {
      end(result?: string) {
        if (ended) return;
        ended = true;
        const ms = performance.now() - t0;
        timings.push({ name, ms });
        out.info(`  ${result ? `${result} ` : ''}(${formatSeconds(ms)})`);
      },
    };
  };
  return {
    begin,
    async run(name, title, work) {
      const phase = begin(name, title);
      const result = await work();
      phase.end();
      return result;
    },
    timings,
    summary: () => timings.map((t) => `${t.name} ${formatSeconds(t.ms)}`).join(', '),
    elapsedMs: () => performance.now() - startedAt,
  };
}
