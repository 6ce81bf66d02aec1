// The release gates in deploy/ (DESIGN §12, docs/release.md) are wired to umbra: the
// Argo Rollouts AnalysisTemplate reads /api/verdict and maps its three verdicts onto
// Argo's three measurement phases, the Flagger Canary's webhook calls /api/gate with
// a route umbra's config defines, both reach the umbra-admin Service on the port
// that leads to umbra's admin listener, and neither carries a credential.
import { readFileSync, readdirSync } from 'node:fs';
import t, { type Test } from 'tap';
import { parseAllDocuments, parse } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import { VERDICTS, type VerdictName } from '../../src/observe/verdict.js';

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

const ARGO = 'deploy/argo/analysis-template.yaml';
const FLAGGER = 'deploy/flagger/canary.yaml';

interface Doc { apiVersion?: string; kind?: string; metadata?: { name?: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> }

function documents(path: string): { docs: Doc[]; errors: string[] } {
  const docs: Doc[] = [];
  const errors: string[] = [];
  for (const d of parseAllDocuments(read(path))) {
    for (const e of d.errors) errors.push(`${path}: ${e.message}`);
    const value = d.toJS() as Doc | null;
    if (value !== null) docs.push(value);
  }
  return { docs, errors };
}

// The main Kubernetes set (`kubectl apply -f deploy/kubernetes/`, not recursive).
const k8s = readdirSync(new URL('deploy/kubernetes/', root))
  .filter((f) => /\.ya?ml$/.test(f))
  .flatMap((f) => documents(`deploy/kubernetes/${f}`).docs);

interface Port { name?: string; containerPort?: number; port?: number; targetPort?: number | string }
interface Container { name: string; ports?: Port[] }
const deployments = k8s.filter((d) => d.kind === 'Deployment');
const live = deployments.find((d) => (d.spec?.template?.spec?.containers as Container[] | undefined)?.some((c) => c.name === 'umbra'));
const dark = deployments.filter((d) => d !== live);
const podLabels = (d: Doc | undefined): Record<string, string> => (d?.spec?.template?.metadata?.labels ?? {}) as Record<string, string>;
const umbra = (live?.spec?.template?.spec?.containers as Container[] | undefined)?.find((c) => c.name === 'umbra');
const umbraPort = (name: string): number | undefined => umbra?.ports?.find((p) => p.name === name)?.containerPort;
const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>): boolean =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
const resolve = (ref: number | string | undefined): number | undefined =>
  typeof ref === 'number' ? (umbra?.ports?.some((p) => p.containerPort === ref) ? ref : undefined) : umbra?.ports?.find((p) => p.name === ref)?.containerPort;

// The Service in front of umbra's admin listener: the one whose port leads to umbra-admin.
const adminServices = k8s.filter(
  (d) => d.kind === 'Service' && selects(d.spec?.selector, podLabels(live)) &&
    (d.spec?.ports as Port[] | undefined)?.some((p) => resolve(p.targetPort) === umbraPort('umbra-admin')),
);
const adminService = adminServices[0];
const adminPort = (adminService?.spec?.ports as Port[] | undefined)?.find((p) => resolve(p.targetPort) === umbraPort('umbra-admin'))?.port;

// umbra's routes, from the ConfigMap the pods mount.
const configMap = k8s.find((d) => d.kind === 'ConfigMap' && d.data?.['umbra.yaml'] !== undefined);
const routes = parseConfigText(configMap?.data?.['umbra.yaml'] ?? '', 'umbra-config', { UMBRA_ADMIN_TOKEN: 'x' }, { containerLimit: null })
  .routes.map((r) => r.name)
  .filter((n) => n !== 'default');

/** Asserts that a gate URL reaches the admin Service: `<service>[.<namespace>[.svc[.cluster.local]]]:<port>`. */
function reachesAdmin(t: Test, url: URL, what: string): void {
  const [service, ...rest] = url.hostname.split('.');
  t.equal(service, adminService?.metadata?.name, `${what}: the host is the ${adminService?.metadata?.name ?? '?'} Service`);
  t.match(rest.length === 0 ? '' : `.${rest.join('.')}`, /^(\.[a-z0-9-]+(\.svc(\.cluster\.local)?)?)?$/, `${what}: qualified by a namespace at most (the caller runs in its own)`);
  t.equal(Number(url.port || 80), adminPort, `${what}: on the Service's admin port ${adminPort ?? '?'}`);
  t.equal(url.protocol, 'http:', `${what}: plain HTTP, as the admin listener serves in the cluster`);
}

/** Argo's `{{args.name}}` placeholders, filled with the given values. */
function fill(template: string, args: Record<string, string>): string {
  return template.replace(/\{\{\s*args\.([a-zA-Z0-9_-]+)\s*\}\}/g, (_, name: string) => args[name] ?? `<missing ${name}>`);
}

