// The Kubernetes manifests, the Dockerfile and .dockerignore are wired together:
// every port, path, name and file one of them names is the one the other provides.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigError, parseConfigText } from '../../src/config/load.js';
import { finalTargetLabels, podTargetLabels, relabel, type RelabelConfig } from '../helpers/promql.js';

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

// ---------------------------------------------------------------- Kubernetes

interface Port { name?: string; containerPort?: number; port?: number; targetPort?: number | string }
interface Probe { httpGet?: { path?: string; port?: number | string } }
interface Container {
  name: string;
  image?: string;
  args?: string[];
  ports?: Port[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
  lifecycle?: { preStop?: { sleep?: { seconds?: number }; exec?: { command?: string[] } } };
}
interface PodTemplate {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    containers: Container[];
    volumes?: Array<{ name: string; configMap?: { name: string } }>;
    terminationGracePeriodSeconds?: number;
    securityContext?: { seccompProfile?: { type?: string } };
  };
}
interface Relabeling {
  sourceLabels?: string[];
  separator?: string;
  regex?: string;
  targetLabel?: string;
  replacement?: string;
  action?: string;
}
interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: {
    selector?: Record<string, string> & { matchLabels?: Record<string, string> };
    ports?: Port[];
    template?: PodTemplate;
    podMetricsEndpoints?: Array<{ port?: string; path?: string; relabelings?: Relabeling[] }>;
  };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  file: string;
}

/** Every .yaml file under deploy/kubernetes/, sub-directories included, relative to it. */
function yamlFiles(dir = ''): string[] {
  return readdirSync(new URL(`deploy/kubernetes/${dir}`, root)).flatMap((f) => {
    const rel = `${dir}${f}`;
    if (statSync(new URL(`deploy/kubernetes/${rel}`, root)).isDirectory()) return yamlFiles(`${rel}/`);
    return /\.ya?ml$/.test(f) ? [rel] : [];
  }).sort();
}

const parseErrors: string[] = [];
function load(list: readonly string[]): Resource[] {
  const out: Resource[] = [];
  for (const file of list) {
    for (const doc of parseAllDocuments(read(`deploy/kubernetes/${file}`))) {
      for (const e of doc.errors) parseErrors.push(`${file}: ${e.message}`);
      const value = doc.toJS() as Omit<Resource, 'file'> | null;
      if (value !== null) out.push({ ...value, file });
    }
  }
  return out;
}

// The main set (`kubectl apply -f deploy/kubernetes/`, not recursive) and the
// optional files beside it, which need CRDs or choices of their own.
const allFiles = yamlFiles('');
const files = allFiles.filter((f) => !f.includes('/'));
const resources = load(files);
const optional = load(allFiles.filter((f) => f.startsWith('optional/')));

const ofKind = (kind: string): Resource[] => resources.filter((r) => r.kind === kind);
const named = (kind: string, name: string): Resource | undefined => ofKind(kind).find((r) => r.metadata.name === name);
const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** A port reference (name or number) resolved against a container's ports. */
function resolvePort(containers: readonly Container[], ref: number | string | undefined): number | undefined {
  if (typeof ref === 'number') return containers.some((c) => c.ports?.some((p) => p.containerPort === ref)) ? ref : undefined;
  for (const c of containers) {
    const p = c.ports?.find((p) => p.name === ref);
    if (p) return p.containerPort;
  }
  return undefined;
}

function portOf(container: Container | undefined, name: string): number | undefined {
  return container?.ports?.find((p) => p.name === name)?.containerPort;
}

const { imageNodeFlags, kubernetesQuantity } = (await import(new URL('../../benchmarks/lib/pod.js', import.meta.url).href)) as {
  imageNodeFlags: (text: string) => string[];
  kubernetesQuantity: (q: string) => number;
};

/** Kubernetes quantities for CPU (cores) and memory (bytes), enough for comparisons; NaN when missing or malformed. */
function quantity(q: string | undefined): number {
  try {
    return q === undefined ? NaN : kubernetesQuantity(q);
  } catch {
    return NaN;
  }
}

