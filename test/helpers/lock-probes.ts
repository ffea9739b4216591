// Observers and troublemakers for the locking tests: sessions that hold locks or snapshots open,
// readers that time every query, and pg_stat_activity probes, each on its own plain `pg`
// connection so nothing is shared with the code under test.
import pg from 'pg';

export async function connect(url: string, applicationName = 'stockrx-test probe'): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  await client.connect();
  return client;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than null/undefined/false, or fails after timeoutMs. */
export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export interface Backend {
  pid: number;
  state: string | null;
  query: string;
  queryStart: Date | null;
  waitEventType: string | null;
  waitEvent: string | null;
  applicationName: string;
}

/** Backends of one database other than the caller, optionally filtered by a query-text pattern (ILIKE). */
export async function backends(observer: pg.Client, database: string, queryLike = '%'): Promise<Backend[]> {
  const { rows } = await observer.query<{
    pid: number;
    state: string | null;
    query: string;
    query_start: Date | null;
    wait_event_type: string | null;
    wait_event: string | null;
    application_name: string;
  }>(
    `SELECT pid, state, query, query_start, wait_event_type, wait_event, application_name
     FROM pg_stat_activity
     WHERE datname = $1 AND pid <> pg_backend_pid() AND query ILIKE $2
     ORDER BY pid`,
    [database, queryLike],
  );
  return rows.map((r) => ({
    pid: r.pid,
    state: r.state,
    query: r.query,
    queryStart: r.query_start,
    waitEventType: r.wait_event_type,
    waitEvent: r.wait_event,
    applicationName: r.application_name,
  }));
}

export interface ReaderStats {
  /** Every query's latency, in milliseconds. */
  latencies: number[];
  max(): number;
  /** Latencies of queries that took at least `ms`. */
  slowerThan(ms: number): number[];
}

/**
 * `count` readers, each on its own connection, running a primary-key lookup in a loop (autocommit,
 * so a reader holds its lock only while its query runs) and timing every query, until stopped.
 */
export async function startReaders(url: string, count: number, query: { text: string; params: (i: number) => unknown[] }, pauseMs = 20): Promise<{ stop(): Promise<ReaderStats> }> {
  const clients = await Promise.all(Array.from({ length: count }, (_, i) => connect(url, `stockrx-test reader ${i}`)));
  const latencies: number[] = [];
  let running = true;
  const loops = clients.map(async (client, i) => {
    for (let n = 0; running; n++) {
      const started = performance.now();
      await client.query(query.text, query.params(i * 100_000 + n));
      latencies.push(performance.now() - started);
      await sleep(pauseMs);
    }
  });
  return {
    async stop() {
      running = false;
      try {
        await Promise.all(loops);
      } finally {
        await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      }
      return {
        latencies,
        max: () => Math.max(0, ...latencies),
        slowerThan: (ms) => latencies.filter((l) => l >= ms),
      };
    },
  };
}

/** A finished CLI run, for assertion messages. */
export function describeRun(result: { code: number | null; signal: string | null; stdout: string; stderr: string }): string {
  return `exit ${result.code} signal ${result.signal}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}
