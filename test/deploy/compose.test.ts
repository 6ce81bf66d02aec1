// deploy/compose/: the local stack, checked as far as it can be without a Docker
// engine. Every file it mounts exists, every image is pinned, the configs inside
// load (Prometheus' with promtool, umbra's with umbra's own loader), Grafana's
// provisioning gives the dashboard the data sources it names, the backends'
// command really serves the demo catalogue, and no two services publish one port.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const composeDir = join(root, 'deploy/compose');
const read = (path: string): string => readFileSync(path, 'utf8');

interface Service {
  image?: string;
  pull_policy?: string;
  build?: { context?: string; dockerfile?: string } | string;
  entrypoint?: string[];
  command?: string[] | string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: string[] | Record<string, unknown>;
}
interface Compose { services: Record<string, Service>; volumes?: Record<string, unknown> }

const compose = parse(read(join(composeDir, 'compose.yaml')), { merge: true }) as Compose;
const services = Object.entries(compose.services);
const service = (name: string): Service => compose.services[name] ?? {};

/** A bind mount or named volume: `source:target[:mode]`. */
function mounts(s: Service): Array<{ source: string; target: string; readOnly: boolean; bind: boolean }> {
  return (s.volumes ?? []).map((v) => {
    const [source = '', target = '', mode = ''] = v.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro'), bind: /^[./]/.test(source) };
  });
}

/** Where a path inside a service's container comes from in the repository, through its bind mounts. */
function hostPath(s: Service, inside: string): string | undefined {
  for (const m of mounts(s)) {
    if (!m.bind) continue;
    if (inside === m.target) return resolve(composeDir, m.source);
    if (inside.startsWith(`${m.target}/`)) return resolve(composeDir, m.source, inside.slice(m.target.length + 1));
  }
  return undefined;
}

const built = new Set(services.filter(([, s]) => s.build !== undefined).map(([, s]) => s.image));

void t.test('compose.yaml: services, images, mounts, ports', (t) => {
  t.ok(services.length >= 8, `services: ${services.map(([n]) => n).join(', ')}`);
  for (const name of ['umbra', 'live', 'dark', 'postgres', 'prometheus', 'loki', 'grafana']) t.ok(compose.services[name], `has ${name}`);
  t.ok(services.some(([, s]) => /alloy|promtail/.test(s.image ?? '')), 'a log collector (Alloy)');

  for (const [name, s] of services) {
    const image = s.image ?? '';
    if (built.has(image)) {
      if (s.build === undefined) t.equal(s.pull_policy, 'never', `${name}: ${image} is built by the stack, never pulled`);
      else t.pass(`${name}: ${image}, built from the repository`);
      continue;
    }
    const tag = /:([^/:]+)$/.exec(image)?.[1] ?? '';
    t.ok(/\d/.test(tag) && !/latest/.test(tag), `${name}: image ${image} is pinned to a version tag`);
  }
  const umbra = service('umbra');
  const build: { context?: string; dockerfile?: string } = typeof umbra.build === 'object' ? umbra.build : { context: umbra.build ?? '.' };
  t.equal(resolve(composeDir, build.context ?? '.'), resolve(root), 'umbra is built from the repository root');
  t.ok(existsSync(join(resolve(composeDir, build.context ?? '.'), build.dockerfile ?? 'Dockerfile')), 'with its Dockerfile');
  t.match(service('postgres').image ?? '', /^postgres:16(\.|-|$)/, 'PostgreSQL 16');

  for (const [name, s] of services) {
    for (const m of mounts(s)) {
      if (m.bind && m.source.startsWith('/')) {
        t.equal(m.source, '/var/run/docker.sock', `${name}: the only host path is the Docker socket`);
        t.ok(m.readOnly, `${name}: ${m.source} read-only`);
        continue;
      }
      if (!m.bind) {
        t.ok(compose.volumes && m.source in compose.volumes, `${name}: named volume ${m.source} is declared`);
        continue;
      }
      t.ok(existsSync(resolve(composeDir, m.source)), `${name}: ${m.source} exists in the repository`);
      t.ok(m.readOnly, `${name}: ${m.source} is mounted read-only`);
    }
  }
  const dashboardMount = mounts(service('grafana')).find((m) => resolve(composeDir, m.source) === join(root, 'deploy/grafana'));
  t.ok(dashboardMount?.readOnly, 'Grafana mounts deploy/grafana (the dashboard) read-only');

  const published = services.flatMap(([name, s]) => (s.ports ?? []).map((p) => {
    const parts = String(p).split(':');
    const hostPort = parts.length >= 2 ? parts[parts.length - 2] : undefined;
    const ip = parts.length === 3 ? parts[0] : '0.0.0.0';
    return { name, hostPort, ip };
  }));
  for (const p of published) {
    t.ok(p.hostPort, `${p.name}: publishes an explicit host port`);
    t.equal(p.ip, '127.0.0.1', `${p.name}: only on 127.0.0.1 (fixed local passwords)`);
  }
  const ports = published.map((p) => p.hostPort);
  t.equal(new Set(ports).size, ports.length, `no host port is published twice: ${ports.join(', ')}`);

  for (const [name, s] of services) {
    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
    for (const d of deps) t.ok(compose.services[d], `${name} depends on an existing service ${d}`);
  }
  t.end();
});

