// The config schema: reads a parsed document into a Config, applying defaults
// and merging each route over the top-level mirror/compare settings. Problems
// are collected on the Reader; the result is only meaningful when there are none.

import type {
  AdminConfig,
  BackendProtocol,
  CompareConfig,
  Http2Limits,
  TlsConfig,
  Config,
  BreakerConfig,
  DarkConfig,
  FieldTolerance,
  HeaderEdits,
  KeyedArray,
  ForwardedConfig,
  Limits,
  ListenAddress,
  LiveConfig,
  MirrorConfig,
  OrderKey,
  RedactConfig,
  CaptureConfig,
  StoreConfig,
  RouteConfig,
  RouteMatch,
  GateConfig,
  RampConfig,
  SampleKey,
  SecondaryConfig,
  ProtoSchemas,
} from './types.js';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { isMap } from 'yaml';
import type { YAMLMap } from 'yaml';
import { DEFAULT_MAX_HEADER_COUNT, SAFE_METHODS, SHADOW_MARKER } from '../http/headers.js';
import { Fields, unique } from './fields.js';
import { Section, flag, items, text } from './read.js';
import type { Reader, Value } from './read.js';
import { checkGrpcName, checkPathPattern, checkPrefix, isLoopback, parseHeaderName, parseHostName, parseOrderBy, parseSampleBy } from './values.js';
import { ProtoLoader } from './protos.js';

/** Defaults for every key that has one (sizes in bytes, durations in ms). */
export const DEFAULTS = deepFreeze({
  listen: { host: '0.0.0.0', port: 8080 },
  admin: { listen: { host: '127.0.0.1', port: 9901 }, token: '', hosts: [] },
  liveTimeout: 30_000,
  forwarded: { trust: false },
  dark: { protocol: 'auto', timeout: 5_000, maxInFlight: 64, maxRps: 0, headers: { set: { [SHADOW_MARKER]: '1' }, remove: [] }, breaker: { failures: 20, cooldown: 1_000, maxCooldown: 30_000 } },
  /** The sample fraction when `dark` is set; with no dark backend nothing is mirrored. */
  sample: 0.1,
  /** maxBufferedBytes: when the config sets none and no container memory limit is found (see bufferedBytesFor). */
  mirror: { sampleBy: null, orderBy: null, maxQueuedPerKey: 16, methods: SAFE_METHODS, maxBodyBytes: 1024 ** 2, maxBufferedBytes: 64 * 1024 ** 2 },
  store: { retention: 7 * 24 * 3600 * 1000, maxQueued: 10_000 },
  capture: { sample: 0.01, maxBodyBytes: 1024 ** 2, maxFileBytes: 64 * 1024 ** 2, maxTotalBytes: 1024 ** 3, gzip: false },
  compare: { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] },
  redact: { headers: [], fields: [] },
  gate: { window: 15 * 60_000, minComparisons: 200, maxMismatchRate: 0.001, maxErrorRate: 0.01, maxLatencyRatio: 1.25, latencyFloor: 25 },
  ramp: { hold: 15 * 60_000, onFail: 'pause' },
  limits: {
    headersTimeout: 10_000,
    requestTimeout: 60_000,
    maxHeaderBytes: 16 * 1024,
    maxHeaderCount: DEFAULT_MAX_HEADER_COUNT,
    drainTimeout: 10_000,
    maxDecodedBytes: 8 * 1024 ** 2,
    maxDecodeRatio: 1000,
    samplesPerRoute: 50,
    compareQueue: 32,
    compareHeap: 96 * 1024 ** 2,
    mismatchLogsPerSecond: 5,
    http2: { maxConcurrentStreams: 100, initialWindowSize: 65_535, maxResetsPerSecond: 200 },
  },
  log: { level: 'info' },
} as const satisfies {
  listen: ListenAddress;
  admin: AdminConfig;
  liveTimeout: number;
  forwarded: ForwardedConfig;
  dark: Omit<DarkConfig, 'url'>;
  sample: number;
  mirror: Omit<MirrorConfig, 'sample' | 'maxBufferedBytesFrom'>;
  compare: CompareConfig;
  redact: RedactConfig;
  gate: GateConfig;
  ramp: Omit<RampConfig, 'steps'>;
  capture: Omit<CaptureConfig, 'dir' | 'routes'>;
  store: Omit<StoreConfig, 'url'>;
  limits: Limits;
  log: Config['log'];
});

export const DEFAULT_ROUTE = 'default';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const TOP_KEYS = ['service', 'instance', 'listen', 'tls', 'admin', 'live', 'forwarded', 'dark', 'secondary', 'mirror', 'compare', 'redact', 'capture', 'store', 'gate', 'ramp', 'routes', 'limits', 'log'];
const GATE_KEYS = ['window', 'minComparisons', 'maxMismatchRate', 'maxErrorRate', 'maxLatencyRatio', 'latencyFloor'];
const RAMP_KEYS = ['steps', 'hold', 'onFail'];
const ROUTE_KEYS = ['name', 'match', 'mirror', 'compare', 'gate', 'ramp', 'owner', 'expires'];
/** gate.window: whole minutes from 1 m to 6 h (the route counts are kept minute by minute for 6 h). */
const GATE_WINDOW_MAX = 6 * 3_600_000;
const MIRROR_KEYS = ['sample', 'sampleBy', 'orderBy', 'maxQueuedPerKey', 'methods', 'maxBodyBytes', 'maxBufferedBytes'];
const ROUTE_MIRROR_KEYS = ['sample', 'sampleBy', 'orderBy', 'maxQueuedPerKey', 'methods', 'maxBodyBytes'];
const CAPTURE_KEYS = ['dir', 'sample', 'routes', 'maxBodyBytes', 'maxFileBytes', 'maxTotalBytes', 'gzip'];
const COMPARE_KEYS = ['ignoreHeaders', 'ignore', 'unordered', 'tolerance', 'keyed', 'allowAdded', 'tolerances', 'protos'];
const FIELD_TOLERANCE_KEYS = ['absolute', 'relative'];
/** mirror.maxBufferedBytes: the most a config may set, and the range a default derived from a memory limit keeps to. */
const BUFFERED_MAX = 1024 ** 3;
const BUFFERED_DERIVED_MIN = 4 * 1024 ** 2;

