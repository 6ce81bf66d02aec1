// The JSON API of DESIGN §7: route views, divergence samples, the release dial
// and the kill switch. Changes are logged as audit lines (who, when, old, new).
import type { Logger } from '../observe/log.js';
import { RouteStats, type DivergenceStore } from '../observe/divergences.js';
import { BUCKET_MS, Counts, MAX_WINDOW_MS } from '../observe/counts.js';
import type { FleetStore, RouteSummary } from '../observe/store.js';
import type { Mirror } from '../mirror/mirror.js';
import type { RouteRuntime } from '../mirror/route.js';
import { judge, overall, type RouteVerdict } from '../observe/verdict.js';
import { parseDuration } from '../config/units.js';
import { errorResult, type AdminRequest, type AdminResult, type ApiHandler } from './server.js';

export interface ApiDeps {
  /** The mirror in force (it changes on hot reload), or null when there is no dark backend. */
  readonly mirror: () => Mirror | null;
  readonly store: () => DivergenceStore;
  readonly routeNames: () => readonly string[];
  readonly log: Logger;
  /**
   * The fleet store when store.url is set: /api/divergences and /api/routes then
   * answer for the whole fleet, or, when the database does not answer in time,
   * with this instance's own view and `fleet: false` (DESIGN §11, docs/store.md).
   */
  readonly fleet?: () => FleetStore | null;
  /** Config `service`: the fleet's routes of this service are merged with the local view. */
  readonly service?: () => string;
}

const MAX_LIMIT = 500;
const SAMPLE_PATH = /^\/api\/routes\/([^/]+)\/sample$/;
const ROUTE_PAUSE_PATH = /^\/api\/routes\/([^/]+)\/(pause|resume)$/;
/** ?window= on /api/verdict: from a minute to the 6 h the minute counts are kept for. */
const MIN_WINDOW_MS = 60_000;

/** `window=` for a verdict: a duration from 1m to 6h; null when absent. */
export function parseWindow(raw: string | null): number | null | string {
  if (raw === null || raw === '') return null;
  const ms = DURATION.test(raw) ? parseDuration(raw) : undefined;
  if (ms === undefined || ms < MIN_WINDOW_MS || ms > MAX_WINDOW_MS) {
    return `window must be a duration from 1m to ${MAX_WINDOW_MS / 3_600_000}h, such as 15m or 1h (route counts are kept minute by minute for that long)`;
  }
  return ms;
}

/** The Flagger webhook payload (https://docs.flagger.app/usage/webhooks): metadata values are strings. */
interface GatePayload {
  readonly name?: unknown;
  readonly namespace?: unknown;
  readonly phase?: unknown;
  readonly metadata?: unknown;
}

function parseLimit(raw: string | null): number | string {
  if (raw === null || raw === '') return 50;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) return `limit must be a whole number from 1 to ${MAX_LIMIT}`;
  return Math.min(n, MAX_LIMIT);
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;
const DURATION = /^\d+(?:\.\d+)?(?:ms|s|m|h|d)$/;

/** `since=`: an ISO 8601 time, or a duration back from now (`15m`, `2h`, `7d`); null when absent. */
export function parseSince(raw: string | null, now = Date.now()): Date | null | string {
  if (raw === null || raw === '') return null;
  const bad = 'since must be an ISO 8601 time (2024-05-01T12:00:00Z) or a duration back from now such as 15m, 2h or 7d';
  if (DURATION.test(raw)) {
    const ms = parseDuration(raw);
    return ms === undefined ? bad : new Date(now - ms);
  }
  if (!ISO_TIME.test(raw)) return bad;
  const t = Date.parse(raw);
  return Number.isNaN(t) ? bad : new Date(t);
}

const param = (q: URLSearchParams, name: string): string | null => {
  const v = q.get(name);
  return v === null || v === '' ? null : v;
};

/** Why the store did not answer, for `store` in a local-view answer (the password is already scrubbed). */
const unavailable = (err: unknown): string => `unavailable: ${err instanceof Error ? err.message : String(err)}`;

