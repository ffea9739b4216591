// Connects the CLI to Temporal: the server at TEMPORAL_ADDRESS, or else the embedded dev server,
// shared by every command running at the same time (see embedded/dev-server.ts).
import { Client, Connection } from '@temporalio/client';
import { type ResolvedConfig } from '../config/resolve-config';
import { acquireDevServer, releaseOnExit } from '../embedded/dev-server';
import { resolveTemporalCli } from '../embedded/temporal-cli';
import { SEARCH_ATTRIBUTES } from './search-attributes';

export interface TemporalSession {
  client: Client;
  address: string;
  /** Web UI of the embedded server (null for an external cluster: its UI is wherever it runs). */
  uiUrl: string | null;
  close(): Promise<void>;
}

export async function openTemporal(config: ResolvedConfig, options: { keep?: boolean; log?: (m: string) => void } = {}): Promise<TemporalSession> {
  let address = config.temporalAddress;
  let uiUrl: string | null = null;
  let release: (() => Promise<void>) | null = null;
  if (address === null) {
    const cliPath = await resolveTemporalCli({ stateDir: config.stateDir, ...(options.log ? { log: options.log } : {}) });
    const server = await acquireDevServer({
      stateDir: config.stateDir,
      cliPath,
      searchAttributes: SEARCH_ATTRIBUTES,
      keep: options.keep ?? false,
      ...(options.log ? { log: options.log } : {}),
    });
    releaseOnExit(server);
    address = server.address;
    uiUrl = server.uiUrl;
    release = () => server.release();
  }
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: config.temporalNamespace });
  return {
    client,
    address,
    uiUrl,
    async close() {
      await connection.close().catch(() => undefined);
      if (release) await release();
    },
  };
}