const ROUTE_MISPLACED = {
  maxBufferedBytes: 'is one budget for all routes together; set it in the top-level mirror section',
};

/** Freezes an object graph in place (the Config is shared by every request). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function readAdmin(f: Fields, at: Value | undefined): AdminConfig {
  const s = new Section(f.r, at, 'admin', ['listen', 'token', 'hosts']);
  const listen = f.listen(s.given('listen'), DEFAULTS.admin.listen, DEFAULTS.admin.listen.host);
  const tokenValue = s.given('token');
  let token = '';
  if (tokenValue !== undefined) {
    token = f.string(tokenValue) ?? '';
    if (/\s/.test(token)) {
      f.r.report(tokenValue.path, tokenValue.line, 'may not contain whitespace');
      token = '';
    }
  }
  if (token === '' && !isLoopback(listen.host)) {
    const line = s.get('token')?.line ?? s.get('listen')?.line ?? s.line;
    f.r.report('admin.token', line, 'required when admin listens beyond loopback');
  }
  const hosts = f.list(s.given('hosts'), (h) => {
    const parsed = parseHostName(h);
    return typeof parsed === 'string' ? { problem: parsed } : { value: parsed.host };
  });
  return { listen, token, hosts };
}

function readLive(f: Fields, at: Value | undefined): LiveConfig | undefined {
  const s = new Section(f.r, at, 'live', ['url', 'timeout', 'protocol'], {
    engine: 'was removed in 0.2.0: undici now forwards every request (live, dark, secondary); delete this key',
  });
  const url = f.url(s.given('url'), s);
  const timeout = f.duration(s.given('timeout'), DEFAULTS.liveTimeout);
  const protocol = readProtocol(f, s.given('protocol'), url);
  return url === undefined ? undefined : { url, timeout, protocol };
}

const PROTOCOLS = ['auto', 'http1', 'h2c', 'h2'] as const;

/** A backend's `protocol`, checked against its URL's scheme (h2c is clear text, h2 needs TLS). */
function readProtocol(f: Fields, v: Value | undefined, url: string | undefined): BackendProtocol {
  if (v === undefined) return 'auto';
  const p = PROTOCOLS.find((x) => x === text(v));
  if (p === undefined) {
    f.r.report(v.path, v.line, `expected one of ${PROTOCOLS.join(', ')}`);
    return 'auto';
  }
  const scheme = url === undefined ? null : new URL(url).protocol;
  if (p === 'h2c' && scheme === 'https:') f.r.report(v.path, v.line, 'h2c is HTTP/2 in clear text: use an http:// URL, or protocol h2 for https');
  if (p === 'h2' && scheme === 'http:') f.r.report(v.path, v.line, 'h2 is HTTP/2 over TLS: use an https:// URL, or protocol h2c for clear text');
  return p;
}

function readForwarded(f: Fields, at: Value | undefined): ForwardedConfig {
  const s = new Section(f.r, at, 'forwarded', ['trust']);
  const v = s.given('trust');
  if (v === undefined) return DEFAULTS.forwarded;
  const trust = flag(v);
  if (trust === undefined) {
    f.r.report(v.path, v.line, 'expected true or false');
    return DEFAULTS.forwarded;
  }
  return { trust };
}

function readHeaderEdits(f: Fields, at: Value | undefined): HeaderEdits {
  const s = new Section(f.r, at, 'dark.headers', ['set', 'remove']);
  const remove = f.headerNames(s.given('remove'));
  const set: Record<string, string> = { ...DEFAULTS.dark.headers.set };
  // Keys of `set` are header names, not schema keys, so no Section here.
  const setValue = s.given('set');
  if (setValue !== undefined) {
    if (isMap(setValue.node)) readHeaderMap(f, setValue, setValue.node, set, remove);
    else f.r.report(setValue.path, setValue.line, 'expected a mapping of header names to values');
  }
  for (const name of remove) delete set[name];
  return { set, remove };
}

function readHeaderMap(f: Fields, at: Value, node: YAMLMap, into: Record<string, string>, remove: readonly string[]): void {
  for (const pair of node.items) {
    const keyLine = f.r.lineOf(pair.key) ?? at.line;
    const keyValue = f.r.value(at.path, pair.key, keyLine);
    const rawName = text(keyValue);
    const name = rawName === undefined ? undefined : parseHeaderName(rawName);
    const path = `${at.path}.${rawName ?? '?'}`;
    if (name === undefined) {
      f.r.report(path, keyLine, `"${rawName ?? '?'}" is not a valid header name`);
      continue;
    }
    const value = f.r.value(path, pair.value, keyLine);
    const headerValue = value.node === null ? '' : f.string(value, 'expected a header value (a string)');
    if (headerValue === undefined) continue;
    if (/[\r\n\0]/.test(headerValue)) {
      f.r.report(path, value.line, 'a header value cannot contain line breaks or NUL');
      continue;
    }
    if (remove.includes(name) && name !== SHADOW_MARKER) {
      f.r.report(path, keyLine, `"${name}" is both set and removed`);
      continue;
    }
    into[name] = headerValue;
  }
}

