// How much a latency judgement tells the controller about its own rate, from a B2 run's decision
// traces (bench/b2-load-control.ts with BENCH_TRACE=decisions --json FILE).
//
// The controller moves its rate by what each window's reading says. If the reading answers the
// rate only weakly and varies a lot from window to window at one rate, no rule can place the rate
// well from a handful of windows: this script measures both. For every judgement it takes the
// rows/s the step actually moved since the previous judgement (from the trace's batch counts) and
// the reading's overshoot (reading ÷ the budget's limit), and fits log(overshoot) against
// log(rows/s) over all adaptive points' judgements:
//   elasticity   the slope: the reading's change for a change of rate (1 %: 0.01× …)
//   noise        the residuals' standard deviation (log): a window's scatter at one rate
//   windows/2×   (noise ÷ (elasticity × ln 2))²: windows whose mean tells two rates 2× apart
//                apart by one standard deviation.
//
//   node --import tsx bench/b2-reading-information.ts --json FILE [--skip 2]
// --skip N: leave out each trace's first N judgements (the step's start, when the rate is still
// the initial setting's and the window may hold the baselines' stretch).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { BenchUsageError, wholeNumberOption } from './lib/args';
import { fit, judgementsOf, type Judgement, type TracedResult } from './lib/reading-information';
import { runBench } from './lib/stack';

/** The B2 run's JSON; a file that is missing or not such a JSON is a usage error. */
function readRun(file: string): { results: TracedResult[] } {
  let run: unknown;
  try {
    run = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new BenchUsageError(`--json: cannot read ${file} (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!Array.isArray((run as { results?: unknown } | null)?.results)) throw new BenchUsageError(`--json: ${file} is not a B2 run's JSON (it has no "results")`);
  return run as { results: TracedResult[] };
}

function main(): void {
  const { values } = parseArgs({ options: { json: { type: 'string' }, skip: { type: 'string', default: '2' } } });
  if (values.json === undefined) throw new BenchUsageError('--json FILE: the JSON a B2 run wrote (BENCH_TRACE=decisions … --json FILE)');
  const skip = wholeNumberOption('skip', values.skip, 0);
  const run = readRun(values.json);
  const traced = run.results.filter((r) => Array.isArray(r.trace));
  if (traced.length === 0) throw new BenchUsageError(`--json: ${values.json} holds no decision traces: run the B2 bench with BENCH_TRACE=decisions`);
  const byPoint = new Map<string, Judgement[]>();
  for (const r of traced) byPoint.set(r.point, [...(byPoint.get(r.point) ?? []), ...judgementsOf(r.trace!).slice(skip)]);
  const report = (name: string, js: readonly Judgement[]): void => {
    if (js.length < 3) return console.log(`${name}: ${js.length} judgements, too few to fit`);
    const { slope, slopeSe, residualSd } = fit(js.map((j) => Math.log(j.rowsPerSecond)), js.map((j) => Math.log(j.overshoot)));
    const rates = js.map((j) => j.rowsPerSecond).sort((a, b) => a - b);
    const windows = slope > 0 ? (residualSd / (slope * Math.LN2)) ** 2 : Number.POSITIVE_INFINITY;
    console.log(
      `${name}: ${js.length} judgements at ${Math.round(rates[0]!)}–${Math.round(rates.at(-1)!)} rows/s; ` +
        `elasticity ${slope.toFixed(3)} ± ${slopeSe.toFixed(3)}, noise (sd of log) ${residualSd.toFixed(3)}, windows to tell 2× apart ${Number.isFinite(windows) ? windows.toFixed(0) : '∞'}`,
    );
  };
  for (const [point, js] of byPoint) report(point, js);
  report('all adaptive points', [...byPoint.values()].flat());
}

runBench(async () => {
  main();
  return 0;
});
