// `stockrx-migrate <verb>`: thin commands over the client library. Every error ends here and
// becomes an exit code from the contract: 2 for bad input (nothing changed), 3 lock held, etc.
import { Command, CommanderError, Option } from 'commander';
import { isConfigError } from '../config/errors';
import { redactSecrets } from '../config/redact';
import { resolveConfig, type ResolvedConfig } from '../config/resolve-config';
import { PlanError } from '../core/plan-error';
import { CliExit, EXIT, type ExitCode } from './exit-codes';
import { createOutput, type Output } from './output';

// Commands are imported when they run: `--help` or a bad flag must not pay for loading the
// Temporal worker, webpack and the database drivers (seconds on a small machine).
const commands = {
  control: () => import('./commands/control'),
  demo: () => import('./commands/demo'),
  down: () => import('./commands/down'),
  new: () => import('./commands/new'),
  plan: () => import('./commands/plan'),
  purgeBackups: () => import('./commands/purge-backups'),
  status: () => import('./commands/status'),
  steer: () => import('./commands/steer'),
  up: () => import('./commands/up'),
  watch: () => import('./commands/watch'),
  worker: () => import('./commands/worker'),
};

type Action = (config: ResolvedConfig, out: Output, args: unknown[], options: Record<string, unknown>) => Promise<ExitCode>;

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliExit(EXIT.BAD_INPUT, `--steps must be a positive integer, got "${value}"`);
  return n;
}