const deployments = ofKind('Deployment');
const live = deployments.find((d) => d.spec?.template?.spec.containers.some((c) => c.name === 'umbra'));
const pod = live?.spec?.template;
const containers = pod?.spec.containers ?? [];
const umbra = containers.find((c) => c.name === 'umbra');
const app = containers.find((c) => c.name !== 'umbra');
const umbraHttp = portOf(umbra, 'umbra-http');
const umbraAdmin = portOf(umbra, 'umbra-admin');

// The umbra config: the ConfigMap mounted on umbra's config directory.
const mount = umbra?.volumeMounts?.find((m) => pod?.spec.volumes?.some((v) => v.name === m.name && v.configMap));
const configMapName = pod?.spec.volumes?.find((v) => v.name === mount?.name)?.configMap?.name ?? '';
const configMap = named('ConfigMap', configMapName);
const configPathArg = umbra?.args?.[(umbra.args.indexOf('--config') + 1) || -1];
const configPath = configPathArg ?? umbra?.env?.find((e) => e.name === 'UMBRA_CONFIG')?.value ?? '/etc/umbra/umbra.yaml';
const configKey = configPath.slice((mount?.mountPath ?? '').length + 1);
const configText = configMap?.data?.[configKey] ?? '';
const tokenEnv = umbra?.env?.find((e) => e.name === 'UMBRA_ADMIN_TOKEN');

void t.test('manifests parse', (t) => {
  t.ok(files.length >= 3, `files: ${files.join(', ')}`);
  t.same(parseErrors, [], 'no YAML errors');
  for (const r of resources) {
    t.ok(r.apiVersion && r.kind && r.metadata.name, `${r.file}: ${r.kind}/${r.metadata.name} has apiVersion, kind, name`);
  }
  for (const d of deployments) {
    t.ok(matches(d.spec?.selector?.matchLabels, d.spec?.template?.metadata.labels), `${d.metadata.name}: selector matches its pod template`);
  }
  t.ok(live, 'a Deployment with an umbra container');
  t.ok(app, 'and the app container beside it');
  t.end();
});

void t.test('Service → umbra → app', (t) => {
  t.ok(umbraHttp, 'umbra has a port named umbra-http');
  t.ok(umbraAdmin, 'umbra has a port named umbra-admin');
  const services = ofKind('Service').filter((s) => matches(s.spec?.selector, pod?.metadata.labels));
  const front = services.find((s) => s.spec?.ports?.some((p) => p.port === 80));
  t.ok(front, 'a Service on port 80 selects the sidecar pods');
  const port = front?.spec?.ports?.find((p) => p.port === 80);
  t.equal(resolvePort(containers, port?.targetPort), umbraHttp, 'its targetPort is umbra\'s listener, not the app');
  t.equal(resolvePort([umbra ?? { name: 'umbra' }], port?.targetPort), umbraHttp, 'resolved on the umbra container');

  const config = parseConfigText(configText, `${configMap?.file ?? '?'}:${configKey}`, { UMBRA_ADMIN_TOKEN: 'test-token' });
  t.equal(config.listen.port, umbraHttp, 'umbra listens on its container port');
  t.notMatch(config.listen.host, /^(127\.|localhost$|::1$)/, 'on all interfaces, so the Service reaches it');
  const liveUrl = new URL(config.live.url);
  t.equal(liveUrl.hostname, '127.0.0.1', 'live is the app in the same pod, over loopback');
  t.equal(Number(liveUrl.port || 80), portOf(app, 'http') ?? app?.ports?.[0]?.containerPort, 'on the app\'s container port');
  t.equal(config.admin.listen.port, umbraAdmin, 'admin listens on the umbra-admin port');
  t.notMatch(config.admin.listen.host, /^(127\.|localhost$|::1$)/, 'admin is reachable by the kubelet and Prometheus');
  t.end();
});

