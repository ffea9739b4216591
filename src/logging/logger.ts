// pino with secrets redacted twice: by key (databaseUrl, password…) and in free text, so a driver
// error that quotes a connection string still cannot leak the password into a log line.
import pino, { type Logger } from 'pino';
import { logRedact, redactSecrets } from '../config/redact';

export type { Logger };

export function createLogger(options: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'stockrx-migrate',
      level: options.level ?? process.env.STOCKRX_LOG_LEVEL ?? 'info',
      redact: logRedact,
      hooks: {
        logMethod(args, method) {
          const cleaned = args.map((arg) => (typeof arg === 'string' ? redactSecrets(arg) : arg)) as Parameters<typeof method>;
          method.apply(this, cleaned);
        },
      },
      serializers: {
        err: (error: unknown) => {
          const serialized = pino.stdSerializers.err(error as Error);
          return { ...serialized, message: redactSecrets(serialized.message), stack: serialized.stack ? redactSecrets(serialized.stack) : undefined };
        },
      },
    },
    options.destination ?? pino.destination(2),
  );
}
