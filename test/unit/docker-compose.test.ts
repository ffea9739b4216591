import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

// Structural checks of the production-like stack; `docker compose up` is too heavy for unit tests,
// so this guards the wiring that breaks silently: names, conditions, mounts, pinned images.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string };
  environment?: string[] | Record<string, string | number | boolean | null>;
  ports?: Array<string | number | { target?: number; published?: string | number }>;
  expose?: Array<string | number>;
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  command?: string | string[];
  entrypoint?: string | string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as Compose;
const services = compose.services;
const service = (name: string): Service => {
  const found = services[name];
  assert.ok(found, `service ${name} exists`);
  return found;
};

/** Applies compose's `${VAR:-default}` / `${VAR}` interpolation with the defaults, `$$` → `$`. */
function interpolate(text: string): string {
  return text.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_m, _name: string, fallback?: string) => fallback ?? '').replace(/\$\$/g, '$');
}

function env(svc: Service): Record<string, string> {
  const raw = svc.environment ?? {};
  const pairs = Array.isArray(raw)
    ? raw.map((entry) => {
        const at = entry.indexOf('=');
        return [entry.slice(0, at), entry.slice(at + 1)] as const;
      })
    : Object.entries(raw).map(([key, value]) => [key, String(value ?? '')] as const);
  return Object.fromEntries(pairs.map(([key, value]) => [key, interpolate(value)]));
}

function dependsOn(svc: Service): Record<string, string | undefined> {
  const raw = svc.depends_on ?? {};
  return Array.isArray(raw)
    ? Object.fromEntries(raw.map((name) => [name, undefined]))
    : Object.fromEntries(Object.entries(raw).map(([name, spec]) => [name, spec.condition]));
}

/** `host` of a host:port address. */
const hostOf = (address: string) => address.replace(/:\d+$/, '');

const DATABASES = ['temporal-db', 'target-db'];
const REQUIRED = ['temporal', 'temporal-db', 'temporal-ui', 'target-db', 'worker', 'prometheus', 'grafana', 'temporal-admin-tools'];

void describe('docker-compose.yml', () => {
  void it('defines every service of the stack', () => {
    for (const name of REQUIRED) service(name);
  });

  void it('pins every image to a tag other than latest', () => {
    for (const [name, svc] of Object.entries(services)) {
      if (svc.build) continue;
      assert.ok(svc.image, `${name} has an image or a build`);
      const image = interpolate(svc.image);
      const tag = /:([^/:@]+)$/.exec(image)?.[1];
      assert.ok(tag, `${name}: image ${image} has a tag`);
      assert.notEqual(tag, 'latest', `${name}: image ${image} is pinned`);
    }
    assert.match(service('temporal').image ?? '', /^temporalio\/auto-setup:\d/);
    assert.match(service('temporal-ui').image ?? '', /^temporalio\/ui:\d/);
    assert.match(service('target-db').image ?? '', /^postgres:16/);
    assert.match(service('prometheus').image ?? '', /^prom\/prometheus:/);
    assert.match(service('grafana').image ?? '', /^grafana\/grafana:/);
  });

  void it('gives Temporal its own Postgres, separate from the migrated database', () => {
    const temporalEnv = env(service('temporal'));
    assert.equal(temporalEnv.POSTGRES_SEEDS, 'temporal-db');
    assert.equal(dependsOn(service('temporal'))['temporal-db'], 'service_healthy');
  });

  void it('points every depends_on at an existing service, databases with service_healthy', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const [target, condition] of Object.entries(dependsOn(svc))) {
        assert.ok(services[target], `${name} depends on missing service ${target}`);
        if (DATABASES.includes(target)) assert.equal(condition, 'service_healthy', `${name} waits for ${target} to be healthy`);
      }
    }
  });

  void it('health-checks the databases with pg_isready', () => {
    for (const name of DATABASES) {
      const test = service(name).healthcheck?.test;
      assert.ok(test, `${name} has a healthcheck`);
      assert.match([test].flat().join(' '), /pg_isready/);
    }
  });

  void it('wires the worker to target-db and temporal', () => {
    const worker = service('worker');
    const workerEnv = env(worker);
    assert.ok(workerEnv.DATABASE_URL, 'worker has DATABASE_URL');
    const url = new URL(workerEnv.DATABASE_URL);
    assert.match(url.protocol, /^postgres(ql)?:$/);
    assert.ok(services[url.hostname], `DATABASE_URL host ${url.hostname} is a service`);
    assert.equal(url.hostname, 'target-db');
    assert.equal(url.pathname, `/${env(service('target-db')).POSTGRES_DB}`);
    assert.equal(url.username, env(service('target-db')).POSTGRES_USER);
    assert.equal(decodeURIComponent(url.password), env(service('target-db')).POSTGRES_PASSWORD);

    assert.ok(workerEnv.TEMPORAL_ADDRESS, 'worker has TEMPORAL_ADDRESS');
    assert.ok(services[hostOf(workerEnv.TEMPORAL_ADDRESS)], `TEMPORAL_ADDRESS host is a service`);
    assert.equal(workerEnv.TEMPORAL_ADDRESS, 'temporal:7233');

    assert.equal(dependsOn(worker)['target-db'], 'service_healthy');
    assert.equal(dependsOn(worker)['temporal-admin-tools'], 'service_completed_successfully',
      'search attributes exist before the worker runs workflows');
    const exposed = [...(worker.expose ?? []), ...(worker.ports ?? [])].map((port) => String(typeof port === 'object' ? port.target : port));
    assert.ok(exposed.some((port) => /(^|:)9464$/.test(port)), 'worker exposes the metrics port 9464');
  });

  void it('registers the three search attributes idempotently', () => {
    const admin = service('temporal-admin-tools');
    const script = interpolate([admin.entrypoint ?? [], admin.command ?? []].flat().join('\n'));
    for (const [name, type] of [['StockrxMigrationId', 'Keyword'], ['StockrxStatus', 'Keyword'], ['StockrxProgress', 'Double']]) {
      assert.ok(script.includes(`${name}:${type}`) || script.includes(`--name ${name} --type ${type}`), `${name} registered as ${type}`);
    }
    assert.match(script, /temporal operator search-attribute create/);
    assert.match(script, /search-attribute list/, 'checks what exists before creating');
    assert.ok(services[hostOf(env(admin).TEMPORAL_ADDRESS ?? '')], 'admin tools talk to an existing service');
  });

  void it('publishes the Temporal UI on host port 8233', () => {
    const ui = service('temporal-ui');
    assert.ok((ui.ports ?? []).some((port) => String(port) === '8233:8080' || (typeof port === 'object' && String(port.published) === '8233' && port.target === 8080)));
    assert.ok(services[hostOf(env(ui).TEMPORAL_ADDRESS ?? '')], 'UI talks to an existing service');
  });

  void it('mounts only files that exist in the repo and declares every named volume', () => {
    const mounts = Object.entries(services).flatMap(([name, svc]) =>
      (svc.volumes ?? []).map((volume) => {
        const source = typeof volume === 'string' ? volume.split(':')[0] ?? '' : volume.source ?? '';
        return { name, source: interpolate(source) };
      }));
    for (const { name, source } of mounts) {
      if (source.startsWith('.') || source.startsWith('/')) {
        assert.ok(existsSync(path.resolve(root, source)), `${name} mounts ${source}, which exists`);
      } else {
        assert.ok(compose.volumes && source in compose.volumes, `${name} uses named volume ${source}, which is declared`);
      }
    }
    const sources = mounts.map((mount) => mount.source);
    assert.ok(sources.includes('./deploy/prometheus.yml'));
    assert.ok(sources.includes('./deploy/grafana/provisioning'));
    assert.ok(sources.includes('./deploy/grafana'));
    assert.ok(mounts.some((mount) => mount.name === 'target-db' && !mount.source.startsWith('.')), 'target-db keeps data in a named volume');
  });
});

