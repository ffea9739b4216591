// What a B2 decision trace says about the reading's information: each judgement paired with the
// rows/s moved since the one before it, and a least-squares fit (bench/b2-reading-information.ts).

/** One adaptive point's repetition in the JSON the B2 bench writes. */
export interface TracedResult {
  point: string;
  rep: number;
  trace?: string[];
}

export interface Judgement {
  rowsPerSecond: number;
  overshoot: number;
}

const BATCHES = /^([\d.]+)s (\d+) batches → batch (\d+) pause (\d+) ms/;
const JUDGED = /^([\d.]+)s\s+judged → batch (\d+) pause (\d+) ms: .*?\(([\d.]+)×, target/;

/**
 * The judgements of one trace, each with the rows/s moved since the one before it. A batch line
 * counts the batches since the previous batch line (one a sample, about every 2 s), so batches
 * that straddle a judgement count toward the next one: a 3 s window's rate is off by up to a
 * sample's worth. That scatters the rates, which flattens a fit a little (errors in x attenuate
 * its slope); over rates that span 50×, by about a tenth.
 */
export function judgementsOf(trace: readonly string[]): Judgement[] {
  const out: Judgement[] = [];
  let batchSize: number | null = null;
  let rows = 0;
  let since: number | null = null;
  for (const line of trace) {
    const ran = BATCHES.exec(line);
    if (ran) {
      // The batches counted on this line ran at the size in effect before it.
      if (batchSize !== null) rows += Number(ran[2]) * batchSize;
      batchSize = Number(ran[3]);
      since ??= Number(ran[1]);
      continue;
    }
    const judged = JUDGED.exec(line);
    if (!judged) continue;
    const at = Number(judged[1]);
    if (since !== null && at > since && rows > 0) out.push({ rowsPerSecond: rows / (at - since), overshoot: Number(judged[4]) });
    rows = 0;
    since = at;
    batchSize = Number(judged[2]);
  }
  return out;
}

/** Least squares of y on x: slope, its standard error, and the residuals' standard deviation. */
export function fit(xs: readonly number[], ys: readonly number[]): { slope: number; slopeSe: number; residualSd: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
  }
  const slope = sxy / sxx;
  let rss = 0;
  for (let i = 0; i < n; i++) rss += (ys[i]! - my - slope * (xs[i]! - mx)) ** 2;
  const residualSd = Math.sqrt(rss / (n - 2));
  return { slope, slopeSe: residualSd / Math.sqrt(sxx), residualSd };
}
