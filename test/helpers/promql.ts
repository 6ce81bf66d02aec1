// A small PromQL checker for the queries shipped in deploy/: it finds the metric
// names and label names an expression uses and reports any that umbra does not
// export (DESIGN §6) or that prom-client's default metrics do not have. It is a
// tokenizer with just enough structure for aggregations, not a full parser.
import client from 'prom-client';

export type Catalog = ReadonlyMap<string, ReadonlySet<string>>;

type MetricType = 'counter' | 'gauge' | 'histogram';

/** DESIGN §6, by hand: the public contract the dashboards and alerts are written against. */
export const UMBRA_METRICS: ReadonlyArray<{ name: string; type: MetricType; labels: readonly string[] }> = [
  { name: 'umbra_requests_total', type: 'counter', labels: ['route', 'method', 'code'] },
  { name: 'umbra_request_duration_seconds', type: 'histogram', labels: ['route', 'target'] },
  { name: 'umbra_mirror_decisions_total', type: 'counter', labels: ['route', 'decision'] },
  { name: 'umbra_shadow_errors_total', type: 'counter', labels: ['route', 'target', 'reason'] },
  { name: 'umbra_comparisons_total', type: 'counter', labels: ['route', 'result'] },
  { name: 'umbra_mismatches_total', type: 'counter', labels: ['route', 'part'] },
  { name: 'umbra_field_mismatches_total', type: 'counter', labels: ['route', 'field'] },
  { name: 'umbra_shadow_in_flight', type: 'gauge', labels: ['target'] },
  { name: 'umbra_sample_ratio', type: 'gauge', labels: ['route'] },
  { name: 'umbra_config_reloads_total', type: 'counter', labels: ['result'] },
  { name: 'umbra_store_writes_total', type: 'counter', labels: ['result'] },
  // Not in DESIGN §6's table (README lists it): live gRPC answers by status name.
  { name: 'umbra_grpc_responses_total', type: 'counter', labels: ['route', 'code'] },
  { name: 'umbra_verdict', type: 'gauge', labels: ['route', 'verdict'] },
  // Not in DESIGN §6's table (README lists it): a shadow target's circuit breaker (dark.breaker).
  { name: 'umbra_shadow_breaker_open', type: 'gauge', labels: ['target'] },
  // Not in DESIGN §6's table (README lists it): connections to a shadow target opened and closed.
  { name: 'umbra_shadow_connections_total', type: 'counter', labels: ['target', 'event'] },
];

/**
 * DESIGN §6 metrics that only the alert rules use: in the catalog, but not
 * required on the dashboard (a date is for an alert, not a panel).
 */
export const ALERT_ONLY_METRICS: ReadonlyArray<{ name: string; type: MetricType; labels: readonly string[] }> = [
  { name: 'umbra_route_expiry_timestamp_seconds', type: 'gauge', labels: ['route'] },
];

/**
 * Labels every scraped series carries: Prometheus' own, and the two the shipped
 * scrape configs add (the pod's `app` label as `service`, its name as `pod`).
 */
const TARGET_LABELS = ['job', 'instance', 'service', 'pod'];

function add(map: Map<string, ReadonlySet<string>>, name: string, type: string, labels: readonly string[]): void {
  const all = new Set([...labels, ...TARGET_LABELS]);
  if (type === 'histogram') {
    map.set(`${name}_bucket`, new Set([...all, 'le']));
    map.set(`${name}_sum`, all);
    map.set(`${name}_count`, all);
  } else if (type === 'summary') {
    map.set(name, new Set([...all, 'quantile']));
    map.set(`${name}_sum`, all);
    map.set(`${name}_count`, all);
  } else {
    map.set(name, all);
  }
}

/**
 * umbra's metrics, prom-client's default process_* and nodejs_* metrics (taken
 * from prom-client itself, so a rename in a prom-client upgrade shows up here),
 * and Prometheus' own `up`.
 */
export function umbraCatalog(): Catalog {
  const map = new Map<string, ReadonlySet<string>>();
  for (const m of [...UMBRA_METRICS, ...ALERT_ONLY_METRICS]) add(map, m.name, m.type, m.labels);
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  for (const metric of registry.getMetricsAsArray()) {
    // labelNames is on every metric object but not in prom-client's typings.
    const { labelNames } = metric as { labelNames?: readonly string[] };
    add(map, metric.name, String(metric.type), labelNames ?? []);
  }
  registry.clear();
  add(map, 'up', 'gauge', []);
  return map;
}

