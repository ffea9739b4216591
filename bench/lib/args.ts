// The benchmarks' command lines. A benchmark documents its options in the comment at the top of
// its file, so --help prints that comment; a wrong option or value is a usage error: the run stops
// before it starts a server or writes a row, says what is wrong and how to see the options, and
// exits with 2, as the CLI does (runBench in stack.ts turns these errors into that exit).

/** A wrong option or value on a benchmark's command line. */
export class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

/** Ours, or node:util parseArgs's own (unknown option, missing value, stray positional). */
export function isBenchUsageError(error: unknown): error is Error {
  if (error instanceof BenchUsageError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/** The leading `//` comment block of a benchmark's source, without the slashes: its usage. */
export function benchHeader(source: string): string {
  const lines: string[] = [];
  for (const line of source.split('\n')) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  return lines.join('\n');
}

/** `--name`'s text as a whole number ≥ min, or a usage error naming the option and the value. */
export function wholeNumberOption(name: string, text: string, min = 1): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < min) {
    throw new BenchUsageError(`--${name}: a whole number ≥ ${min}; got "${text}"`);
  }
  return value;
}

/** True when the command line asks for the usage (--help or -h anywhere in it). */
export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/** `--name`'s comma-separated text as whole numbers ≥ min (empty text: none), or a usage error. */
export function wholeNumberListOption(name: string, text: string, min = 1): number[] {
  const items = text.split(',').filter((item) => item.trim() !== '');
  const values = items.map(Number);
  if (values.some((value) => !Number.isInteger(value) || value < min)) {
    throw new BenchUsageError(`--${name}: whole numbers ≥ ${min}, separated by commas; got "${text}"`);
  }
  return values;
}

/** `--name`'s text when it is one of `choices`, or a usage error listing them. */
export function oneOfOption<T extends string>(name: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw new BenchUsageError(`--${name}: ${choices.join(' or ')}; got "${text}"`);
  return text as T;
}