void t.test('dark backend', (t) => {
  const config = parseConfigText(configText, 'umbra-config', { UMBRA_ADMIN_TOKEN: 'test-token' });
  t.ok(config.dark, 'the config has a dark backend');
  const url = new URL(config.dark?.url ?? 'http://missing');
  const serviceName = url.hostname.split('.')[0] ?? '';
  t.match(url.hostname, new RegExp(`^${serviceName}(\\.[a-z0-9-]+(\\.svc(\\.cluster\\.local)?)?)?$`), 'a Service DNS name');
  const svc = named('Service', serviceName);
  t.ok(svc, `Service ${serviceName} exists`);
  const svcPort = svc?.spec?.ports?.find((p) => p.port === Number(url.port || 80));
  t.ok(svcPort, `it has port ${url.port || 80}`);
  const dark = deployments.find((d) => matches(svc?.spec?.selector, d.spec?.template?.metadata.labels));
  t.ok(dark, `a Deployment behind ${serviceName}`);
  t.not(dark, live, 'which is not the live one');
  t.ok(resolvePort(dark?.spec?.template?.spec.containers ?? [], svcPort?.targetPort), 'the dark Service targets a real container port');
  t.notOk(dark?.spec?.template?.spec.containers.some((c) => c.name === 'umbra'), 'the dark pods have no umbra sidecar');
  t.notOk(dark?.spec?.template?.spec.containers.some((c) => c.image === app?.image), 'the dark pods run another version');
  for (const s of ofKind('Service')) {
    const selectsLive = matches(s.spec?.selector, pod?.metadata.labels);
    const selectsDark = matches(s.spec?.selector, dark?.spec?.template?.metadata.labels);
    t.notOk(selectsLive && selectsDark, `Service ${s.metadata.name} does not mix live and dark pods`);
  }
  t.end();
});

void t.test('admin token from a Secret created out of band', (t) => {
  t.match(configText, /token:\s*\$\{UMBRA_ADMIN_TOKEN\}/, 'the config takes the token from the environment, without a default');
  const ref = tokenEnv?.valueFrom?.secretKeyRef;
  t.ok(ref, 'UMBRA_ADMIN_TOKEN comes from a secretKeyRef');
  // A placeholder Secret in the manifests would overwrite the real one on every
  // `kubectl apply -f deploy/kubernetes/`.
  for (const file of allFiles) {
    const kinds = parseAllDocuments(read(`deploy/kubernetes/${file}`)).map((d) => (d.toJS() as { kind?: string } | null)?.kind);
    t.notOk(kinds.includes('Secret'), `${file}: no Secret`);
  }
  const doc = read('docs/deploy.md');
  const create = new RegExp(`kubectl create secret generic ${ref?.name ?? '?'} --from-literal=${ref?.key ?? '?'}=`);
  t.match(doc, create, `docs/deploy.md shows how to create Secret ${ref?.name ?? '?'} with key ${ref?.key ?? '?'}`);
  const config = parseConfigText(configText, 'umbra-config', { UMBRA_ADMIN_TOKEN: 'test-token' });
  t.equal(config.admin.token, 'test-token');
  t.throws(() => parseConfigText(configText, 'umbra-config', {}), ConfigError, 'without the Secret the config is refused');
  t.end();
});

void t.test('the store URL from an optional Secret: no Secret, no store', (t) => {
  const env = umbra?.env?.find((e) => e.name === 'UMBRA_STORE_URL');
  const ref = env?.valueFrom?.secretKeyRef;
  t.ok(ref, 'UMBRA_STORE_URL comes from a secretKeyRef');
  t.equal(ref?.optional, true, 'optional: the pod starts without that Secret');
  t.match(configText, /url:\s*"\$\{UMBRA_STORE_URL:-\}"/, 'the config reads it with an empty default');
  const without = parseConfigText(configText, 'umbra-config', { UMBRA_ADMIN_TOKEN: 't' });
  t.equal(without.store, null, 'without the Secret: no store');
  t.equal(without.service, 'shop-api', 'the service is named');
  const url = 'postgres://umbra:p%40ss@postgres.shop.svc:5432/umbra?sslmode=require';
  const withStore = parseConfigText(configText, 'umbra-config', { UMBRA_ADMIN_TOKEN: 't', UMBRA_STORE_URL: url });
  t.equal(withStore.store?.url, url, 'with it: the store URL as given');
  const create = new RegExp(`kubectl create secret generic ${ref?.name ?? '?'} \\\\\\n\\s+--from-literal=${ref?.key ?? '?'}='postgres://`);
  t.match(read('docs/deploy.md'), create, `docs/deploy.md shows how to create Secret ${ref?.name ?? '?'} with key ${ref?.key ?? '?'}`);
  t.end();
});