type Token =
  | { kind: 'ident'; text: string; pos: number }
  | { kind: 'string'; text: string; pos: number }
  | { kind: 'number'; text: string; pos: number }
  | { kind: 'punct'; text: string; pos: number };

const AGGREGATIONS = new Set([
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values',
  'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio',
]);
const GROUPING = new Set(['by', 'without']);
const MATCHING = new Set(['on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan', ...GROUPING, ...MATCHING]);

/** Grafana's template variables: `$job`, `${route}`, `[[x]]`, `$__rate_interval`. */
function stripTemplateVariables(expr: string): string {
  return expr
    .replace(/\[\s*\$\{?__\w+\}?\s*\]/g, '[5m]')
    .replace(/\$\{?\w+(?::\w+)?\}?/g, 'X');
}

export function tokenize(expr: string): Token[] {
  const src = stripTemplateVariables(expr);
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i] ?? '';
    if (/\s/.test(ch)) { i++; continue; }
    if (ch === '#') { while (i < src.length && src[i] !== '\n') i++; continue; }
    if (ch === '"' || ch === "'" || ch === '`') {
      const start = i++;
      while (i < src.length && src[i] !== ch) i += src[i] === '\\' ? 2 : 1;
      if (i >= src.length) throw new Error(`unterminated string at ${start} in: ${expr}`);
      tokens.push({ kind: 'string', text: src.slice(start + 1, i), pos: start });
      i++;
      continue;
    }
    if (ch === '[') {
      // A range or subquery: [5m], [1h:1m]. Nothing inside names a metric.
      const start = i;
      while (i < src.length && src[i] !== ']') i++;
      tokens.push({ kind: 'punct', text: src.slice(start, i + 1), pos: start });
      i++;
      continue;
    }
    const num = /^(?:0x[0-9a-f]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+)(?:[smhdwy]|ms)?/i.exec(src.slice(i));
    if (num) { tokens.push({ kind: 'number', text: num[0], pos: i }); i += num[0].length; continue; }
    const ident = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(src.slice(i));
    if (ident) { tokens.push({ kind: 'ident', text: ident[0], pos: i }); i += ident[0].length; continue; }
    const op = /^(?:==|!=|=~|!~|>=|<=|[-+*/%^<>=(){},])/.exec(src.slice(i));
    if (op) { tokens.push({ kind: 'punct', text: op[0], pos: i }); i += op[0].length; continue; }
    throw new Error(`unexpected character ${JSON.stringify(ch)} at ${i} in: ${expr}`);
  }
  return tokens;
}

interface Use {
  /** Metric names, each with the labels used in its own `{...}` matcher. */
  readonly metrics: Array<{ name: string | null; labels: string[] }>;
  /** Label lists of by/without/on/ignoring/group_*, with the token range they apply to. */
  readonly groupings: Array<{ keyword: string; labels: string[]; from: number; to: number }>;
  readonly metricAt: Map<number, string>;
}

function isPunct(t: Token | undefined, text: string): boolean {
  return t?.kind === 'punct' && t.text === text;
}

/** Index of the token that closes the bracket opened at `open`. */
function closing(tokens: readonly Token[], open: number): number {
  const o = tokens[open]?.text;
  const c = o === '(' ? ')' : '}';
  let depth = 0;
  for (let j = open; j < tokens.length; j++) {
    if (isPunct(tokens[j], o ?? '')) depth++;
    else if (isPunct(tokens[j], c) && --depth === 0) return j;
  }
  throw new Error(`unbalanced ${o ?? '?'}`);
}

function labelList(tokens: readonly Token[], open: number): { labels: string[]; end: number } {
  const end = closing(tokens, open);
  const labels: string[] = [];
  for (let j = open + 1; j < end; j++) {
    const t = tokens[j];
    if (t?.kind === 'ident') labels.push(t.text);
  }
  return { labels, end };
}

function checkBalanced(tokens: readonly Token[]): void {
  const stack: string[] = [];
  for (const t of tokens) {
    if (t.kind !== 'punct') continue;
    if (t.text === '(' || t.text === '{') stack.push(t.text === '(' ? ')' : '}');
    else if ((t.text === ')' || t.text === '}') && stack.pop() !== t.text) throw new Error(`unbalanced ${t.text} at ${t.pos}`);
  }
  if (stack.length > 0) throw new Error(`missing ${stack.reverse().join('')}`);
}