function readDark(f: Fields, at: Value | undefined): DarkConfig | null | undefined {
  if (at === undefined || at.node === null) return null;
  const s = new Section(f.r, at, 'dark', ['url', 'timeout', 'protocol', 'maxInFlight', 'maxRps', 'headers', 'breaker']);
  if (!s.present) return undefined;
  const url = f.url(s.given('url'), s);
  const protocol = readProtocol(f, s.given('protocol'), url);
  const timeout = f.duration(s.given('timeout'), DEFAULTS.dark.timeout);
  const maxInFlight = f.number(s.given('maxInFlight'), DEFAULTS.dark.maxInFlight, (n) => Number.isSafeInteger(n) && n > 0, 'expected a positive integer');
  const maxRps = f.number(s.given('maxRps'), DEFAULTS.dark.maxRps, (n) => n >= 0, 'expected a number >= 0 (0 = no cap)');
  const headers = readHeaderEdits(f, s.given('headers'));
  const breaker = readBreaker(f, s.given('breaker'));
  return url === undefined ? undefined : { url, protocol, timeout, maxInFlight, maxRps, headers, breaker };
}

function readBreaker(f: Fields, at: Value | undefined): BreakerConfig {
  const d = DEFAULTS.dark.breaker;
  const s = new Section(f.r, at, 'dark.breaker', ['failures', 'cooldown', 'maxCooldown']);
  const failures = f.number(s.given('failures'), d.failures, (n) => Number.isSafeInteger(n) && n >= 0, 'expected an integer >= 0 (0 = never open)');
  const cooldown = f.duration(s.given('cooldown'), d.cooldown);
  const maxCooldown = f.duration(s.given('maxCooldown'), Math.max(d.maxCooldown, cooldown));
  if (maxCooldown < cooldown) {
    const v = s.given('maxCooldown');
    if (v !== undefined) f.r.report(v.path, v.line, `expected at least dark.breaker.cooldown (${cooldown} ms)`);
  }
  return { failures, cooldown, maxCooldown: Math.max(maxCooldown, cooldown) };
}

function readSecondary(f: Fields, at: Value | undefined): SecondaryConfig | null | undefined {
  if (at === undefined || at.node === null) return null;
  const s = new Section(f.r, at, 'secondary', ['url', 'protocol']);
  if (!s.present) return undefined;
  const url = f.url(s.given('url'), s);
  const protocol = readProtocol(f, s.given('protocol'), url);
  return url === undefined ? undefined : { url, protocol };
}

function readSample(f: Fields, v: Value | undefined, fallback: number): number {
  return f.number(v, fallback, (n) => n >= 0 && n <= 1, 'expected a number from 0 to 1');
}

function readSampleBy(f: Fields, v: Value | undefined, fallback: SampleKey | null): SampleKey | null {
  if (v === undefined) return fallback;
  // An explicit empty value (`sampleBy: null`) turns sticky sampling off.
  if (v.node === null) return null;
  const s = f.string(v, 'expected header:NAME, cookie:NAME or query:NAME');
  if (s === undefined) return fallback;
  const parsed = parseSampleBy(s.trim());
  if (typeof parsed === 'string') {
    f.r.report(v.path, v.line, parsed);
    return fallback;
  }
  return parsed;
}

function readOrderBy(f: Fields, v: Value | undefined, fallback: OrderKey | null): OrderKey | null {
  if (v === undefined) return fallback;
  // An explicit empty value (`orderBy: null`) turns ordering off on a route.
  if (v.node === null) return null;
  const s = f.string(v, 'expected header:NAME, cookie:NAME, query:NAME or path:PARAM');
  if (s === undefined) return fallback;
  const parsed = parseOrderBy(s.trim());
  if (typeof parsed === 'string') {
    f.r.report(v.path, v.line, parsed);
    return fallback;
  }
  return parsed;
}

function readMaxQueued(f: Fields, v: Value | undefined, fallback: number): number {
  return f.number(v, fallback, (n) => Number.isSafeInteger(n) && n >= 0 && n <= 10_000, 'expected a whole number from 0 to 10000');
}

/**
 * The shadow memory budget when the config sets none: a quarter of the container's
 * memory limit (the rest is for the live path, the V8 heap and Node itself; a
 * 256 MiB limit gives 64 MiB) within 4 MiB..1 GiB, or 64 MiB when there is no limit.
 */
function bufferedBytesFor(containerLimit: number | null): Pick<MirrorConfig, 'maxBufferedBytes' | 'maxBufferedBytesFrom'> {
  if (containerLimit === null) return { maxBufferedBytes: DEFAULTS.mirror.maxBufferedBytes, maxBufferedBytesFrom: 'default' };
  const quarter = Math.floor(containerLimit / 4);
  return { maxBufferedBytes: Math.min(BUFFERED_MAX, Math.max(BUFFERED_DERIVED_MIN, quarter)), maxBufferedBytesFrom: 'cgroup' };
}

function readMirror(f: Fields, at: Value | undefined, sampleDefault: number, containerLimit: number | null): MirrorConfig {
  const s = new Section(f.r, at, 'mirror', MIRROR_KEYS);
  const given = s.given('maxBufferedBytes');
  const buffered =
    given === undefined
      ? bufferedBytesFor(containerLimit)
      : { maxBufferedBytes: f.size(given, DEFAULTS.mirror.maxBufferedBytes, { max: BUFFERED_MAX }), maxBufferedBytesFrom: 'config' as const };
  return {
    sample: readSample(f, s.given('sample'), sampleDefault),
    sampleBy: readSampleBy(f, s.given('sampleBy'), DEFAULTS.mirror.sampleBy),
    orderBy: readOrderBy(f, s.given('orderBy'), DEFAULTS.mirror.orderBy),
    maxQueuedPerKey: readMaxQueued(f, s.given('maxQueuedPerKey'), DEFAULTS.mirror.maxQueuedPerKey),
    methods: f.methods(s.given('methods')) ?? [...DEFAULTS.mirror.methods],
    maxBodyBytes: f.size(s.given('maxBodyBytes'), DEFAULTS.mirror.maxBodyBytes),
    ...buffered,
  };
}