const umbraConfigPath = hostPath(service('umbra'), '/etc/umbra/umbra.yaml') ?? '';
const umbraEnv = { UMBRA_ADMIN_TOKEN: 'test-token', UMBRA_STORE_URL: String(service('umbra').environment?.UMBRA_STORE_URL ?? '') };
const umbraConfig = parseConfigText(read(umbraConfigPath), 'deploy/compose/umbra/umbra.yaml', umbraEnv);

void t.test('umbra in the stack writes its divergences to the stack\'s PostgreSQL', (t) => {
  const store = umbraConfig.store;
  t.ok(store, 'store on, with the URL compose.yaml gives');
  const u = new URL(store?.url ?? 'postgres://missing');
  const pg = compose.services[u.hostname];
  t.ok(pg, `the store's host ${u.hostname} is a service of the stack`);
  t.equal(decodeURIComponent(u.username), pg?.environment?.POSTGRES_USER, 'its user');
  t.equal(decodeURIComponent(u.password), pg?.environment?.POSTGRES_PASSWORD, 'its password');
  t.equal(u.pathname.slice(1), pg?.environment?.POSTGRES_DB, 'its database');
  t.equal(umbraConfig.service, 'shop', 'records and log lines name the service');
  t.end();
});

void t.test('umbra in the stack: its config, its backends, its ports', (t) => {
  t.ok(existsSync(umbraConfigPath), 'the image\'s config path is mounted from the repository');
  t.ok(service('umbra').environment?.UMBRA_ADMIN_TOKEN, 'the admin token comes from the environment');
  const published = (service('umbra').ports ?? []).map((p) => Number(String(p).split(':').at(-1)));
  t.ok(published.includes(umbraConfig.listen.port), `the proxy port ${umbraConfig.listen.port} is published`);
  t.ok(published.includes(umbraConfig.admin.listen.port), `the admin port ${umbraConfig.admin.listen.port} is published`);
  for (const [role, url] of [['live', umbraConfig.live.url], ['dark', umbraConfig.dark?.url], ['secondary', umbraConfig.secondary?.url]] as const) {
    const u = new URL(url ?? 'http://missing');
    const backend = compose.services[u.hostname];
    t.ok(backend, `${role} (${u.hostname}) is a service of the stack`);
    t.equal(Number(u.port || 80), Number(backend?.environment?.PORT ?? 3000), `${role}: on the port its catalogue listens on`);
  }
  t.equal(service('dark').environment?.CATALOGUE_VERSION, 'v2', 'dark runs catalogue v2');
  t.equal(service('live').environment?.CATALOGUE_VERSION, 'v1', 'live runs catalogue v1');
  t.end();
});