void describe('deploy/', () => {
  void it('scrapes the worker metrics port and the Temporal server', () => {
    const prometheus = parse(readFileSync(path.join(root, 'deploy/prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ job_name: string; static_configs?: Array<{ targets: string[] }>; dns_sd_configs?: Array<{ names: string[]; port: number }> }>;
    };
    const targets = prometheus.scrape_configs.flatMap((job) => [
      ...(job.static_configs ?? []).flatMap((config) => config.targets),
      ...(job.dns_sd_configs ?? []).flatMap((config) => config.names.map((name) => `${name}:${config.port}`)),
    ]);
    assert.ok(targets.includes('worker:9464'), `targets: ${targets.join(', ')}`);
    const temporalTarget = targets.find((target) => hostOf(target) === 'temporal');
    assert.ok(temporalTarget, 'Temporal server metrics are scraped');
    assert.equal(env(service('temporal')).PROMETHEUS_ENDPOINT?.replace(/^.*:/, ''), temporalTarget.replace(/^.*:/, ''), 'on the port Temporal serves them');
  });

  void it('provisions the Prometheus datasource and a dashboard provider for the dashboards mount', () => {
    const datasources = parse(readFileSync(path.join(root, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: Array<{ type: string; url: string }>;
    };
    assert.ok(datasources.datasources.some((ds) => ds.type === 'prometheus' && ds.url === 'http://prometheus:9090'));
    const dashboards = parse(readFileSync(path.join(root, 'deploy/grafana/provisioning/dashboards/stockrx.yml'), 'utf8')) as {
      providers: Array<{ type: string; options: { path: string } }>;
    };
    const dashboardDir = (service('grafana').volumes ?? [])
      .map((volume) => (typeof volume === 'string' ? volume.split(':') : []))
      .find(([source]) => source === './deploy/grafana')?.[1];
    assert.equal(dashboardDir, '/var/lib/grafana/dashboards');
    assert.ok(dashboards.providers.some((provider) => provider.type === 'file' && provider.options.path === dashboardDir));
  });
});

void describe('Dockerfile', () => {
  const dockerfile = path.join(root, 'Dockerfile');

  void it('exists and is what the worker service builds', () => {
    assert.ok(existsSync(dockerfile));
    const build = service('worker').build;
    const file = typeof build === 'object' ? build.dockerfile ?? 'Dockerfile' : 'Dockerfile';
    const context = typeof build === 'object' ? build.context ?? '.' : build ?? '.';
    assert.equal(path.resolve(root, context, file), dockerfile);
  });

  void it('installs with npm ci on node 20 and runs the worker', () => {
    const text = readFileSync(dockerfile, 'utf8');
    assert.match(text, /^FROM node:20[\w.-]*-slim\b/m);
    assert.match(text, /^RUN npm ci\b/m);
    assert.match(text, /^EXPOSE 9464$/m);
    const cmd = /^CMD (\[.*\])$/m.exec(text)?.[1];
    assert.ok(cmd, 'exec-form CMD');
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.deepEqual(JSON.parse(cmd), ['node', pkg.bin['stockrx-migrate'], 'worker']);
  });

  void it('keeps node_modules, git and env files out of the build context', () => {
    const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim());
    for (const entry of ['node_modules', '.git', '.env']) assert.ok(ignored.includes(entry), entry);
    for (const needed of ['src', 'bin', 'migrations', 'package.json', 'package-lock.json', 'tsconfig.json']) {
      assert.ok(!ignored.includes(needed), `${needed} reaches the image`);
    }
  });
});