function readTolerance(f: Fields, v: Value | undefined, fallback: number): number {
  return f.number(v, fallback, (n) => n >= 0, 'expected a number >= 0');
}

/** `compare.keyed`: array path -> the member that pairs its elements (an object key: any non-empty string). */
function readKeyed(f: Fields, v: Value | undefined): KeyedArray[] {
  return f.pathMap(v, 'member names', (value) => {
    const member = value.node === null ? undefined : text(value);
    if (member === undefined || member === '') {
      f.r.report(value.path, value.line, 'expected the name of the member that pairs the elements, like id');
      return undefined;
    }
    return member;
  }).map(({ path, value }) => ({ path, member: value }));
}

/** `compare.tolerances`: path -> { absolute, relative } (numbers >= 0, at least one; an unset form is 0). */
function readTolerances(f: Fields, v: Value | undefined): FieldTolerance[] {
  const expected = 'expected { absolute: N }, { relative: N } or both';
  return f.pathMap(v, 'tolerances', (value) => {
    if (!isMap(value.node)) {
      f.r.report(value.path, value.line, expected);
      return undefined;
    }
    const s = new Section(f.r, value, value.path, FIELD_TOLERANCE_KEYS);
    const absolute = s.given('absolute');
    const relative = s.given('relative');
    if (absolute === undefined && relative === undefined) {
      f.r.report(value.path, value.line, expected);
      return undefined;
    }
    return { absolute: readTolerance(f, absolute, 0), relative: readTolerance(f, relative, 0) };
  }).map(({ path, value }) => ({ path, ...value }));
}

/** A route's keyed/tolerances entries first, then the top-level ones whose path the route does not name. */
function extendByPath<T extends { readonly path: string }>(top: readonly T[], route: readonly T[]): T[] {
  const named = new Set(route.map((e) => e.path));
  return [...route, ...top.filter((e) => !named.has(e.path))];
}

/**
 * `compare.protos`: .proto files (paths relative to the config file), loaded
 * together with the inherited ones (a route's list extends the top-level one).
 * A file that is missing or does not parse is reported at its item, naming the
 * .proto file and line; the inherited set is kept.
 */
function readProtos(f: Fields, v: Value | undefined, loader: ProtoLoader, inherited: ProtoSchemas | undefined): ProtoSchemas | undefined {
  if (v === undefined) return inherited;
  const own: { file: string; at: Value }[] = [];
  for (const item of items(f.r, v)) {
    const s = f.string(item, 'expected the path of a .proto file');
    if (s === undefined) continue;
    if (s.trim() === '') {
      f.r.report(item.path, item.line, 'expected the path of a .proto file');
      continue;
    }
    own.push({ file: loader.resolve(s.trim()), at: item });
  }
  const files = unique([...(inherited?.files ?? []), ...own.map((o) => o.file)]);
  if (files.length === (inherited?.files.length ?? 0)) return inherited;
  const loaded = loader.load(files);
  if ('descriptors' in loaded) return loaded;
  if (loader.firstReport(loaded)) {
    const at = own.find((o) => o.file === loaded.file)?.at ?? v;
    f.r.report(at.path, at.line, loaded.message);
  }
  return inherited;
}

function readCompare(f: Fields, at: Value | undefined, loader: ProtoLoader): CompareConfig {
  const s = new Section(f.r, at, 'compare', COMPARE_KEYS);
  const protos = readProtos(f, s.given('protos'), loader, undefined);
  return {
    ignoreHeaders: f.headerNames(s.given('ignoreHeaders')),
    ignore: f.fieldPaths(s.given('ignore')),
    unordered: f.fieldPaths(s.given('unordered')),
    tolerance: readTolerance(f, s.given('tolerance'), DEFAULTS.compare.tolerance),
    keyed: readKeyed(f, s.given('keyed')),
    allowAdded: f.fieldPaths(s.given('allowAdded')),
    tolerances: readTolerances(f, s.given('tolerances')),
    ...(protos !== undefined && { protos }),
  };
}

function readRedact(f: Fields, at: Value | undefined): RedactConfig {
  const s = new Section(f.r, at, 'redact', ['headers', 'fields']);
  return { headers: f.headerNames(s.given('headers')), fields: f.fieldPaths(s.given('fields')) };
}

