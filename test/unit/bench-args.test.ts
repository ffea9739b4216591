// The benchmarks' command lines (bench/lib/args.ts, runBench): --help prints the script's header,
// and a wrong option or value stops the run before it starts anything, with exit code 2.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BenchUsageError, benchHeader, isBenchUsageError, oneOfOption, wholeNumberListOption, wholeNumberOption } from '../../bench/lib/args';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('bench options', () => {
  it('reads whole numbers at or above the minimum', () => {
    assert.equal(wholeNumberOption('reps', '3'), 3);
    assert.equal(wholeNumberOption('warmup', '0', 0), 0);
    assert.deepEqual(wholeNumberListOption('pauses', '0,10,200', 0), [0, 10, 200]);
    assert.deepEqual(wholeNumberListOption('batches', ''), []);
  });

  it('refuses anything else, naming the option and the value', () => {
    for (const text of ['', 'three', '2.5', '0', '-1', '1e9x']) {
      assert.throws(() => wholeNumberOption('reps', text), (error: unknown) => {
        assert.ok(error instanceof BenchUsageError);
        assert.match(error.message, /^--reps: a whole number ≥ 1; got "/);
        return true;
      });
    }
    assert.throws(() => wholeNumberListOption('pauses', '0,ten', 0), /--pauses: whole numbers ≥ 0, separated by commas; got "0,ten"/);
  });

  it('takes one of the named choices, and refuses others naming them', () => {
    assert.equal(oneOfOption('observe', 'on', ['on', 'off']), 'on');
    assert.throws(() => oneOfOption('observe', 'yes', ['on', 'off']), /^BenchUsageError: --observe: on or off; got "yes"$/);
  });

  it("counts node:util parseArgs's own errors as usage errors, and nothing else", () => {
    assert.ok(isBenchUsageError(new BenchUsageError('x')));
    assert.ok(isBenchUsageError(Object.assign(new TypeError("Unknown option '--x'"), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' })));
    assert.ok(!isBenchUsageError(new Error('connection refused')));
    assert.ok(!isBenchUsageError(Object.assign(new Error('gone'), { code: 'ECONNREFUSED' })));
    assert.ok(!isBenchUsageError(null));
  });

  it('takes the leading comment block as the usage', () => {
    assert.equal(benchHeader('// B9: what it measures.\n//\n//   node bench/b9.ts [--reps 3]\nimport x from "y";\n// not this'), 'B9: what it measures.\n\n  node bench/b9.ts [--reps 3]');
  });
});

describe('a benchmark on the command line', () => {
  const bench = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join('bench', 'b1-throughput.ts'), ...args], { cwd: repo, encoding: 'utf8', timeout: 60_000 });

  it('prints its usage with --help and exits 0', () => {
    const run = bench('--help');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /node --import tsx bench\/b1-throughput\.ts/);
  });

  it('stops on an unknown option or a bad value with exit code 2, before it starts a server', () => {
    for (const [args, problem] of [
      [['--rowz', '10'], /Unknown option '--rowz'/],
      [['--rows', 'many'], /--rows: a whole number ≥ 2; got "many"/],
      [['--only', 'fastest'], /--only: unknown variant fastest/],
    ] as const) {
      const run = bench(...args);
      assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, problem);
      assert.match(run.stderr, /run `node --import tsx bench\/b1-throughput\.ts --help` for the options/);
      assert.doesNotMatch(run.stdout + run.stderr, /Embedded Postgres|Temporal dev server/);
    }
  });
});