void t.test('probes, scraping, resources, config mount', (t) => {
  const ready = umbra?.readinessProbe?.httpGet;
  const alive = umbra?.livenessProbe?.httpGet;
  t.equal(ready?.path, '/readyz', 'readiness probe on /readyz');
  t.equal(resolvePort([umbra ?? { name: 'umbra' }], ready?.port), umbraAdmin, 'on the admin port');
  t.equal(alive?.path, '/healthz', 'liveness probe on /healthz');
  t.equal(resolvePort([umbra ?? { name: 'umbra' }], alive?.port), umbraAdmin, 'on the admin port');

  const ann = pod?.metadata.annotations ?? {};
  t.equal(ann['prometheus.io/scrape'], 'true', 'scrape annotation');
  t.equal(resolvePort([umbra ?? { name: 'umbra' }], Number(ann['prometheus.io/port'])), umbraAdmin, 'scrapes the admin port');
  t.equal(ann['prometheus.io/path'], '/metrics', 'at /metrics');


  const { requests = {}, limits = {} } = umbra?.resources ?? {};
  for (const r of ['cpu', 'memory']) {
    t.ok(quantity(requests[r]) > 0, `umbra requests ${r}`);
    t.ok(quantity(limits[r]) >= quantity(requests[r]), `umbra ${r} limit >= request`);
  }
  const sc = umbra?.securityContext;
  t.ok(sc?.runAsNonRoot, 'umbra runs as non-root');
  t.ok(typeof sc?.runAsUser === 'number' && sc.runAsUser > 0, 'with a numeric uid (the image\'s USER is a name)');

  t.ok(mount, 'the umbra ConfigMap is mounted');
  t.equal(mount?.mountPath, '/etc/umbra', 'on /etc/umbra');
  t.notOk(mount?.subPath, 'as a directory: subPath mounts never see ConfigMap updates');
  t.equal(configPath, '/etc/umbra/umbra.yaml', 'umbra reads /etc/umbra/umbra.yaml');
  t.ok(configText, `the ConfigMap ${configMapName} has key ${configKey}`);
  t.end();
});

void t.test('the shadow memory budget fits under the umbra container\'s memory limit', (t) => {
  const limit = quantity(umbra?.resources?.limits?.memory);
  t.ok(limit > 0, 'umbra has a memory limit');
  // What umbra reads from its cgroup in that container (DESIGN §2.8).
  const config = parseConfigText(configText, 'umbra-config', { UMBRA_ADMIN_TOKEN: 'test-token' }, { containerLimit: limit });
  t.ok(config.mirror.maxBufferedBytes + 60 * 2 ** 20 <= limit, `${config.mirror.maxBufferedBytes} bytes buffered plus 60 MiB for Node.js fit in ${limit}`);
  t.equal(config.mirror.maxBufferedBytesFrom, 'cgroup', 'derived from the limit, so it follows a raised limit');
  t.end();
});

void t.test('the embedded config has the keys of DESIGN §4', (t) => {
  const raw = parse(configText.replace(/\$\{[^}]*\}/g, 'x')) as Record<string, unknown>;
  const known = ['service', 'instance', 'listen', 'admin', 'live', 'dark', 'secondary', 'mirror', 'compare', 'redact', 'capture', 'store', 'routes', 'limits', 'log'];
  for (const key of Object.keys(raw)) t.ok(known.includes(key), `known top-level key ${key}`);
  for (const key of ['listen', 'admin', 'live', 'dark', 'mirror', 'compare', 'redact', 'routes']) t.ok(key in raw, `has ${key}`);
  t.ok(Array.isArray(raw.routes) && raw.routes.length > 0, 'declares example routes');
  const config = parseConfigText(configText, 'umbra-config', { UMBRA_ADMIN_TOKEN: 'test-token' });
  t.ok(config.routes.length >= 2, 'the loader accepts it, routes and all');
  t.end();
});