function analyse(tokens: readonly Token[]): Use {
  checkBalanced(tokens);
  const use: Use = { metrics: [], groupings: [], metricAt: new Map() };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === undefined) break;
    const next = tokens[i + 1];
    if (t.kind === 'punct' && t.text === '{') {
      // A selector: `name{...}` (name just before) or `{...}` alone.
      const prev = tokens[i - 1];
      const end = closing(tokens, i);
      const labels: string[] = [];
      for (let j = i + 1; j < end; j++) {
        const a = tokens[j];
        if (a?.kind === 'ident' && /^(?:=|!=|=~|!~)$/.test(tokens[j + 1]?.text ?? '')) labels.push(a.text);
      }
      const name = prev?.kind === 'ident' && !KEYWORDS.has(prev.text) && !AGGREGATIONS.has(prev.text) ? prev.text : null;
      use.metrics.push({ name, labels });
      if (name !== null) use.metricAt.set(i - 1, name);
      i = end;
      continue;
    }
    if (t.kind !== 'ident') continue;
    if (GROUPING.has(t.text) || MATCHING.has(t.text)) {
      if (!isPunct(next, '(')) {
        if (t.text === 'group_left' || t.text === 'group_right') continue; // no label list
        throw new Error(`${t.text} without a label list`);
      }
      const { labels, end } = labelList(tokens, i + 1);
      if (GROUPING.has(t.text)) {
        // `agg by (..) (args)` or `agg (args) by (..)`: find the aggregation's arguments.
        let from: number;
        let to: number;
        if (isPunct(tokens[end + 1], '(')) { from = end + 1; to = closing(tokens, from); } else {
          // Walk back over `(args)` to the aggregation name.
          to = i - 1;
          let depth = 0;
          let j = to;
          for (; j >= 0; j--) {
            if (isPunct(tokens[j], ')')) depth++;
            else if (isPunct(tokens[j], '(') && --depth === 0) break;
          }
          from = j;
        }
        use.groupings.push({ keyword: t.text, labels, from, to });
      } else {
        use.groupings.push({ keyword: t.text, labels, from: 0, to: tokens.length - 1 });
      }
      i = end;
      continue;
    }
    if (KEYWORDS.has(t.text) || AGGREGATIONS.has(t.text)) continue;
    if (isPunct(next, '(')) continue; // a function call
    if (isPunct(next, '{')) continue; // handled with the selector
    use.metrics.push({ name: t.text, labels: [] });
    use.metricAt.set(i, t.text);
  }
  return use;
}

/** Problems with one PromQL expression; empty when every metric and label is known. */
export function checkExpr(expr: string, catalog: Catalog): string[] {
  const problems: string[] = [];
  let tokens: Token[];
  let use: Use;
  try {
    tokens = tokenize(expr);
    use = analyse(tokens);
  } catch (err) {
    return [`cannot parse: ${(err as Error).message}`];
  }
  if (use.metrics.length === 0) problems.push(`no metric in: ${expr}`);
  for (const m of use.metrics) {
    if (m.name === null) {
      const named = m.labels.includes('__name__');
      if (!named) problems.push(`selector without a metric name in: ${expr}`);
      continue;
    }
    const known = catalog.get(m.name);
    if (known === undefined) { problems.push(`unknown metric ${m.name}`); continue; }
    for (const l of m.labels) {
      if (l !== '__name__' && !known.has(l)) problems.push(`metric ${m.name} has no label ${l}`);
    }
  }
  for (const g of use.groupings) {
    const inScope = [...use.metricAt].filter(([at]) => at >= g.from && at <= g.to).map(([, name]) => name);
    const available = new Set(inScope.flatMap((name) => [...(catalog.get(name) ?? [])]));
    for (const l of g.labels) {
      if (!available.has(l)) problems.push(`${g.keyword} (${l}): no metric under it has label ${l} (${inScope.join(', ') || 'none'})`);
    }
  }
  return problems;
}

/**
 * Grafana variable queries: `label_values(selector, label)`, `label_values(label)`,
 * `query_result(expr)`, `metrics(regex)`.
 */
