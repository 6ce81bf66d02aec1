// The JSON API of DESIGN §7: route views, divergence samples, the release dial
// and the kill switch. Changes are logged as audit lines (who, when, old, new).
import type { Logger } from '../observe/log.js';
import type { DivergenceStore } from '../observe/divergences.js';
import type { Mirror } from '../mirror/mirror.js';
import { errorResult, type AdminRequest, type AdminResult, type ApiHandler } from './server.js';

export interface ApiDeps {
  /** The mirror in force (it changes on hot reload), or null when there is no dark backend. */
  readonly mirror: () => Mirror | null;
  readonly store: () => DivergenceStore;
  readonly routeNames: () => readonly string[];
  readonly log: Logger;
}

const MAX_LIMIT = 500;
const SAMPLE_PATH = /^\/api\/routes\/([^/]+)\/sample$/;

function parseLimit(raw: string | null): number | string {
  if (raw === null || raw === '') return 50;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) return `limit must be a whole number from 1 to ${MAX_LIMIT}`;
  return Math.min(n, MAX_LIMIT);
}

export function createApiHandler(deps: ApiDeps): ApiHandler {
  const audit = (req: AdminRequest, action: string, fields: Record<string, unknown>): void => {
    deps.log.info({ audit: true, action, who: req.who, when: new Date().toISOString(), ...fields }, `admin: ${action}`);
  };

  return (req: AdminRequest): AdminResult | null => {
    const { method, path } = req;
    if (path === '/api/routes') {
      if (method !== 'GET') return errorResult(405, 'use GET');
      const mirror = deps.mirror();
      const routes =
        mirror !== null
          ? mirror.views()
          : deps.routeNames().map((name) => ({ name, sample: 0, mirrored: 0, compared: 0, matches: 0, mismatches: 0, noise: 0, skipped: 0, errors: 0, dropped: {}, topFields: [] }));
      return { status: 200, json: { paused: mirror?.paused ?? false, routes } };
    }
    if (path === '/api/divergences') {
      if (method !== 'GET') return errorResult(405, 'use GET');
      const route = req.query.get('route');
      if (route !== null && route !== '' && !deps.routeNames().includes(route)) return errorResult(404, `unknown route "${route}"`);
      const limit = parseLimit(req.query.get('limit'));
      if (typeof limit === 'string') return errorResult(400, limit);
      const field = req.query.get('field');
      const divergences = deps.store().list(route === null || route === '' ? null : route, limit, field === null || field === '' ? null : field);
      return { status: 200, json: { divergences } };
    }
    const dial = SAMPLE_PATH.exec(path);
    if (dial !== null) {
      if (method !== 'PUT') return errorResult(405, 'use PUT with {"sample": 0.25}');
      const name = decodeURIComponent(dial[1] as string);
      const mirror = deps.mirror();
      if (mirror === null) return errorResult(409, 'no dark backend is configured: nothing to sample');
      const rt = mirror.runtime(name);
      if (rt === undefined) return errorResult(404, `unknown route "${name}"`);
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
      audit(req, 'set sample', { route: name, old, new: sample });
      return { status: 200, json: { route: name, sample, previous: old } };
    }
    if (path === '/api/mirror/pause' || path === '/api/mirror/resume') {
      if (method !== 'POST') return errorResult(405, 'use POST');
      const mirror = deps.mirror();
      if (mirror === null) return errorResult(409, 'no dark backend is configured: nothing to pause');
      const paused = path.endsWith('pause');
      const old = mirror.paused;
      mirror.paused = paused;
      audit(req, paused ? 'pause mirroring' : 'resume mirroring', { old: old ? 'paused' : 'running', new: paused ? 'paused' : 'running' });
      return { status: 200, json: { paused } };
    }
    return null;
  };
}