/** A condition of the form `result == "x"`, evaluated as Argo's expr would for a string result. */
function holds(condition: string | undefined, result: string): boolean {
  const m = /^\s*result\s*==\s*"([^"]*)"\s*$/.exec(condition ?? '');
  if (!m) throw new Error(`not a result == "…" condition: ${condition ?? '(none)'}`);
  return m[1] === result;
}

/** Go durations as Argo and Flagger write them: 30s, 1m, 1m30s. */
function seconds(d: string | undefined): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(d ?? '');
  if (!m || d === '') return NaN;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

void t.test('the umbra-admin Service', (t) => {
  t.ok(live, 'a Deployment with an umbra container');
  t.ok(umbraPort('umbra-admin'), 'umbra has its umbra-admin port');
  t.equal(adminServices.length, 1, 'exactly one Service leads to umbra\'s admin port');
  t.equal(adminService?.spec?.type ?? 'ClusterIP', 'ClusterIP', 'inside the cluster only');
  for (const d of dark) t.notOk(selects(adminService?.spec?.selector, podLabels(d)), `it does not select ${d.metadata?.name ?? '?'}`);
  // Flagger renames the selector label it uses (app.kubernetes.io/name) on the primary pods.
  t.notOk(Object.keys(adminService?.spec?.selector ?? {}).includes('app.kubernetes.io/name'), 'it selects without app.kubernetes.io/name, which Flagger renames');
  t.match(read('deploy/kubernetes/umbra-admin-service.yaml'), /each pod answers for itself/i, 'the file says each pod answers its own verdict');
  t.end();
});

void t.test(`${ARGO}: an AnalysisTemplate on /api/verdict`, (t) => {
  const { docs, errors } = documents(ARGO);
  t.same(errors, [], 'parses');
  t.equal(docs.length, 1, 'one document: the example Rollout stays in comments');
  const at = docs[0];
  t.equal(at?.apiVersion, 'argoproj.io/v1alpha1', 'Argo Rollouts\' API');
  t.equal(at?.kind, 'AnalysisTemplate', 'an AnalysisTemplate');
  t.equal(at?.metadata?.name, 'umbra-verdict', 'named umbra-verdict');

  const args = (at?.spec?.args ?? []) as Array<{ name: string; value?: string; valueFrom?: unknown }>;
  const route = args.find((a) => a.name === 'route');
  t.ok(route, 'an arg `route`');
  t.equal(route?.value, undefined, 'without a default: each Rollout names its route');
  const defaults = Object.fromEntries(args.filter((a) => a.value !== undefined).map((a) => [a.name, String(a.value)]));
  t.notOk(args.some((a) => a.valueFrom !== undefined), 'no arg comes from a Secret');

  const metrics = (at?.spec?.metrics ?? []) as any[];
  t.equal(metrics.length, 1, 'one metric');
  const metric = metrics[0] ?? {};
  t.same(Object.keys(metric.provider ?? {}), ['web'], 'the web provider');
  const web = metric.provider?.web ?? {};
  t.match(web.url, /[?&]route=\{\{\s*args\.route\s*\}\}/, 'the route arg goes into the query');
  const url = new URL(fill(String(web.url), { ...defaults, route: 'get-product' }));
  t.equal(url.pathname, '/api/verdict', 'the verdict endpoint');
  t.equal(url.searchParams.get('route'), 'get-product', 'with route=');
  t.equal(url.searchParams.get('window'), defaults.window, 'and the window arg');
  t.match(defaults.window ?? '', /^\d+m$/, 'a window umbra reads (whole minutes)');
  reachesAdmin(t, url, 'the admin arg\'s default');
  t.equal(web.method ?? 'GET', 'GET', 'a GET');
  t.equal(web.headers, undefined, 'no headers: /api/verdict needs no credentials');
  t.equal(web.jsonPath, '{$.verdict}', 'the result is the verdict field');
  t.ok(web.timeoutSeconds > 0 && web.timeoutSeconds < seconds(metric.interval), 'a timeout shorter than the interval');

  t.equal(metric.successCondition, 'result == "pass"', 'success is a pass');
  t.equal(metric.failureCondition, 'result == "fail"', 'failure is a fail');
  // Argo: success only → Successful, failure → Failed, neither → Inconclusive.
  const phase = (v: VerdictName): string => {
    const ok = holds(metric.successCondition, v);
    const bad = holds(metric.failureCondition, v);
    return bad ? 'Failed' : ok ? 'Successful' : 'Inconclusive';
  };
  t.same(Object.fromEntries(VERDICTS.map((v) => [v, phase(v)])), { pass: 'Successful', fail: 'Failed', inconclusive: 'Inconclusive' }, 'each verdict is its own Argo phase');

  t.equal(metric.failureLimit, 0, 'one fail fails the run');
  t.ok(seconds(metric.interval) >= 30, `measured every ${String(metric.interval)}`);
  t.ok(Number.isInteger(metric.count) && metric.count > 1, 'a bounded number of measurements');
  t.ok(metric.inconclusiveLimit >= 1 && metric.inconclusiveLimit < metric.count, 'inconclusive measurements are waited through, but not forever');
  t.ok(metric.consecutiveSuccessLimit >= 1 && metric.consecutiveSuccessLimit < metric.count, 'passes in a row end the run early');
  t.end();
});