void t.test('Prometheus in the stack: promtool check config, target umbra\'s admin port with service and pod', (t) => {
  const prom = service('prometheus');
  const configPath = hostPath(prom, '/etc/prometheus/prometheus.yml') ?? '';
  t.ok(existsSync(configPath), 'prometheus.yml is mounted where the image reads it');
  const config = parse(read(configPath)) as {
    rule_files?: string[];
    scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs?: Array<{ targets: string[]; labels?: Record<string, string> }> }>;
  };
  const job = config.scrape_configs.find((j) => j.job_name === 'umbra');
  t.ok(job, 'a job called umbra');
  for (const sc of job?.static_configs ?? []) {
    for (const target of sc.targets) {
      const [host = '', port = ''] = target.split(':');
      t.ok(compose.services[host], `target ${target} is a service of the stack`);
      t.equal(Number(port), umbraConfig.admin.listen.port, 'on umbra\'s admin port');
    }
    t.ok(sc.labels?.service && sc.labels.pod, 'with service and pod set, as Kubernetes relabelling would');
  }
  // The rule files, read where the container reads them: through the mounts.
  const rules = (config.rule_files ?? []).map((f) => hostPath(prom, f));
  t.ok(rules.length > 0 && rules.every((f) => f !== undefined && existsSync(f)), 'every rule file is mounted from the repository');
  t.ok(rules.includes(join(root, 'deploy/prometheus/umbra-alerts.yaml')), 'the alert rules are umbra-alerts.yaml');

  const dir = mkdtempSync(join(tmpdir(), 'umbra-compose-'));
  try {
    const file = join(dir, 'prometheus.yml');
    writeFileSync(file, stringify({ ...config, rule_files: rules }));
    const r = spawnSync('promtool', ['check', 'config', file], { encoding: 'utf8', timeout: 120_000 });
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') t.fail('promtool is not on PATH: apt-get install -y prometheus');
    t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    t.match(`${r.stdout}${r.stderr}`, /SUCCESS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

interface DataSource { name: string; type: string; uid: string; url?: string; user?: string; isDefault?: boolean; jsonData?: Record<string, unknown>; secureJsonData?: Record<string, string> }
interface DsRef { type?: string; uid?: string }

/** Grafana renamed the PostgreSQL plugin; both ids name it. */
const pluginType = (type: string | undefined): string => (type === 'postgres' ? 'grafana-postgresql-datasource' : type ?? '');

void t.test('Grafana provisioning gives the dashboard its data sources', (t) => {
  const grafana = service('grafana');
  const dsPath = hostPath(grafana, '/etc/grafana/provisioning/datasources/datasources.yaml') ?? '';
  const { datasources } = parse(read(dsPath)) as { datasources: DataSource[] };
  const uids = datasources.map((d) => d.uid);
  t.equal(new Set(uids).size, uids.length, `uids are unique: ${uids.join(', ')}`);
  t.equal(datasources.filter((d) => d.isDefault).length, 1, 'one default data source');
  for (const type of ['prometheus', 'loki', 'grafana-postgresql-datasource']) {
    t.ok(datasources.some((d) => pluginType(d.type) === type), `a ${type} data source`);
  }
  for (const d of datasources) {
    const url = new URL(/^\w+:\/\//.test(d.url ?? '') ? d.url ?? '' : `tcp://${d.url ?? ''}`);
    t.ok(compose.services[url.hostname], `${d.name}: ${url.hostname} is a service of the stack`);
  }
  const pg = datasources.find((d) => pluginType(d.type) === 'grafana-postgresql-datasource');
  t.equal(pg?.jsonData?.database, service('postgres').environment?.POSTGRES_DB, 'PostgreSQL: the umbra database');
  const init = mounts(service('postgres')).filter((m) => m.target.startsWith('/docker-entrypoint-initdb.d/')).map((m) => read(resolve(composeDir, m.source))).join('\n');
  t.match(init, new RegExp(`CREATE ROLE ${pg?.user ?? '?'} LOGIN PASSWORD '${pg?.secureJsonData?.password ?? '?'}'`), 'as a read-only role the init script creates');

  const providersPath = hostPath(grafana, '/etc/grafana/provisioning/dashboards/dashboards.yaml') ?? '';
  const { providers } = parse(read(providersPath)) as { providers: Array<{ options: { path: string } }> };
  const dashboardFiles = providers.map((p) => hostPath(grafana, `${p.options.path}/umbra-dashboard.json`));
  t.ok(dashboardFiles.includes(join(root, 'deploy/grafana/umbra-dashboard.json')), 'a dashboard provider reads deploy/grafana/umbra-dashboard.json');
  const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  if (home !== undefined) t.equal(hostPath(grafana, home), join(root, 'deploy/grafana/umbra-dashboard.json'), 'the home dashboard is umbra\'s');

  // Every data source the dashboard names: by uid, or through a datasource variable.
  const dashboard = JSON.parse(read(join(root, 'deploy/grafana/umbra-dashboard.json'))) as unknown;
  const refs: DsRef[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) { v.forEach(walk); return; }
    if (v === null || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    const ds = o.datasource;
    if (ds !== null && typeof ds === 'object' && 'uid' in ds) refs.push(ds as DsRef);
    Object.values(o).forEach(walk);
  };
  walk(dashboard);
  const variables = new Map(((dashboard as { templating?: { list?: Array<{ name: string; type: string; query?: unknown }> } }).templating?.list ?? [])
    .filter((v) => v.type === 'datasource').map((v) => [v.name, String(v.query)]));
  t.ok(refs.length > 0, `${refs.length} data source references`);
  const seen = new Set<string>();
  for (const ref of refs) {
    const key = `${ref.type ?? ''}/${ref.uid ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const variable = /^\$\{?(\w+)\}?$/.exec(ref.uid ?? '')?.[1];
    if (ref.uid === '-- Grafana --' || ref.uid === 'grafana') continue; // built-in annotations
    if (variable !== undefined) {
      const type = variables.get(variable);
      t.ok(type, `variable $${variable} is a datasource variable`);
      t.ok(datasources.some((d) => pluginType(d.type) === pluginType(type)), `$${variable} (${type ?? '?'}): a ${type ?? '?'} data source is provisioned`);
    } else {
      const d = datasources.find((x) => x.uid === ref.uid);
      t.ok(d, `uid ${ref.uid ?? '?'} is provisioned`);
      if (ref.type !== undefined) t.equal(pluginType(d?.type), pluginType(ref.type), `uid ${ref.uid ?? '?'} is a ${ref.type}`);
    }
  }
  t.end();
});

void t.test('the log collector reads umbra\'s container and writes to the stack\'s Loki', (t) => {
  const alloy = services.find(([, s]) => /alloy/.test(s.image ?? ''))?.[1] ?? {};
  const args = Array.isArray(alloy.command) ? alloy.command : [];
  const configPath = hostPath(alloy, args.find((a) => a.endsWith('.alloy')) ?? '') ?? '';
  t.ok(existsSync(configPath), 'the config file Alloy runs is mounted from the repository');
  const text = read(configPath);
  let depth = 0;
  for (const ch of text.replace(/\/\/.*$/gm, '').replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if (ch === '{') depth++;
    else if (ch === '}' && --depth < 0) break;
  }
  t.equal(depth, 0, 'braces balance');
  const filter = /com\.docker\.compose\.service=(\w[\w-]*)/.exec(text)?.[1];
  t.equal(filter, 'umbra', 'it keeps the umbra service\'s container');
  const push = /url\s*=\s*"(http:\/\/[^"]+)"/.exec(text)?.[1] ?? '';
  const u = new URL(push || 'http://missing');
  t.ok(compose.services[u.hostname], `it pushes to ${u.hostname}, a service of the stack`);
  t.equal(u.pathname, '/loki/api/v1/push', 'Loki\'s push API');
  t.ok(mounts(alloy).some((m) => m.source === '/var/run/docker.sock'), 'it reads docker logs through the socket');
  t.match(text, /service\s*=\s*"shop-api"/, 'its lines carry the service label the metrics carry');
  t.end();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

void t.test('the backends\' command serves the demo catalogue from the image\'s dist/', async (t) => {
  const entry = service('live').entrypoint ?? [];
  const code = entry[entry.indexOf('-e') + 1] ?? '';
  t.ok(code, 'the catalogue is a node -e script');
  const modules = [...code.matchAll(/import\('\/app\/([^']+)'\)/g)].map((m) => m[1] ?? '');
  t.ok(modules.length > 0, 'it imports from /app');
  const dist = join(root, 'dist');
  if (!existsSync(join(dist, 'demo/catalogue.js'))) {
    t.fail('dist/ is not built: npm run build');
    return;
  }
  // /app in the image is the repository's package (Dockerfile: dist/ from the build stage).
  const local = code.replace(/'\/app\//g, `'${root.replace(/\/$/, '')}/`);
  const port = await freePort();
  const child = spawn(process.execPath, entry.slice(entry.indexOf('node') + 1, entry.indexOf('-e')).concat(['-e', local]), {
    env: { ...process.env, CATALOGUE_VERSION: 'v2', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  t.teardown(() => { child.kill('SIGTERM'); });
  const deadline = Date.now() + 20_000;
  let status = 0;
  let body = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/products/3`);
      status = res.status;
      body = await res.text();
      break;
    } catch {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  t.equal(status, 200, `GET /products/3 answers 200 (${output.trim()})`);
  t.match(JSON.parse(body || '{}') as unknown, { id: 3 }, 'a product');
  t.match(output, /catalogue v2 on :\d+/, 'it says which version and port');

  const traffic = service('traffic').entrypoint ?? [];
  const script = traffic[traffic.indexOf('-e') + 1] ?? '';
  const dir = mkdtempSync(join(tmpdir(), 'umbra-traffic-'));
  try {
    writeFileSync(join(dir, 'traffic.mjs'), script);
    const r = spawnSync(process.execPath, ['--check', join(dir, 'traffic.mjs')], { encoding: 'utf8' });
    t.equal(r.status, 0, `the traffic script parses ${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