function readLimits(f: Fields, at: Value | undefined): Limits {
  const d = DEFAULTS.limits;
  const s = new Section(f.r, at, 'limits', Object.keys(d));
  return {
    headersTimeout: f.duration(s.given('headersTimeout'), d.headersTimeout),
    requestTimeout: f.duration(s.given('requestTimeout'), d.requestTimeout),
    maxHeaderBytes: f.size(s.given('maxHeaderBytes'), d.maxHeaderBytes),
    maxHeaderCount: f.number(s.given('maxHeaderCount'), d.maxHeaderCount, (n) => Number.isSafeInteger(n) && n > 0 && n <= 10_000, 'expected a whole number from 1 to 10000'),
    drainTimeout: f.duration(s.given('drainTimeout'), d.drainTimeout, { allowZero: true }),
    maxDecodedBytes: f.size(s.given('maxDecodedBytes'), d.maxDecodedBytes),
    maxDecodeRatio: f.number(s.given('maxDecodeRatio'), d.maxDecodeRatio, (n) => Number.isFinite(n) && n >= 0, 'expected a number >= 0 (0 = no ratio limit)'),
    samplesPerRoute: f.number(s.given('samplesPerRoute'), d.samplesPerRoute, (n) => Number.isSafeInteger(n) && n > 0, 'expected a positive integer'),
    compareQueue: f.number(s.given('compareQueue'), d.compareQueue, (n) => Number.isSafeInteger(n) && n >= 0, 'expected a whole number >= 0'),
    compareHeap: f.size(s.given('compareHeap'), d.compareHeap, { min: 32 * 1024 ** 2, max: 4 * 1024 ** 3 }),
    mismatchLogsPerSecond: f.number(s.given('mismatchLogsPerSecond'), d.mismatchLogsPerSecond, (n) => Number.isFinite(n) && n >= 0, 'expected a number >= 0'),
    http2: readHttp2(f, s.given('http2')),
  };
}

function readHttp2(f: Fields, at: Value | undefined): Http2Limits {
  const d = DEFAULTS.limits.http2;
  const s = new Section(f.r, at, 'limits.http2', Object.keys(d));
  return {
    maxConcurrentStreams: f.number(s.given('maxConcurrentStreams'), d.maxConcurrentStreams, (n) => Number.isSafeInteger(n) && n >= 1 && n <= 10_000, 'expected a whole number from 1 to 10000'),
    // RFC 9113 §6.5.2: at most 2^31-1.
    initialWindowSize: f.size(s.given('initialWindowSize'), d.initialWindowSize, { min: 1024, max: 2 ** 31 - 1 }),
    maxResetsPerSecond: f.number(s.given('maxResetsPerSecond'), d.maxResetsPerSecond, (n) => Number.isSafeInteger(n) && n >= 1, 'expected a positive whole number'),
  };
}

