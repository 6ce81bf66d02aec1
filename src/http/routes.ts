// Route matching, compiled once at start-up: a pattern becomes a list of
// segments, and matching a request walks its path once without allocating
// beyond the split.
import { InternalError } from '../errors.js';

/** What a route is matched by (config/types.ts's RouteConfig is one). */
export interface RouteSpec {
  readonly name: string;
  /** null only for the default route, last in the table. */
  readonly match:
    | { readonly path: string; readonly methods: readonly string[] | null }
    | { readonly prefix: string; readonly methods: readonly string[] | null }
    | { readonly grpc: string; readonly methods: readonly string[] }
    | null;
}

/** The request path of a gRPC route (`pkg.Service/Method`, or `pkg.Service/*` for every call of a service). */
export function grpcMatch(name: string): { path: string } | { prefix: string } {
  return name.endsWith('/*') ? { prefix: `/${name.slice(0, -1)}` } : { path: `/${name}` };
}

type Segment = { kind: 'literal'; value: string } | { kind: 'param' } | { kind: 'rest' };

export interface CompiledRoute<R extends RouteSpec = RouteSpec> {
  readonly name: string;
  readonly config: R;
  /** Index in the route table, for per-route state arrays. */
  readonly index: number;
}

interface Matcher<R extends RouteSpec> {
  readonly route: CompiledRoute<R>;
  readonly methods: ReadonlySet<string> | null;
  readonly prefix: string | null;
  readonly segments: readonly Segment[] | null;
}

export function compilePattern(pattern: string): Segment[] {
  const parts = pattern.split('/').slice(1);
  return parts.map((p, i): Segment => {
    if (p === '*' && i === parts.length - 1) return { kind: 'rest' };
    if (p.startsWith(':') && p.length > 1) return { kind: 'param' };
    return { kind: 'literal', value: p };
  });
}

function matchSegments(segments: readonly Segment[], path: string): boolean {
  // path starts with '/': walk segment by segment without building an array.
  let pos = 1;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as Segment;
    if (seg.kind === 'rest') return true;
    if (pos > path.length) return false;
    let end = path.indexOf('/', pos);
    if (end === -1) end = path.length;
    const part = path.slice(pos, end);
    if (seg.kind === 'literal') {
      if (part !== seg.value) return false;
    } else if (part === '') {
      return false;
    }
    pos = end + 1;
  }
  return pos > path.length;
}

export class Router<R extends RouteSpec = RouteSpec> {
  readonly routes: readonly CompiledRoute<R>[];
  readonly defaultRoute: CompiledRoute<R>;
  private readonly matchers: readonly Matcher<R>[];
  private readonly byName: ReadonlyMap<string, CompiledRoute<R>>;

  constructor(configs: readonly R[]) {
    const routes = configs.map((config, index): CompiledRoute<R> => ({ name: config.name, config, index }));
    const last = routes[routes.length - 1];
    if (last === undefined || last.config.match !== null) throw new InternalError('route table must end with the default route');
    this.routes = routes;
    this.defaultRoute = last;
    this.byName = new Map(routes.map((r) => [r.name, r]));
    this.matchers = routes.slice(0, -1).map((route): Matcher<R> => {
      const m = route.config.match;
      if (m === null) throw new InternalError(`route ${route.name} has no match`);
      const methods = m.methods === null ? null : new Set<string>(m.methods);
      const p = 'grpc' in m ? grpcMatch(m.grpc) : m;
      // A gRPC path is matched literally: a `:` or `*` in it is no pattern.
      if ('grpc' in m && 'path' in p) return { route, methods, prefix: null, segments: [{ kind: 'literal', value: p.path.slice(1).split('/')[0] as string }, { kind: 'literal', value: p.path.split('/')[2] as string }] };
      return 'prefix' in p
        ? { route, methods, prefix: p.prefix, segments: null }
        : { route, methods, prefix: null, segments: compilePattern(p.path) };
    });
  }

  /** First matching route wins; the query string never takes part. */
  match(method: string, path: string): CompiledRoute<R> {
    for (const m of this.matchers) {
      if (m.methods !== null && !m.methods.has(method)) continue;
      if (m.prefix !== null ? path.startsWith(m.prefix) : matchSegments(m.segments as Segment[], path)) return m.route;
    }
    return this.defaultRoute;
  }

  get(name: string): CompiledRoute<R> | undefined {
    return this.byName.get(name);
  }
}

/** The path part of a request target (origin-form or absolute-form), without the query. */
export function requestPath(url: string | undefined): string {
  if (url === undefined || url === '') return '/';
  let start = 0;
  if (url.charCodeAt(0) !== 47 /* / */) {
    const scheme = url.indexOf('://');
    if (scheme !== -1) {
      start = url.indexOf('/', scheme + 3);
      if (start === -1) return '/';
    }
  }
  const q = url.indexOf('?', start);
  const end = q === -1 ? url.length : q;
  const hash = url.indexOf('#', start);
  return url.slice(start, hash !== -1 && hash < end ? hash : end);
}