export function createApiHandler(deps: ApiDeps): ApiHandler {
  const audit = (req: AdminRequest, action: string, fields: Record<string, unknown>): void => {
    deps.log.info({ audit: true, action, who: req.who, when: new Date().toISOString(), ...fields }, `admin: ${action}`);
  };

  const routes = async (req: AdminRequest): Promise<AdminResult> => {
    const since = parseSince(req.query.get('since'));
    if (typeof since === 'string') return errorResult(400, since);
    if (since !== null && Date.now() - since.getTime() > MAX_WINDOW_MS + BUCKET_MS) {
      return errorResult(400, `since reaches back at most ${MAX_WINDOW_MS / 3_600_000}h for route counts (they are kept minute by minute for that long)`);
    }
    const at = since?.getTime() ?? null;
    const mirror = deps.mirror();
    const local: RouteSummary[] = mirror !== null ? mirror.views(at) : deps.routeNames().map((name) => new RouteStats().view(name, 0, []));
    const paused = mirror?.paused ?? false;
    const window = since === null ? {} : { since: since.toISOString() };
    const fleet = deps.fleet?.() ?? null;
    if (fleet === null) return { status: 200, json: { paused, ...window, routes: local } };
    const service = deps.service?.() ?? '';
    try {
      const all = await fleet.routes(local, since);
      // This service's routes in config order, each its local view (the dial, ...) with fleet counts; then the rest of the fleet.
      const own = local.map((l) => {
        const f = all.find((r) => r.service === service && r.name === l.name);
        return f === undefined ? { ...l, service, instances: 1 } : { ...l, ...f, sample: l.sample };
      });
      const others = all.filter((r) => r.service !== service || !local.some((l) => l.name === r.name));
      return { status: 200, json: { paused, ...window, fleet: true, routes: [...own, ...others] } };
    } catch (err) {
      return { status: 200, json: { paused, ...window, fleet: false, store: unavailable(err), routes: local.map((l) => ({ ...l, service, instances: 1 })) } };
    }
  };

  const divergences = async (req: AdminRequest): Promise<AdminResult> => {
    const fleet = deps.fleet?.() ?? null;
    const route = param(req.query, 'route');
    // With a store, a route may be another service's: only the local view knows what is unknown.
    if (fleet === null && route !== null && !deps.routeNames().includes(route)) return errorResult(404, `unknown route "${route}"`);
    const limit = parseLimit(req.query.get('limit'));
    if (typeof limit === 'string') return errorResult(400, limit);
    const since = parseSince(req.query.get('since'));
    if (typeof since === 'string') return errorResult(400, since);
    const q = { route, limit, since, field: param(req.query, 'field'), service: param(req.query, 'service'), instance: param(req.query, 'instance') };
    let store: string | undefined;
    if (fleet !== null) {
      try {
        // The records as stored JSON text: exact numbers stay digit for digit.
        const records = await fleet.divergences(q);
        return { status: 200, text: `{"fleet":true,"divergences":[${records.join(',')}]}`, contentType: 'application/json' };
      } catch (err) {
        store = unavailable(err);
      }
    }
    const list = deps
      .store()
      .list(q.route, limit, q.field, q.since?.toISOString() ?? null)
      .filter((s) => (q.service === null || s.service === q.service) && (q.instance === null || s.instance === q.instance));
    return { status: 200, json: store === undefined ? { divergences: list } : { fleet: false, store, divergences: list } };
  };

  /** The mirror and the runtime of the route a path names (still %-encoded), or the answer that says why there is none. */
  const runtimeOf = (encoded: string, nothing: string): { mirror: Mirror; rt: RouteRuntime; name: string } | AdminResult => {
    const name = decodeURIComponent(encoded);
    const mirror = deps.mirror();
    if (mirror === null) return errorResult(409, `no dark backend is configured: ${nothing}`);
    const rt = mirror.runtime(name);
    if (rt === undefined) return errorResult(404, `unknown route "${name}"`);
    return { mirror, rt, name };
  };

  /**
   * One route's verdict. With a store it is the fleet's: this instance's minute
   * counts (from memory) plus every other instance's of the same service (from
   * the store), judged together; when the store does not answer, this
   * instance's alone, saying so (`fleet: false`, `store`).
   */
  const judgeRoute = async (mirror: Mirror, rt: RouteRuntime, windowMs: number | null): Promise<RouteVerdict & { fleet?: boolean; instances?: number; store?: string }> => {
    const fleet = deps.fleet?.() ?? null;
    if (fleet === null) return mirror.verdict(rt, windowMs);
    const w = mirror.window(rt, windowMs);
    try {
      const others = await fleet.verdictCounts(rt.name, w.since);
      const all = new Counts(0);
      all.add(w.counts);
      all.add(others.counts);
      return { ...judge(rt.name, all, rt.config.gate, w), fleet: true, instances: 1 + others.instances.length };
    } catch (err) {
      return { ...judge(rt.name, w.counts, rt.config.gate, w), fleet: false, store: unavailable(err) };
    }
  };

  /** One route's verdict, or all of them: the answer and whether it passes. */
  const verdictOf = async (route: string | null, rawWindow: string | null): Promise<AdminResult | { pass: boolean; json: object }> => {
    const mirror = deps.mirror();
    if (mirror === null) return errorResult(409, 'no dark backend is configured: there is nothing to judge');
    const windowMs = parseWindow(rawWindow);
    if (typeof windowMs === 'string') return errorResult(400, windowMs);
    if (route !== null) {
      const rt = mirror.runtime(route);
      if (rt === undefined) return errorResult(404, `unknown route "${route}"`);
      const v = await judgeRoute(mirror, rt, windowMs);
      return { pass: v.verdict === 'pass', json: v };
    }
    const routes = await Promise.all(mirror.runtimes.map((rt) => judgeRoute(mirror, rt, windowMs)));
    const verdict = overall(routes);
    return { pass: verdict === 'pass', json: { verdict, ...(windowMs !== null ? { window: routes[0]?.window } : {}), routes } };
  };

  const gate = async (req: AdminRequest): Promise<AdminResult> => {
    const body = req.body as GatePayload | undefined;
    if (body === undefined || typeof body !== 'object' || body === null || Array.isArray(body)) {
      return errorResult(400, 'body must be a Flagger webhook payload: {"name": ..., "namespace": ..., "phase": ..., "metadata": {"route": "get-item"}}');
    }
    const metadata = body.metadata ?? {};
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return errorResult(400, 'metadata must be an object of strings, like {"route": "get-item", "window": "15m"}');
    const meta = metadata as Record<string, unknown>;
    for (const key of ['route', 'window'] as const) {
      if (meta[key] !== undefined && typeof meta[key] !== 'string') return errorResult(400, `metadata.${key} must be a string`);
    }
    const route = (meta.route as string | undefined) ?? null;
    const result = await verdictOf(route === '' ? null : route, (meta.window as string | undefined) ?? null);
    if (!('pass' in result)) return result;
    const caller = { name: typeof body.name === 'string' ? body.name : null, namespace: typeof body.namespace === 'string' ? body.namespace : null, phase: typeof body.phase === 'string' ? body.phase : null };
    const verdict = (result.json as { verdict: string }).verdict;
    deps.log.info({ ...caller, route, verdict, who: req.who }, `gate: ${verdict}${route !== null ? ` for ${route}` : ''}`);
    return { status: result.pass ? 200 : 412, json: { ...result.json, gate: caller } };
  };

  return (req: AdminRequest): AdminResult | null | Promise<AdminResult> => {
    const { method, path } = req;
    if (path === '/api/verdict') {
      if (method !== 'GET') return errorResult(405, 'use GET');
      return verdictOf(param(req.query, 'route'), param(req.query, 'window')).then((result) => ('pass' in result ? { status: 200, json: result.json } : result));
    }
    if (path === '/api/gate') {
      if (method !== 'POST') return errorResult(405, 'use POST with a Flagger webhook payload');
      return gate(req);
    }
    const routePause = ROUTE_PAUSE_PATH.exec(path);
    if (routePause !== null) {
      if (method !== 'POST') return errorResult(405, 'use POST');
      const found = runtimeOf(routePause[1] as string, 'nothing to pause');
      if (!('rt' in found)) return found;
      const { mirror, rt, name } = found;
      const paused = routePause[2] === 'pause';
      const old = rt.paused;
      const aborted = mirror.setRoutePaused(rt, paused, req.who);
      mirror.audit(req.who, paused ? 'pause route' : 'resume route', { route: name, old: old ? 'paused' : 'running', new: paused ? 'paused' : 'running', ...(paused ? { aborted } : {}) });
      return { status: 200, json: { route: name, paused, ...(paused ? { aborted } : {}) } };
    }
    if (path === '/api/routes') {
      if (method !== 'GET') return errorResult(405, 'use GET');
      return routes(req);
    }
    if (path === '/api/divergences') {
      if (method !== 'GET') return errorResult(405, 'use GET');
      return divergences(req);
    }
    const dial = SAMPLE_PATH.exec(path);
    if (dial !== null) {
      if (method !== 'PUT') return errorResult(405, 'use PUT with {"sample": 0.25}');
      const found = runtimeOf(dial[1] as string, 'nothing to sample');
      if (!('rt' in found)) return found;
      const { rt, name } = found;
      const body = req.body as { sample?: unknown } | undefined;
      if (body === undefined || typeof body !== 'object' || body === null || !('sample' in body)) {
        return errorResult(400, 'body must be JSON like {"sample": 0.25}');
      }
      const sample = body.sample;
      if (typeof sample !== 'number' || !Number.isFinite(sample) || sample < 0 || sample > 1) {
        return errorResult(400, 'sample must be a number from 0 to 1');
      }
      const old = rt.sample;
      rt.setSample(sample);
      // The person wins: a ramp under way moves no more (DESIGN §12).
      const ramp = rt.ramp;
      const stopped = ramp !== null && ramp.phase !== 'stopped';
      if (stopped) ramp.stop(sample);
      audit(req, 'set sample', { route: name, old, new: sample, ...(stopped ? { ramp: 'stopped' } : {}) });
      return { status: 200, json: { route: name, sample, previous: old, ...(stopped ? { ramp: 'stopped' } : {}) } };
    }
    if (path === '/api/mirror/pause' || path === '/api/mirror/resume') {
      if (method !== 'POST') return errorResult(405, 'use POST');
      const mirror = deps.mirror();
      if (mirror === null) return errorResult(409, 'no dark backend is configured: nothing to pause');
      const paused = path.endsWith('pause');
      const old = mirror.paused;
      const started = performance.now();
      const aborted = mirror.setPaused(paused);
      const abortMs = Math.round((performance.now() - started) * 100) / 100;
      audit(req, paused ? 'pause mirroring' : 'resume mirroring', { old: old ? 'paused' : 'running', new: paused ? 'paused' : 'running', ...(paused ? { aborted, abortMs } : {}) });
      return { status: 200, json: { paused, ...(paused ? { aborted } : {}) } };
    }
    return null;
  };
}