// ---------------------------------------------------------------- Dockerfile

interface Instruction { op: string; args: string; stage: number }

function dockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) && pending === '') continue;
    if (/^\s*#/.test(line)) continue; // comments inside a continuation
    pending += line.replace(/\\\s*$/, ' ');
    if (/\\\s*$/.test(line)) continue;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(pending);
    pending = '';
    if (!m) continue;
    const op = (m[1] ?? '').toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: (m[2] ?? '').trim(), stage });
  }
  return out;
}

/** .dockerignore patterns, enough of the syntax for the checks below. */
function ignoredBy(patterns: readonly string[], path: string): boolean {
  const clean = path.replace(/^\.\//, '').replace(/\/$/, '');
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const p = (negate ? raw.slice(1) : raw).replace(/^\//, '').replace(/\/$/, '');
    const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '\0').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\0/g, '(?:.*/)?')}(?:/.*)?$`);
    if (re.test(clean)) ignored = !negate;
  }
  return ignored;
}

const instructions = dockerfile(read('Dockerfile'));
const lastStage = Math.max(...instructions.map((i) => i.stage));
const final = instructions.filter((i) => i.stage === lastStage);
const build = instructions.filter((i) => i.stage === 0);
const ignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

function copies(list: readonly Instruction[]): Array<{ from: string | null; sources: string[]; dest: string }> {
  return list.filter((i) => i.op === 'COPY' || i.op === 'ADD').map((i) => {
    const words = i.args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length) ?? null;
    const paths = words.filter((w) => !w.startsWith('--'));
    return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
  });
}

void t.test('Dockerfile', (t) => {
  const froms = instructions.filter((i) => i.op === 'FROM');
  t.ok(froms.length >= 2, 'multi-stage');
  t.match(froms[0]?.args ?? '', /\sAS\s+\w+/i, 'the build stage is named');
  t.match(froms.at(-1)?.args ?? '', /^node:24[-\w.]*-slim\b/, 'final stage on node:24 (current LTS) slim');
  t.ok(build.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args) && !/--omit=dev/.test(i.args)), 'the build stage installs dev dependencies (npm ci runs prepare → tsc)');
  t.ok(final.some((i) => i.op === 'RUN' && /\bnpm ci\b.*--omit=dev/.test(i.args)), 'final stage: npm ci --omit=dev');

  const user = final.filter((i) => i.op === 'USER').at(-1)?.args ?? 'root';
  t.notMatch(user, /^(root|0)(:|$)/, `non-root USER (${user})`);

  const entry = JSON.parse(final.find((i) => i.op === 'ENTRYPOINT')?.args ?? '[]') as string[];
  t.match(entry[0] ?? '', /\/(tini|dumb-init)$/, 'an init as PID 1');
  const init = (entry[0] ?? '').split('/').at(-1) ?? '';
  t.ok(final.some((i) => i.op === 'RUN' && new RegExp(`apt-get install[^&]*\\b${init}\\b`).test(i.args)), `${init} installed with apt in the final stage`);
  t.ok(final.some((i) => i.op === 'RUN' && /apt-get install/.test(i.args) && /rm -rf \/var\/lib\/apt\/lists/.test(i.args)), 'apt lists cleaned in the same layer');
  t.same(entry.slice(1, 3), ['--', 'node'], 'then node');
  t.equal(entry.at(-1), '/app/bin/umbra.js', '… running bin/umbra.js');
  const flags = entry.slice(3, -1);
  t.ok(flags.every((f) => /^--[a-z][a-z0-9-]*(=\S+)?$/.test(f)), `with node flags only in between (${flags.join(' ')})`);
  // The pod's 256 MiB limit would give the main thread a 2 MiB young generation (benchmarks/POD-MEMORY.md).
  t.ok(flags.some((f) => /^--max-semi-space-size=\d+$/.test(f)), 'the young generation is sized, not left to the pod limit');
  t.same(imageNodeFlags(read('Dockerfile')), flags, 'benchmarks/pod-memory.js reads the same flags');
  t.same(JSON.parse(final.find((i) => i.op === 'CMD')?.args ?? 'null'), ['serve'], 'CMD serve');

  const exposed = final.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
  t.ok(exposed.includes('8080') && exposed.includes('9901'), 'EXPOSE 8080 9901');
  const health = final.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
  t.match(health, /127\.0\.0\.1:9901\/healthz/, 'HEALTHCHECK hits /healthz on the admin port');
  t.notMatch(health, /\b(curl|wget)\b/, 'with node itself (no curl in slim)');

  t.ok(final.some((i) => i.op === 'ENV' && /\bUMBRA_CONFIG=\/etc\/umbra\/umbra\.yaml\b/.test(i.args)), 'UMBRA_CONFIG=/etc/umbra/umbra.yaml');
  t.ok(copies(final).some((c) => c.dest === '/etc/umbra/umbra.yaml'), 'a default config at /etc/umbra/umbra.yaml');
  t.end();
});

void t.test('Dockerfile copies what exists and what is built', (t) => {
  const buildStageName = /\sAS\s+(\w+)/i.exec(instructions.find((i) => i.op === 'FROM')?.args ?? '')?.[1];
  const tsconfigBuild = JSON.parse(read('tsconfig.build.json')) as { extends?: string; compilerOptions?: { outDir?: string } };
  for (const list of [build, final]) {
    for (const c of copies(list)) {
      for (const src of c.sources) {
        if (c.from !== null) {
          t.equal(c.from, buildStageName, `COPY --from names the build stage (${src})`);
          t.match(src, new RegExp(`^(/app/)?${tsconfigBuild.compilerOptions?.outDir ?? 'dist'}/?$`), `only the compiled output comes from the build stage (${src})`);
          continue;
        }
        t.ok(existsSync(new URL(src, root)), `${src} exists in the repository`);
        t.notOk(ignoredBy(ignore, src), `${src} is not excluded by .dockerignore`);
      }
    }
  }
  // What `npm ci` (prepare: tsc -p tsconfig.build.json) needs is in the build stage.
  const built = copies(build).flatMap((c) => c.sources);
  for (const need of ['package.json', 'package-lock.json', 'tsconfig.build.json', tsconfigBuild.extends?.replace(/^\.\//, '') ?? 'tsconfig.json', 'src']) {
    t.ok(built.includes(need), `the build stage copies ${need}`);
  }
  // Everything package.json ships is in the final image.
  const pkg = JSON.parse(read('package.json')) as { files?: string[] };
  const shipped = copies(final).flatMap((c) => c.sources.map((s) => s.replace(/^\/app\//, '')));
  for (const f of pkg.files ?? []) t.ok(shipped.includes(f), `the image has ${f} (package.json files)`);
  t.end();
});

void t.test('.dockerignore', (t) => {
  for (const path of ['node_modules', 'sub/node_modules', '.git', 'dist', '.tap', 'coverage', 'test-artifacts', 'npm-debug.log']) {
    t.ok(ignoredBy(ignore, path), `excludes ${path}`);
  }
  for (const path of ['src/cli.ts', 'bin/umbra.js', 'config/umbra.yaml', 'package-lock.json']) {
    t.notOk(ignoredBy(ignore, path), `keeps ${path}`);
  }
  t.end();
});

// ---------------------------------------------------------------- stopping, hardening, scraping

/** Seconds a preStop hook waits: the sleep action, or `sleep N` run in the container. */
function preStopSeconds(c: Container): number | undefined {
  const hook = c.lifecycle?.preStop;
  if (hook?.sleep?.seconds !== undefined) return hook.sleep.seconds;
  const cmd = hook?.exec?.command ?? [];
  if (/(^|\/)sleep$/.test(cmd[0] ?? '') && cmd.length === 2) return Number(cmd[1]);
  return undefined;
}

void t.test('every container waits in preStop, and the grace period covers umbra\'s drain', (t) => {
  for (const d of deployments) {
    for (const c of d.spec?.template?.spec.containers ?? []) {
      const s = preStopSeconds(c);
      t.ok(s !== undefined && s > 0, `${d.metadata.name}/${c.name}: preStop waits (${String(s)} s)`);
    }
    const grace = d.spec?.template?.spec.terminationGracePeriodSeconds ?? 30;
    for (const c of d.spec?.template?.spec.containers ?? []) {
      t.ok(grace > (preStopSeconds(c) ?? 0), `${d.metadata.name}/${c.name}: the grace period (${grace} s) outlasts its preStop`);
    }
  }
  const config = parseConfigText(configText, 'umbra-config', { UMBRA_ADMIN_TOKEN: 'test-token' });
  const drain = config.limits.drainTimeout / 1000;
  const umbraWait = (umbra ? preStopSeconds(umbra) : undefined) ?? NaN;
  const grace = pod?.spec.terminationGracePeriodSeconds ?? 30;
  t.ok(grace >= umbraWait + drain, `grace ${grace} s >= umbra's preStop ${umbraWait} s + drainTimeout ${drain} s`);
  // The app receives SIGTERM when its own preStop ends: it must still answer the
  // requests umbra is draining.
  const appWait = (app ? preStopSeconds(app) : undefined) ?? NaN;
  t.ok(appWait >= umbraWait + drain, `the app's preStop (${appWait} s) lasts until umbra has drained (${umbraWait + drain} s)`);
  t.ok(grace - appWait >= 10, `the app keeps ${grace - appWait} s for its own shutdown`);
  t.end();
});