/** `tls: {cert, key}`: PEM files, relative to the config file; read and checked here, so `umbra check` finds a bad one. */
function readTls(f: Fields, at: Value | undefined, source: string): TlsConfig | null {
  if (at === undefined || at.node === null) return null;
  const s = new Section(f.r, at, 'tls', ['cert', 'key']);
  if (!s.present) return null;
  const file = (key: 'cert' | 'key'): { path: string; data: string; v: Value } | undefined => {
    const v = s.given(key);
    if (v === undefined) {
      const m = s.missing(key);
      f.r.report(m.path, m.line, `required: the ${key === 'cert' ? 'certificate chain' : 'private key'} as a PEM file`);
      return undefined;
    }
    const name = f.string(v, 'expected a file path');
    if (name === undefined || name === '') return undefined;
    const path = isAbsolute(name) || source === 'flags' ? name : resolve(dirname(source), name);
    try {
      return { path, data: readFileSync(path, 'utf8'), v };
    } catch (err) {
      f.r.report(v.path, v.line, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return undefined;
    }
  };
  const cert = file('cert');
  const key = file('key');
  if (cert === undefined || key === undefined) return null;
  try {
    createSecureContext({ cert: cert.data, key: key.data });
  } catch (err) {
    f.r.report(at.path || 'tls', at.line, `the certificate and key do not load: ${(err as Error).message}`);
    return null;
  }
  return { certFile: cert.path, keyFile: key.path, cert: cert.data, key: key.data };
}

function readLog(f: Fields, at: Value | undefined): Config['log'] {
  const s = new Section(f.r, at, 'log', ['level']);
  const v = s.given('level');
  if (v === undefined) return { level: DEFAULTS.log.level };
  const level = LOG_LEVELS.find((l) => l === text(v));
  if (level === undefined) {
    f.r.report(v.path, v.line, `expected one of ${LOG_LEVELS.join(', ')}`);
    return { level: DEFAULTS.log.level };
  }
  return { level };
}

function readMatch(f: Fields, at: Value | undefined, route: Section): RouteMatch | undefined {
  if (at === undefined) {
    const m = route.missing('match');
    f.r.report(m.path, m.line, 'required: { path: /users/:id }, { prefix: /api/ } or { grpc: pkg.Service/Method }');
    return undefined;
  }
  const s = new Section(f.r, at, at.path, ['path', 'prefix', 'grpc', 'methods']);
  if (!s.present) return undefined;
  const grpc = s.given('grpc');
  if (grpc !== undefined) {
    if (s.given('path') !== undefined || s.given('prefix') !== undefined) f.r.report(at.path, at.line, 'needs exactly one of "path", "prefix" or "grpc"');
    const methodsValue = s.given('methods');
    if (methodsValue !== undefined) f.r.report(methodsValue.path, methodsValue.line, 'a gRPC call is always a POST: leave methods out');
    const name = f.string(grpc, 'expected pkg.Service/Method or pkg.Service/*');
    if (name === undefined) return undefined;
    const problem = checkGrpcName(name);
    if (problem !== undefined) {
      f.r.report(grpc.path, grpc.line, problem);
      return undefined;
    }
    return { grpc: name, methods: ['POST'] };
  }
  const methods = f.methods(s.given('methods')) ?? null;
  const path = s.given('path');
  const prefix = s.given('prefix');
  if ((path === undefined) === (prefix === undefined)) {
    f.r.report(at.path, at.line, 'needs exactly one of "path", "prefix" or "grpc"');
    return undefined;
  }
  const which = path ?? prefix;
  if (which === undefined) return undefined;
  const pattern = f.string(which, 'expected a path starting with "/"');
  if (pattern === undefined) return undefined;
  const problem = path !== undefined ? checkPathPattern(pattern) : checkPrefix(pattern);
  if (problem !== undefined) {
    f.r.report(which.path, which.line, problem);
    return undefined;
  }
  return path !== undefined ? { path: pattern, methods } : { prefix: pattern, methods };
}

/** The path parameters of a route pattern (`/carts/:id/items` has `id`); none for a prefix. */
function pathParams(match: RouteMatch | undefined): string[] {
  if (match === undefined || !('path' in match)) return [];
  return match.path.split('/').filter((p) => p.startsWith(':') && p.length > 1).map((p) => p.slice(1));
}

/**
 * A route's orderBy. `path:PARAM` set on the route must name a parameter of its
 * pattern; inherited from the top level, it applies only to routes that have
 * that parameter (the others are not ordered).
 */
function readRouteOrderBy(f: Fields, v: Value | undefined, inherited: OrderKey | null, match: RouteMatch | undefined): OrderKey | null {
  if (v === undefined) {
    if (inherited?.kind === 'path' && !pathParams(match).includes(inherited.name)) return null;
    return inherited;
  }
  const key = readOrderBy(f, v, null);
  if (key?.kind === 'path' && match !== undefined && !pathParams(match).includes(key.name)) {
    const params = pathParams(match);
    const hint = params.length === 0 ? 'the route has no path parameter' : `its parameters: ${params.map((p) => `path:${p}`).join(', ')}`;
    f.r.report(v.path, v.line, `path:${key.name} is not a parameter of this route's match (${hint})`);
    return null;
  }
  return key;
}

function readRoutes(
  f: Fields,
  at: Value | undefined,
  mirror: MirrorConfig,
  compare: CompareConfig,
  gate: GateConfig,
  ramp: RampConfig | null,
  loader: ProtoLoader,
): RouteConfig[] {
  const routes: RouteConfig[] = [];
  const names = new Set<string>();
  for (const item of at === undefined ? [] : items(f.r, at)) {
    const s = new Section(f.r, item, item.path, ROUTE_KEYS);
    if (!s.present) {
      if (item.node === null) f.r.report(item.path, item.line, 'expected a mapping of keys to values');
      continue;
    }
    const nameValue = s.given('name');
    let name: string | undefined;
    if (nameValue === undefined) {
      const m = s.missing('name');
      f.r.report(m.path, item.line, 'required');
    } else {
      name = f.string(nameValue);
      if (name !== undefined) {
        let problem: string | undefined;
        if (!/^[a-z0-9_-]+$/.test(name)) problem = `"${name}" must match [a-z0-9_-]+`;
        else if (name === DEFAULT_ROUTE) problem = `"${DEFAULT_ROUTE}" is reserved for the implicit last route`;
        else if (names.has(name)) problem = `"${name}" is already the name of another route`;
        if (problem !== undefined) {
          f.r.report(nameValue.path, nameValue.line, problem);
          name = undefined;
        } else {
          names.add(name);
        }
      }
    }
    const match = readMatch(f, s.given('match'), s);

    const m = new Section(f.r, s.given('mirror'), `${item.path}.mirror`, ROUTE_MIRROR_KEYS, ROUTE_MISPLACED);
    const routeMirror: MirrorConfig = {
      sample: readSample(f, m.given('sample'), mirror.sample),
      sampleBy: readSampleBy(f, m.get('sampleBy'), mirror.sampleBy),
      orderBy: readRouteOrderBy(f, m.get('orderBy'), mirror.orderBy, match),
      maxQueuedPerKey: readMaxQueued(f, m.given('maxQueuedPerKey'), mirror.maxQueuedPerKey),
      // Naming a gRPC call is the opt-in that POST needs elsewhere (DESIGN §13).
      methods: f.methods(m.given('methods')) ?? (match !== undefined && 'grpc' in match ? ['POST'] : mirror.methods),
      maxBodyBytes: f.size(m.given('maxBodyBytes'), mirror.maxBodyBytes),
      maxBufferedBytes: mirror.maxBufferedBytes,
      maxBufferedBytesFrom: mirror.maxBufferedBytesFrom,
    };

    // Lists extend the top-level ones (a route can only add to what is ignored);
    // tolerance replaces it; a keyed or tolerances entry replaces the top-level
    // one for the same path.
    const c = new Section(f.r, s.given('compare'), `${item.path}.compare`, COMPARE_KEYS);
    const protos = readProtos(f, c.given('protos'), loader, compare.protos);
    const routeCompare: CompareConfig = {
      ignoreHeaders: unique([...compare.ignoreHeaders, ...f.headerNames(c.given('ignoreHeaders'))]),
      ignore: unique([...compare.ignore, ...f.fieldPaths(c.given('ignore'))]),
      unordered: unique([...compare.unordered, ...f.fieldPaths(c.given('unordered'))]),
      tolerance: readTolerance(f, c.given('tolerance'), compare.tolerance),
      keyed: extendByPath(compare.keyed, readKeyed(f, c.given('keyed'))),
      allowAdded: unique([...compare.allowAdded, ...f.fieldPaths(c.given('allowAdded'))]),
      tolerances: extendByPath(compare.tolerances, readTolerances(f, c.given('tolerances'))),
      ...(protos !== undefined && { protos }),
    };

    const routeGate = readGate(f, s.given('gate'), `${item.path}.gate`, gate);
    const routeRamp = readRamp(f, s.get('ramp'), `${item.path}.ramp`, ramp);
    const owner = readName(f, s.given('owner'), '');
    const expires = readExpires(f, s.given('expires'));

    if (name !== undefined && match !== undefined) {
      routes.push({ name, match, mirror: routeMirror, compare: routeCompare, gate: routeGate, ramp: routeRamp, owner, expires });
    }
  }
  // The default route has no path parameters: a top-level path:PARAM does not order it.
  const defaultMirror = mirror.orderBy?.kind === 'path' ? { ...mirror, orderBy: null } : mirror;
  routes.push({ name: DEFAULT_ROUTE, match: null, mirror: defaultMirror, compare, gate, ramp, owner: '', expires: null });
  return routes;
}

/** `gate:` (top level, or a route's over it): the release verdict's window and bounds. */
function readGate(f: Fields, at: Value | undefined, path: string, inherited: GateConfig): GateConfig {
  const s = new Section(f.r, at, path, GATE_KEYS);
  const rate = (key: string, fallback: number): number => f.number(s.given(key), fallback, (n) => n >= 0 && n <= 1, 'expected a fraction from 0 to 1 (0.001 = 0.1%)');
  const windowValue = s.given('window');
  let window = f.duration(windowValue, inherited.window);
  if (windowValue !== undefined && (window % 60_000 !== 0 || window > GATE_WINDOW_MAX)) {
    f.r.report(windowValue.path, windowValue.line, 'expected whole minutes from 1m to 6h (route counts are kept minute by minute for 6 hours)');
    window = inherited.window;
  }
  return {
    window,
    minComparisons: f.number(s.given('minComparisons'), inherited.minComparisons, (n) => Number.isSafeInteger(n) && n >= 1, 'expected a whole number >= 1'),
    maxMismatchRate: rate('maxMismatchRate', inherited.maxMismatchRate),
    maxErrorRate: rate('maxErrorRate', inherited.maxErrorRate),
    maxLatencyRatio: f.number(s.given('maxLatencyRatio'), inherited.maxLatencyRatio, (n) => n >= 1, 'expected a number >= 1 (1.25 = dark p99 may be 25% above live p99)'),
    latencyFloor: f.duration(s.given('latencyFloor'), inherited.latencyFloor, { allowZero: true }),
  };
}

/**
 * `ramp:` (top level, or a route's over it; `ramp: false` on a route turns an
 * inherited one off). Steps are sample fractions in (0, 1], strictly ascending.
 */
function readRamp(f: Fields, at: Value | undefined, path: string, inherited: RampConfig | null): RampConfig | null {
  if (at === undefined || at.node === null) return inherited;
  if (flag(at) === false) return null;
  const s = new Section(f.r, at, path, RAMP_KEYS);
  if (!s.present) return inherited;
  const stepsValue = s.given('steps');
  let steps: number[] | undefined = inherited?.steps.slice();
  if (stepsValue !== undefined) {
    const read: number[] = [];
    let ok = true;
    for (const item of items(f.r, stepsValue)) {
      const n = f.number(item, NaN, (x) => x > 0 && x <= 1, 'expected a sample fraction above 0 and at most 1');
      if (Number.isNaN(n)) ok = false;
      else if (read.length > 0 && n <= (read[read.length - 1] as number)) {
        f.r.report(item.path, item.line, 'steps must go up: each above the one before');
        ok = false;
      } else read.push(n);
    }
    if (ok && read.length === 0) f.r.report(stepsValue.path, stepsValue.line, 'expected at least one step, like [0.01, 0.05, 0.25, 1.0]');
    steps = ok && read.length > 0 ? read : undefined;
  } else if (steps === undefined) {
    const m = s.missing('steps');
    f.r.report(m.path, m.line, 'required: the sample fractions to move through, like [0.01, 0.05, 0.25, 1.0]');
  }
  const onFailValue = s.given('onFail');
  let onFail: RampConfig['onFail'] = inherited?.onFail ?? DEFAULTS.ramp.onFail;
  if (onFailValue !== undefined) {
    const v = text(onFailValue);
    if (v === 'pause' || v === 'hold') onFail = v;
    else f.r.report(onFailValue.path, onFailValue.line, 'expected pause (stop the route\'s mirroring) or hold (stay at the step)');
  }
  const hold = f.duration(s.given('hold'), inherited?.hold ?? DEFAULTS.ramp.hold, { allowZero: true });
  return steps === undefined ? null : { steps, hold, onFail };
}

/** `expires: 2027-01-31`: a real calendar date, kept as written. */
function readExpires(f: Fields, v: Value | undefined): string | null {
  if (v === undefined) return null;
  const s = text(v)?.trim();
  const ok = s !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(s) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s);
  if (!ok) {
    f.r.report(v.path, v.line, 'expected a date as YYYY-MM-DD, like 2027-01-31');
    return null;
  }
  return s;
}

