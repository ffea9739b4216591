// Serves /metrics: our `stockrx_` metrics plus the Temporal SDK's runtime metrics, which the SDK
// exports on its own internal port and we append, so Prometheus scrapes one endpoint per worker.
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { type Registry } from 'prom-client';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  registry: Registry;
  port: number;
  /** 0.0.0.0 by default: Prometheus scrapes workers from another host or container. */
  host?: string;
  /** Other Prometheus text endpoints to append (the SDK's runtime metrics). */
  upstreams?: string[];
}

async function fetchText(url: string): Promise<string> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return response.ok ? await response.text() : '';
  } catch {
    return ''; // the SDK exporter not being up yet must not break our own metrics
  }
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const server = http.createServer((request, response) => {
    if (request.url !== '/metrics' && request.url !== '/') {
      response.writeHead(404).end('not found: try /metrics\n');
      return;
    }
    void (async () => {
      try {
        const own = await options.registry.metrics();
        const upstream = await Promise.all((options.upstreams ?? []).map(fetchText));
        response.writeHead(200, { 'content-type': options.registry.contentType });
        response.end([own, ...upstream].filter(Boolean).join('\n'));
      } catch (error) {
        response.writeHead(500).end(String(error));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