export function buildProgram(setExit: (code: ExitCode) => void): Command {
  const program = new Command('stockrx-migrate')
    .description('Production database migrations as durable Temporal workflows: reversible, load-controlled, monitored, locked.')
    .option('--database-url <url>', 'target database (env DATABASE_URL)')
    .option('--temporal-address <host:port>', 'Temporal frontend; unset = embedded dev server (env TEMPORAL_ADDRESS)')
    .option('--temporal-namespace <ns>', 'Temporal namespace (env TEMPORAL_NAMESPACE, default "default")')
    .option('--task-queue <name>', 'task queue (env STOCKRX_TASK_QUEUE, default stockrx-migrate@<db>)')
    .option('--migrations-dir <dir>', 'migration files (env STOCKRX_MIGRATIONS_DIR, default ./migrations)')
    .option('--state-dir <dir>', 'embedded server state (env STOCKRX_STATE_DIR, default ./.stockrx)')
    .option('--lock-key <key>', 'lock name instead of host:port/database')
    .option('--metrics-port <port>', 'worker /metrics port (env STOCKRX_METRICS_PORT, default 9464; worker and dev only)')
    .option('--webhook-url <url>', 'also send alerts to this webhook (env STOCKRX_WEBHOOK_URL)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .exitOverride();

  const run = (action: Action) =>
    async function (this: Command, ...args: unknown[]) {
      const options = this.opts();
      const globals = this.optsWithGlobals();
      const config = await resolveConfig(globals);
      setExit(await action(config, createOutput(config.json), args, options));
    };

  program
    .command('up')
    .description('apply pending migrations (in-process worker unless --no-worker)')
    .option('--to <id>', 'stop after this migration')
    .option('--no-worker', 'do not run a worker in this process (one runs elsewhere)')
    .option('--detach', 'start the run and return at once; workers elsewhere apply it (follow with `watch ID`)')
    .action(run(async (config, out, _args, o) => (await commands.up()).upCommand(config, { worker: o.worker !== false, detach: o.detach === true, ...(typeof o.to === 'string' ? { to: o.to } : {}) }, out)));

  program
    .command('down [id]')
    .description('roll back the last applied migration, N of them (--steps), or everything down to ID')
    .addOption(new Option('--steps <n>', 'how many to roll back (default 1)').argParser(positiveInteger))
    .option('--no-worker', 'do not run a worker in this process')
    .action(run(async (config, out, [id], o) => (await commands.down()).downCommand(config, { worker: o.worker !== false, ...(typeof id === 'string' ? { id } : {}), ...(typeof o.steps === 'number' ? { steps: o.steps } : {}) }, out)));

  program.command('status').description('state of every migration').action(run(async (config, out) => (await commands.status()).statusCommand(config, out)));

  program
    .command('plan')
    .description('dry run: print the plan of pending migrations and lint findings; change nothing')
    .option('--to <id>', 'stop after this migration')
    .action(run(async (config, out, _a, o) => (await commands.plan()).planCommand(config, typeof o.to === 'string' ? { to: o.to } : {}, out)));

  program
    .command('purge-backups <ids...>')
    .description("show (or, with --yes, drop) the backups applied migrations keep for their undo; `down` then refuses them")
    .option('--yes', 'really drop them (without it: list the tables and sizes, change nothing)')
    .action(run(async (config, out, [ids], o) => (await commands.purgeBackups()).purgeBackupsCommand(config, (ids as string[]).map(String), { yes: o.yes === true }, out)));

  program.command('new <name>').description('create migrations/<timestamp>_<name>.ts').action(run(async (config, out, [name]) => (await commands.new()).newCommand(config, String(name), out)));

  program.command('cancel <id>').description('cancel a running migration; its applied steps are compensated').action(run(async (config, out, [id]) => (await commands.control()).cancelCommand(config, String(id), out)));

  program
    .command('resolve <id>')
    .description('after a compensation failed: --retry it (once the cause is fixed) or --skip it')
    .option('--retry', 'run the failed compensation again')
    .option('--skip', 'give up on that compensation and continue with the others')
    .action(
      run(async (config, out, [id], o) => {
        if (!!o.retry === !!o.skip) throw new CliExit(EXIT.BAD_INPUT, 'pass exactly one of --retry or --skip');
        return (await commands.control()).resolveCommand(config, String(id), o.retry ? 'retry' : 'skip', out);
      }),
    );

  program.command('pause <id>').description('pause a running data migration after its current slice').action(run(async (config, out, [id]) => (await commands.steer()).pauseCommand(config, String(id), out)));
  program.command('resume <id>').description('resume a paused data migration from its checkpoint').action(run(async (config, out, [id]) => (await commands.steer()).resumeCommand(config, String(id), out)));
  program
    .command('set <id> <assignments...>')
    .description('change load control of a running migration, e.g. `set ID batchSize=500 sleepMs=50` (validated)')
    .action(run(async (config, out, [id, assignments]) => (await commands.steer()).setCommand(config, String(id), (assignments as string[]) ?? [], out)));

  program
    .command('watch <id>')
    .description('follow a running migration: live bar on a terminal, lines otherwise, JSON per update with --json')
    .option('--interval <ms>', 'poll interval', '1000')
    .action(run(async (config, out, [id], o) => (await commands.watch()).watchCommand(config, String(id), { intervalMs: Math.max(100, Number(o.interval) || 1000) }, out)));

  program.command('locks').description('databases locked by a running runner').action(run(async (config, out) => (await commands.control()).locksCommand(config, out)));

  program
    .command('unlock [key]')
    .description('terminate the runner holding a database lock (requires --force; prefer cancel)')
    .option('--force', 'really terminate it')
    .action(run(async (config, out, [key], o) => (await commands.control()).unlockCommand(config, typeof key === 'string' ? key : undefined, o.force === true, out)));

  program.command('worker').description('run a worker for DATABASE_URL').action(run(async (config, out) => (await commands.worker()).workerCommand(config, out)));
  program.command('dev').description('embedded Temporal dev server (Web UI) plus a worker, in the foreground').action(run(async (config, out) => (await commands.worker()).devCommand(config, out)));
  program
    .command('demo')
    .description('embedded Temporal + embedded Postgres: seed StockRx data, apply, roll back a failure, show status')
    .option('--rows <n>', 'inventories rows to seed', '500000')
    .option('--no-keep', 'exit at the end even on a terminal (default: keep the Web UI up until Ctrl-C when stdout is a TTY)')
    .action(run(async (config, out, _a, o) => (await commands.demo()).demoCommand(config, { rows: Number(o.rows), keep: o.keep !== false }, out)));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode: ExitCode = EXIT.OK;
  const program = buildProgram((code) => (exitCode = code));
  const out = createOutput(argv.includes('--json'));
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version are "errors" to commander; a usage error is bad input.
      return error.exitCode === 0 ? EXIT.OK : EXIT.BAD_INPUT;
    }
    if (error instanceof CliExit) {
      out.error(error.message, error.hint);
      return error.exitCode;
    }
    if (isConfigError(error)) {
      out.error(error.message, error.hint);
      return EXIT.BAD_INPUT;
    }
    if (error instanceof PlanError) {
      out.error(`nothing was changed; fix these problems first:\n${error.problems.length > 1 ? '' : ''}${error.message.split('\n').map((l) => `  ${l}`).join('\n')}`);
      return EXIT.BAD_INPUT;
    }
    if (error instanceof Error && error.name === 'TemporalCliNotFoundError') {
      out.error(error.message);
      return EXIT.BAD_INPUT;
    }
    process.stderr.write(`error: ${redactSecrets(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
    return EXIT.MIGRATION_FAILED;
  }
}