void t.test('pods run with the runtime\'s default seccomp profile; umbra hardened', (t) => {
  for (const d of deployments) {
    t.equal(d.spec?.template?.spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${d.metadata.name}: pod seccompProfile RuntimeDefault`);
  }
  const sc = umbra?.securityContext;
  t.equal(sc?.allowPrivilegeEscalation, false, 'umbra: no privilege escalation');
  t.equal(sc?.readOnlyRootFilesystem, true, 'umbra: read-only root file system');
  t.same(sc?.capabilities?.drop, ['ALL'], 'umbra: every capability dropped');
  t.end();
});

void t.test('the monitor is optional and only in optional/', (t) => {
  for (const r of resources) {
    t.notOk(r.apiVersion.startsWith('monitoring.coreos.com/'), `${r.file}: ${r.kind} needs no CRD (the main set applies on any cluster)`);
  }
  t.ok(optional.some((r) => r.kind === 'PodMonitor'), 'optional/ has a PodMonitor');
  t.notOk(optional.some((r) => r.kind === 'ServiceMonitor'), 'and no ServiceMonitor beside it (every series would be scraped twice)');
  t.end();
});

// Prometheus' Kubernetes discovery of the live pod, once per container port.
const podName = 'shop-api-7d9f8b6c5-x2x4q';
const discovered = containers.flatMap((c) => (c.ports ?? []).map((p) => podTargetLabels({
  name: podName,
  namespace: 'shop',
  ip: '10.1.2.3',
  labels: pod?.metadata.labels ?? {},
  annotations: pod?.metadata.annotations ?? {},
  container: c.name,
  port: { ...(p.name === undefined ? {} : { name: p.name }), containerPort: p.containerPort ?? 0 },
})));

void t.test('PodMonitor: the admin port, job umbra, app label as service, pod name as pod', (t) => {
  const pm = optional.find((r) => r.kind === 'PodMonitor');
  t.equal(pm?.apiVersion, 'monitoring.coreos.com/v1');
  t.ok(pm?.metadata.labels?.release, 'a release label, which kube-prometheus-stack\'s default podMonitorSelector needs');
  t.match(read(`deploy/kubernetes/${pm?.file ?? '?'}`), /podMonitorSelectorNilUsesHelmValues/, 'the file says how to select it otherwise');
  t.ok(matches(pm?.spec?.selector?.matchLabels, pod?.metadata.labels), 'it selects the sidecar pods');
  const dark = deployments.filter((d) => d !== live);
  for (const d of dark) t.notOk(matches(pm?.spec?.selector?.matchLabels, d.spec?.template?.metadata.labels), `and not ${d.metadata.name}`);
  const eps = pm?.spec?.podMetricsEndpoints ?? [];
  t.equal(eps.length, 1, 'one endpoint');
  const ep = eps[0];
  t.equal(resolvePort([umbra ?? { name: 'umbra' }], ep?.port), umbraAdmin, 'on umbra\'s admin port');
  t.equal(ep?.path, '/metrics');
  // The operator keeps the port the endpoint names, then applies these relabelings.
  const relabelings: RelabelConfig[] = (ep?.relabelings ?? []).map((r) => ({
    ...(r.sourceLabels === undefined ? {} : { source_labels: r.sourceLabels }),
    ...(r.separator === undefined ? {} : { separator: r.separator }),
    ...(r.regex === undefined ? {} : { regex: r.regex }),
    ...(r.targetLabel === undefined ? {} : { target_label: r.targetLabel }),
    ...(r.replacement === undefined ? {} : { replacement: r.replacement }),
    ...(r.action === undefined ? {} : { action: r.action }),
  }));
  const kept = discovered.filter((l) => l.__meta_kubernetes_pod_container_port_name === ep?.port);
  t.equal(kept.length, 1, 'one target per pod');
  const target = relabel({ ...kept[0], job: 'podMonitor/shop/umbra/0' }, relabelings);
  t.ok(pod?.metadata.labels?.app, 'the pod template has an app label');
  t.match(target ?? {}, { job: 'umbra', service: pod?.metadata.labels?.app, pod: podName }, 'job umbra, service from the app label, pod from the name');
  t.end();
});

void t.test('deploy/prometheus/scrape-config.yaml: annotated pods, the admin port, the same labels', (t) => {
  const scrape = parse(read('deploy/prometheus/scrape-config.yaml')) as {
    scrape_configs: Array<{ job_name: string; metrics_path?: string; kubernetes_sd_configs?: Array<{ role: string }>; relabel_configs?: RelabelConfig[] }>;
  };
  t.equal(scrape.scrape_configs.length, 1, 'one job');
  const job = scrape.scrape_configs[0];
  t.equal(job?.job_name, 'umbra', 'called umbra, as UmbraDown expects');
  t.same(job?.kubernetes_sd_configs?.map((c) => c.role), ['pod'], 'discovers pods');
  const run = (labels: Record<string, string>): Record<string, string> | null => {
    // Prometheus sets job from job_name before relabelling.
    const out = relabel({ ...labels, job: job?.job_name ?? '', __metrics_path__: job?.metrics_path ?? '/metrics' }, job?.relabel_configs ?? []);
    return out === null ? null : { ...finalTargetLabels(out), __address__: out.__address__ ?? '', __metrics_path__: out.__metrics_path__ ?? '' };
  };
  const targets = discovered.map(run).filter((x) => x !== null);
  t.equal(targets.length, 1, `one target of the pod's ${discovered.length} container ports`);
  t.match(targets[0] ?? {}, {
    job: 'umbra',
    service: pod?.metadata.labels?.app,
    pod: podName,
    namespace: 'shop',
    __address__: `10.1.2.3:${umbraAdmin ?? '?'}`,
    __metrics_path__: pod?.metadata.annotations?.['prometheus.io/path'],
  }, 'umbra\'s admin port, with service, pod and job');

  const admin = discovered.find((l) => l.__meta_kubernetes_pod_container_port_name === 'umbra-admin') ?? {};
  const without = Object.fromEntries(Object.entries(admin).filter(([k]) => !k.includes('annotation')));
  t.equal(run(without), null, 'a pod without the scrape annotation is not scraped');
  t.equal(run({ ...admin, __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'false' }), null, 'nor one annotated "false"');
  t.equal(run({ ...admin, __meta_kubernetes_pod_phase: 'Succeeded' }), null, 'nor a finished pod');
  const noApp = Object.fromEntries(Object.entries(admin).filter(([k]) => !k.endsWith('_label_app')));
  t.equal(run(noApp)?.service, pod?.metadata.labels?.['app.kubernetes.io/name'], 'without an app label, service is app.kubernetes.io/name');
  t.end();
});