function readStore(f: Fields, at: Value | undefined): StoreConfig | null {
  if (at === undefined || at.node === null) return null;
  const s = new Section(f.r, at, 'store', ['url', 'retention', 'maxQueued']);
  if (!s.present) return null;
  const d = DEFAULTS.store;
  const urlValue = s.get('url');
  let url: string | undefined;
  if (urlValue === undefined) {
    const m = s.missing('url');
    f.r.report(m.path, m.line, 'required: postgres://user@host:5432/db');
  } else if (urlValue.node !== null && text(urlValue) !== '') {
    const raw = f.string(urlValue, 'expected a URL like postgres://user@host:5432/db');
    let parsed: URL | undefined;
    try {
      parsed = raw === undefined ? undefined : new URL(raw);
    } catch {
      parsed = undefined;
    }
    // The message never repeats the URL: it may hold a password.
    if (raw !== undefined && (parsed === undefined || !['postgres:', 'postgresql:'].includes(parsed.protocol))) {
      f.r.report(urlValue.path, urlValue.line, 'expected a URL like postgres://user@host:5432/db (scheme postgres: or postgresql:)');
    } else url = raw;
  }
  const retention = f.duration(s.given('retention'), d.retention);
  const maxQueued = f.number(s.given('maxQueued'), d.maxQueued, (n) => Number.isSafeInteger(n) && n > 0 && n <= 1_000_000, 'expected a whole number from 1 to 1000000');
  // `url:` empty (an unset ${UMBRA_STORE_URL:-}) means no store, as if the section were absent.
  if (urlValue !== undefined && (urlValue.node === null || text(urlValue) === '')) return null;
  return url === undefined ? null : { url, retention, maxQueued };
}