void t.test(`${ARGO}: the commented Rollout runs it before any setWeight`, (t) => {
  // The comment block after the template's last line, its YAML indented under `#   `.
  const lines = read(ARGO).split('\n');
  const end = lines.findLastIndex((l) => l.trim() !== '' && !l.startsWith('#'));
  const example = lines.slice(end + 1).filter((l) => l.startsWith('#   ')).map((l) => l.slice(4)).join('\n');
  const rollout = parse(example) as Doc | null;
  t.equal(rollout?.kind, 'Rollout', 'the comment holds a Rollout');
  t.equal(rollout?.apiVersion, 'argoproj.io/v1alpha1', 'Argo Rollouts\' API');
  const steps = (rollout?.spec?.strategy?.canary?.steps ?? []) as any[];
  const analysis = steps.findIndex((s) => s.analysis !== undefined);
  const firstWeight = steps.findIndex((s) => s.setWeight !== undefined);
  t.ok(analysis >= 0, 'an analysis step');
  t.ok(firstWeight < 0 || analysis < firstWeight, 'before the first setWeight: only v1 pods answer');
  const step = steps[analysis]?.analysis;
  t.same(step?.templates?.map((x: { templateName: string }) => x.templateName), ['umbra-verdict'], 'with the template');
  const route = (step?.args as Array<{ name: string; value: string }> | undefined)?.find((a) => a.name === 'route')?.value;
  t.ok(route !== undefined && routes.includes(route), `route ${route ?? '?'} is one of umbra's routes (${routes.join(', ')})`);
  t.end();
});

void t.test(`${FLAGGER}: a Canary whose webhook calls /api/gate`, (t) => {
  const { docs, errors } = documents(FLAGGER);
  t.same(errors, [], 'parses');
  t.equal(docs.length, 1, 'one document');
  const canary = docs[0];
  t.equal(canary?.apiVersion, 'flagger.app/v1beta1', 'Flagger\'s API');
  t.equal(canary?.kind, 'Canary', 'a Canary');
  t.equal(canary?.spec?.targetRef?.kind, 'Deployment', 'of a Deployment');
  t.equal(canary?.spec?.targetRef?.name, live?.metadata?.name, 'it releases the Deployment umbra runs in');
  t.equal(resolve(canary?.spec?.service?.targetPort), umbraPort('umbra-http'), 'client traffic still enters through umbra');

  const hooks = (canary?.spec?.analysis?.webhooks ?? []) as Array<{ name?: string; type?: string; url?: string; timeout?: string; metadata?: Record<string, string> }>;
  const gates = hooks.filter((h) => h.url !== undefined && new URL(h.url).pathname === '/api/gate');
  t.equal(gates.length, 1, 'one webhook on /api/gate');
  const gate = gates[0];
  const url = new URL(gate?.url ?? 'http://missing/');
  reachesAdmin(t, url, 'the webhook');
  t.equal(url.search, '', 'the route goes in metadata, not the query');
  // 412 means fail and inconclusive alike: only a confirm hook waits instead of
  // counting failed checks, and confirm-rollout runs before the canary has pods.
  t.equal(gate?.type, 'confirm-rollout', 'a confirm-rollout hook');
  const route = gate?.metadata?.route;
  t.ok(route !== undefined && routes.includes(route), `metadata.route ${route ?? '?'} is one of umbra's routes (${routes.join(', ')})`);
  t.ok(seconds(gate?.timeout) > 0 && seconds(gate?.timeout) < seconds(canary?.spec?.analysis?.interval), 'a timeout shorter than the analysis interval');
  t.end();
});

void t.test('no credentials in either file', (t) => {
  for (const file of [ARGO, FLAGGER]) {
    const text = read(file);
    t.notMatch(text, /authorization/i, `${file}: no Authorization`);
    t.notMatch(text, /token/i, `${file}: no token`);
    t.notMatch(text, /secretKeyRef|bearer/i, `${file}: no Secret reference`);
  }
  t.end();
});

void t.test('the files are listed and explained', (t) => {
  const readme = read('deploy/README.md');
  for (const f of ['argo/analysis-template.yaml', 'flagger/canary.yaml', 'kubernetes/umbra-admin-service.yaml']) {
    t.match(readme, `\`${f}\``, `deploy/README.md lists ${f}`);
  }
  const doc = read('docs/release.md');
  for (const f of [ARGO, FLAGGER]) t.match(doc, `\`${f}\``, `docs/release.md explains ${f}`);
  t.match(read('docs/deploy.md'), '(release.md)', 'docs/deploy.md points to docs/release.md');
  t.end();
});