export function checkVariableQuery(query: string, catalog: Catalog): string[] {
  const q = query.trim();
  const lv = /^label_values\(\s*(?:(.*),\s*)?([a-zA-Z_]\w*)\s*\)$/s.exec(q);
  if (lv) {
    const [, selector, label = ''] = lv;
    if (selector === undefined) {
      const anywhere = [...catalog.values()].some((labels) => labels.has(label));
      return anywhere ? [] : [`label_values(${label}): no metric has label ${label}`];
    }
    const problems = checkExpr(selector, catalog);
    const names = analyse(tokenize(selector)).metrics.map((m) => m.name).filter((n): n is string => n !== null);
    for (const name of names) {
      if (catalog.get(name) !== undefined && !catalog.get(name)?.has(label)) problems.push(`label_values: metric ${name} has no label ${label}`);
    }
    return problems;
  }
  const qr = /^query_result\((.*)\)$/s.exec(q);
  if (qr) return checkExpr(qr[1] ?? '', catalog);
  return [`unsupported variable query: ${query}`];
}

/** One relabelling step, in a scrape config's spelling (a PodMonitor's camelCase is mapped by the caller). */
export interface RelabelConfig {
  readonly source_labels?: readonly string[];
  readonly separator?: string;
  readonly regex?: string;
  readonly target_label?: string;
  readonly replacement?: string;
  readonly action?: string;
}

/**
 * Prometheus' relabelling, enough of it for the scrape configs shipped in deploy/:
 * replace, keep and drop, anchored regexes, `$1` / `${1}` in the replacement, a
 * missing label read as "". Returns null when the target is dropped. Labels
 * starting with `__` are left in place: the caller reads `__address__` and
 * `__metrics_path__` and drops the rest, as Prometheus does after relabelling.
 */
export function relabel(labels: Readonly<Record<string, string>>, configs: readonly RelabelConfig[]): Record<string, string> | null {
  const out: Record<string, string> = { ...labels };
  for (const c of configs) {
    const value = (c.source_labels ?? []).map((l) => out[l] ?? '').join(c.separator ?? ';');
    const re = new RegExp(`^(?:${c.regex ?? '(.*)'})$`);
    const m = re.exec(value);
    const action = (c.action ?? 'replace').toLowerCase();
    if (action === 'keep') { if (!m) return null; continue; }
    if (action === 'drop') { if (m) return null; continue; }
    if (action !== 'replace') throw new Error(`relabel action ${action} is not simulated`);
    if (!m || c.target_label === undefined) continue;
    const result = (c.replacement ?? '$1').replace(/\$\{(\d+)\}|\$(\d+)/g, (_, a: string | undefined, b: string | undefined) => m[Number(a ?? b)] ?? '');
    if (result === '') delete out[c.target_label];
    else out[c.target_label] = result;
  }
  return out;
}

/** The labels Prometheus' Kubernetes discovery (role pod) gives one container port of a pod. */
export function podTargetLabels(pod: {
  name: string;
  namespace: string;
  ip: string;
  phase?: string;
  labels?: Readonly<Record<string, string>>;
  annotations?: Readonly<Record<string, string>>;
  container: string;
  port: { name?: string; containerPort: number };
}): Record<string, string> {
  const sanitize = (s: string): string => s.replace(/[^a-zA-Z0-9_]/g, '_');
  const out: Record<string, string> = {
    __address__: `${pod.ip}:${pod.port.containerPort}`,
    __metrics_path__: '/metrics',
    __meta_kubernetes_namespace: pod.namespace,
    __meta_kubernetes_pod_name: pod.name,
    __meta_kubernetes_pod_ip: pod.ip,
    __meta_kubernetes_pod_phase: pod.phase ?? 'Running',
    __meta_kubernetes_pod_container_name: pod.container,
    __meta_kubernetes_pod_container_port_name: pod.port.name ?? '',
    __meta_kubernetes_pod_container_port_number: String(pod.port.containerPort),
  };
  for (const [k, v] of Object.entries(pod.labels ?? {})) {
    out[`__meta_kubernetes_pod_label_${sanitize(k)}`] = v;
    out[`__meta_kubernetes_pod_labelpresent_${sanitize(k)}`] = 'true';
  }
  for (const [k, v] of Object.entries(pod.annotations ?? {})) {
    out[`__meta_kubernetes_pod_annotation_${sanitize(k)}`] = v;
    out[`__meta_kubernetes_pod_annotationpresent_${sanitize(k)}`] = 'true';
  }
  return out;
}

/** What a target looks like once scraped: `instance` from the address, the `__` labels gone. */
export function finalTargetLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (!k.startsWith('__')) out[k] = v;
  out.instance ??= labels.__address__ ?? '';
  return out;
}