function readCapture(f: Fields, at: Value | undefined, routes: readonly RouteConfig[]): CaptureConfig | null {
  if (at === undefined || at.node === null) return null;
  const s = new Section(f.r, at, 'capture', CAPTURE_KEYS);
  if (!s.present) return null;
  const d = DEFAULTS.capture;
  const dirValue = s.given('dir');
  const dir = dirValue === undefined ? undefined : f.string(dirValue, 'expected a directory path');
  if (dirValue === undefined) {
    const m = s.missing('dir');
    f.r.report(m.path, m.line, 'required: the directory capture files are written to');
  } else if (dir === '') f.r.report(dirValue.path, dirValue.line, 'expected a directory path');
  const routesValue = s.given('routes');
  const known = new Set(routes.map((r) => r.name));
  const names =
    routesValue === undefined
      ? null
      : f.list(routesValue, (name) => (known.has(name) ? { value: name } : { problem: `"${name}" is not a route (routes: ${[...known].join(', ')})` }));
  const maxFileBytes = f.size(s.given('maxFileBytes'), d.maxFileBytes, { min: 1024 });
  const maxTotalBytes = f.size(s.given('maxTotalBytes'), d.maxTotalBytes, { min: 1024 });
  const gzipValue = s.given('gzip');
  let gzip: boolean = d.gzip;
  if (gzipValue !== undefined) {
    const g = flag(gzipValue);
    if (g === undefined) f.r.report(gzipValue.path, gzipValue.line, 'expected true or false');
    else gzip = g;
  }
  if (maxTotalBytes < maxFileBytes) {
    const v = s.given('maxTotalBytes') ?? s.given('maxFileBytes');
    f.r.report(v?.path ?? 'capture', v?.line ?? s.line, 'capture.maxTotalBytes must be at least capture.maxFileBytes');
  }
  const sample = readSample(f, s.given('sample'), d.sample);
  const maxBodyBytes = f.size(s.given('maxBodyBytes'), d.maxBodyBytes);
  if (dir === undefined || dir === '') return null;
  return {
    dir,
    sample,
    routes: names === null ? null : unique(names),
    maxBodyBytes,
    maxFileBytes,
    maxTotalBytes,
    gzip,
  };
}

/** `service` / `instance`: a short printable name; empty (or an empty ${VAR:-}) keeps the default. */
function readName(f: Fields, v: Value | undefined, fallback: string): string {
  if (v === undefined || v.node === null) return fallback;
  const s = f.string(v, 'expected a name (a string)');
  if (s === undefined || s.trim() === '') return fallback;
  if (s.length > 253 || /[\u0000-\u001f\u007f]/.test(s)) {
    f.r.report(v.path, v.line, 'expected at most 253 printable characters');
    return fallback;
  }
  return s.trim();
}

/**
 * Reads the document root into a Config. Check `r.problems` before using it.
 * `containerLimit` is the container's memory limit in bytes (null: none), which
 * the mirror.maxBufferedBytes default derives from; the caller reads it.
 */
export function readConfig(r: Reader, root: Value, source: string, containerLimit: number | null): Config | undefined {
  const f = new Fields(r);
  const top = new Section(r, root, '', TOP_KEYS);
  if (root.node !== null && !top.present) return undefined;

  const service = readName(f, top.given('service'), '');
  const instance = readName(f, top.given('instance'), hostname());
  const listen = f.listen(top.given('listen'), DEFAULTS.listen, DEFAULTS.listen.host);
  const tls = readTls(f, top.get('tls'), source);
  const admin = readAdmin(f, top.given('admin'));
  const liveValue = top.given('live');
  if (liveValue === undefined) r.report('live.url', null, 'required');
  const live = liveValue === undefined ? undefined : readLive(f, liveValue);
  const forwarded = readForwarded(f, top.given('forwarded'));
  const dark = readDark(f, top.get('dark'));
  const secondary = readSecondary(f, top.get('secondary'));
  const mirror = readMirror(f, top.given('mirror'), dark === null ? 0 : DEFAULTS.sample, containerLimit);
  // compare.protos paths are relative to the config file.
  const loader = new ProtoLoader(source === 'flags' ? process.cwd() : dirname(resolve(source)));
  const compare = readCompare(f, top.given('compare'), loader);
  const redact = readRedact(f, top.given('redact'));
  const gate = readGate(f, top.given('gate'), 'gate', DEFAULTS.gate);
  const ramp = readRamp(f, top.get('ramp'), 'ramp', null);
  const routes = readRoutes(f, top.given('routes'), mirror, compare, gate, ramp, loader);
  const capture = readCapture(f, top.get('capture'), routes);
  const store = readStore(f, top.get('store'));
  const limits = readLimits(f, top.given('limits'));
  const log = readLog(f, top.given('log'));

  if (live === undefined || dark === undefined || secondary === undefined) return undefined;
  return { source, service, instance, listen, tls, admin, live, forwarded, dark, secondary, mirror, compare, redact, capture, store, gate, ramp, limits, log, routes };
}
