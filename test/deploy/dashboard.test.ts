// The Grafana dashboard and the alert rules only query metrics and labels that
// umbra (DESIGN §6) and prom-client's default metrics really export.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import { UMBRA_METRICS, checkExpr, checkVariableQuery, tokenize, umbraCatalog } from '../helpers/promql.js';

const root = new URL('../../', import.meta.url);
const catalog = umbraCatalog();

interface Target { expr?: string; rawSql?: string; format?: string; refId?: string; datasource?: { type?: string; uid?: string } }
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable { name: string; type: string; query?: string | { query?: string }; definition?: string; multi?: boolean; includeAll?: boolean; allValue?: string }
interface Dashboard { schemaVersion: number; uid: string; title: string; panels: Panel[]; templating: { list: Variable[] } }

const dashboard = JSON.parse(readFileSync(new URL('deploy/grafana/umbra-dashboard.json', root), 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = panels.filter((p) => p.type !== 'row');
/** The data sources a panel may use, each through its own datasource variable. */
const SOURCES: Record<string, { variable: string; plugin: string }> = {
  prometheus: { variable: 'datasource', plugin: 'prometheus' },
  'grafana-postgresql-datasource': { variable: 'pgdatasource', plugin: 'grafana-postgresql-datasource' },
  loki: { variable: 'lokidatasource', plugin: 'loki' },
};
const promPanels = queryPanels.filter((p) => p.datasource?.type === 'prometheus');
const exprs = promPanels.flatMap((p) => (p.targets ?? []).map((tg) => ({ panel: p.title, expr: tg.expr ?? '' })));

void t.test('the checker itself', (t) => {
  t.same(checkExpr('sum by (route) (rate(umbra_requests_total{code="200"}[5m]))', catalog), [], 'a good query passes');
  t.same(checkExpr('histogram_quantile(0.99, sum by (target, le) (rate(umbra_request_duration_seconds_bucket{route=~"$route"}[$__rate_interval])))', catalog), []);
  t.same(checkExpr('sum(rate(umbra_comparisons_total[5m])) by (result)', catalog), [], 'trailing by clause');
  t.same(checkExpr('up{job="umbra"} == 0', catalog), []);
  t.same(checkExpr('nodejs_eventloop_lag_p99_seconds', catalog), [], 'prom-client default metric');

  t.match(checkExpr('rate(umbra_requests_totl[5m])', catalog), [/unknown metric umbra_requests_totl/], 'a misspelt metric fails');
  t.match(checkExpr('rate(umbra_requests_total_bucket[5m])', catalog), [/unknown metric/], 'a counter has no _bucket');
  t.match(checkExpr('nodejs_eventloop_lag_p99', catalog), [/unknown metric/], 'default metric names are exact');
  t.match(checkExpr('umbra_requests_total{path="/users/1"}', catalog), [/has no label path/], 'an unknown matcher label fails');
  t.match(checkExpr('sum by (path) (rate(umbra_requests_total[5m]))', catalog), [/by \(path\)/], 'an unknown by label fails');
  t.match(checkExpr('sum(umbra_shadow_in_flight) by (route)', catalog), [/by \(route\)/], 'in_flight has no route label');
  t.match(checkExpr('sum without (target) (umbra_sample_ratio)', catalog), [/without \(target\)/]);
  t.match(checkExpr('a_metric / on (zone) group_left umbra_sample_ratio', catalog), [/unknown metric a_metric/, /on \(zone\)/]);
  t.match(checkExpr('sum(rate(umbra_requests_total[5m]', catalog), [/cannot parse/], 'unbalanced brackets fail');

  t.same(checkVariableQuery('label_values(umbra_requests_total, route)', catalog), []);
  t.match(checkVariableQuery('label_values(umbra_shadow_in_flight, route)', catalog), [/has no label route/]);
  t.match(checkVariableQuery('label_values(umbra_nope, route)', catalog), [/unknown metric umbra_nope/]);

  t.same(tokenize('x[$__rate_interval]').map((tk) => tk.text), ['x', '[5m]'], 'Grafana range variables read as ranges');
  t.end();
});

void t.test('dashboard shape', (t) => {
  t.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`);
  t.ok(dashboard.uid && dashboard.title, 'uid and title');
  const ids = panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of panels) {
    const { x, y, w, h } = p.gridPos;
    t.ok(x >= 0 && w > 0 && h > 0 && y >= 0 && x + w <= 24, `${p.title}: gridPos within 24 columns`);
  }
  for (const a of queryPanels) {
    for (const b of queryPanels) {
      if (a.id >= b.id) continue;
      const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w
        && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
      t.notOk(overlap, `${a.title} and ${b.title} do not overlap`);
    }
  }

  const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  const ds = vars.get('datasource');
  t.equal(ds?.type, 'datasource', 'datasource is a template variable');
  t.equal(ds?.query, 'prometheus', 'of Prometheus data sources');
  const route = vars.get('route');
  t.equal(route?.type, 'query');
  t.match(typeof route?.query === 'object' ? route.query.query : route?.query, /^label_values\(umbra_requests_total(\{[^}]*\})?, route\)$/);
  t.ok(route?.multi && route.includeAll, 'route is multi-value with All');

  for (const [type, { variable, plugin }] of Object.entries(SOURCES)) {
    t.match(vars.get(variable), { type: 'datasource', query: plugin }, `${variable}: a datasource variable of ${plugin} data sources`);
    t.ok(queryPanels.some((p) => p.datasource?.type === type), `some panel uses ${type}`);
  }
  for (const name of ['service', 'pod']) {
    // .* rather than .+: with a scrape config that adds no such label, All still shows every series.
    t.match(vars.get(name), { type: 'query', multi: true, includeAll: true, allValue: '.*' }, `${name}: multi-value, All is .*`);
  }

  for (const p of queryPanels) {
    const source = SOURCES[p.datasource?.type ?? ''];
    t.ok(source, `${p.title}: a known data source type (${p.datasource?.type ?? 'none'})`);
    if (source === undefined) continue;
    t.same(p.datasource, { type: p.datasource?.type, uid: `\${${source.variable}}` }, `${p.title}: uses the ${source.variable} variable`);
    t.ok((p.targets ?? []).length > 0, `${p.title}: has a query`);
    for (const tg of p.targets ?? []) {
      t.same(tg.datasource, p.datasource, `${p.title} ${tg.refId ?? ''}: target datasource`);
      if (p.datasource?.type === 'grafana-postgresql-datasource') t.ok(tg.rawSql && tg.format === 'table', `${p.title}: raw SQL as a table (checked against PostgreSQL in dashboard-sql.test.ts)`);
      else t.ok(tg.expr, `${p.title} ${tg.refId ?? ''}: has an expr`);
    }
  }
  // Every variable a query uses is defined (or is one of Grafana's built-ins).
  for (const p of queryPanels) {
    for (const tg of p.targets ?? []) {
      for (const [, name] of (tg.expr ?? tg.rawSql ?? '').matchAll(/\$\{?(\w+)/g)) {
        t.ok(name?.startsWith('__') || vars.has(name ?? ''), `${p.title}: variable $${name ?? ''} is defined`);
      }
    }
  }
  // Every selector of the Prometheus panels narrows to the chosen services and pods.
  for (const { panel, expr } of exprs) {
    for (const [selector] of expr.matchAll(/\{[^}]*\}/g)) {
      t.match(selector, /service=~"\$service", pod=~"\$pod"/, `${panel}: ${selector} filters by service and pod`);
    }
  }
  t.end();
});

void t.test('the Loki panel reads the divergence lines of the chosen services and pods', (t) => {
  const loki = queryPanels.filter((p) => p.datasource?.type === 'loki');
  t.equal(loki.length, 1);
  const expr = loki[0]?.targets?.[0]?.expr ?? '';
  t.match(expr, /^\{service=~"\$service", pod=~"\$pod"\}/, 'stream selector on the labels the metrics carry (service, pod)');
  t.match(expr, /\| json \| msg="divergence"/, 'the divergence lines (DESIGN §9), parsed');
  t.end();
});

void t.test('dashboard queries use only exported metrics and labels', (t) => {
  t.ok(exprs.length >= 10, `${exprs.length} queries`);
  for (const { panel, expr } of exprs) t.same(checkExpr(expr, catalog), [], `${panel}: ${expr}`);
  for (const v of dashboard.templating.list.filter((v) => v.type === 'query')) {
    const q = typeof v.query === 'object' ? v.query.query ?? '' : v.query ?? '';
    t.same(checkVariableQuery(q, catalog), [], `variable ${v.name}: ${q}`);
    if (v.definition !== undefined) t.equal(v.definition, q, `variable ${v.name}: definition matches the query`);
  }
  t.end();
});

void t.test('every umbra metric appears on the dashboard', (t) => {
  const all = exprs.map((e) => e.expr).join('\n');
  for (const m of UMBRA_METRICS) {
    t.match(all, new RegExp(`\\b${m.name}(_bucket)?\\b`), m.name);
  }
  t.match(all, /\bnodejs_eventloop_lag_p99_seconds\b/, 'event-loop lag');
  const titles = queryPanels.map((p) => p.title).join('\n');
  for (const title of [/decision/i, /mismatch rate by route/i, /diverging fields/i, /latency/i, /errors/i, /in flight/i, /sample ratio/i, /requests by code/i, /event-loop lag/i, /reloads/i, /store writes/i, /recent divergences/i, /top fields by service and route/i, /divergence log lines/i]) {
    t.match(titles, title, `a panel titled ${String(title)}`);
  }
  t.end();
});

void t.test('alert rule expressions use only exported metrics and labels', (t) => {
  const rules = parse(readFileSync(new URL('deploy/prometheus/umbra-alerts.yaml', root), 'utf8')) as {
    groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }> }>;
  };
  const names = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
  for (const wanted of ['UmbraMismatchRateHigh', 'UmbraShadowErrorRateHigh', 'UmbraDarkLatencyHigh', 'UmbraShadowDropped', 'UmbraDown']) {
    t.ok(names.includes(wanted), `alert ${wanted}`);
  }
  for (const g of rules.groups) {
    for (const r of g.rules) {
      const name = r.alert ?? r.record ?? '?';
      t.same(checkExpr(r.expr, catalog), [], `${name}: ${r.expr.replace(/\s+/g, ' ').trim()}`);
      if (r.alert !== undefined) {
        t.ok(r.labels?.severity, `${name}: has a severity`);
        t.ok(r.annotations?.summary && r.annotations.description, `${name}: has summary and description`);
      }
    }
  }
  t.end();
});
