import { hostname } from 'node:os';
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { ConfigError, UmbraError } from '../../src/errors.js';
import { DEFAULTS, configFromFlags, loadConfigFile, parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';

const EXAMPLE = fileURLToPath(new URL('../../config/umbra.yaml', import.meta.url));
const LIVE = 'live:\n  url: http://127.0.0.1:3000\n';
const DARK = 'dark:\n  url: http://127.0.0.1:3001\n';

/** `dark` as DARK (and the example config) gives it: every default. */
const DARK_DEFAULTS = {
  url: 'http://127.0.0.1:3001',
  protocol: 'auto',
  timeout: 5_000,
  maxInFlight: 64,
  maxRps: 0,
  headers: { set: { 'x-umbra-shadow': '1' }, remove: [] },
  breaker: { failures: 20, cooldown: 1_000, maxCooldown: 30_000 },
};

/** No container memory limit here, so the defaults do not depend on the machine (buffered-bytes.test.ts has them). */
function load(text: string, env: Record<string, string> = {}): Config {
  return parseConfigText(text, 'c.yaml', env, { containerLimit: null });
}

/** The problem lines of a config that must fail ([] if it loads). */
function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    load(text, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n');
    throw err;
  }
  return [];
}

void t.test('the example config/umbra.yaml loads with zero problems', (t) => {
  const c = loadConfigFile(EXAMPLE, {}, { containerLimit: null });
  t.equal(c.source, EXAMPLE);
  t.strictSame(c.listen, { host: '0.0.0.0', port: 8080 });
  t.strictSame(c.admin, { listen: { host: '127.0.0.1', port: 9901 }, token: '', hosts: [] });
  t.strictSame(c.live, { url: 'http://127.0.0.1:3000', timeout: 30_000, protocol: 'auto' });
  t.equal(c.tls, null);
  t.strictSame(c.forwarded, { trust: false });
  t.strictSame(c.dark, DARK_DEFAULTS);
  t.strictSame(c.secondary, { url: 'http://127.0.0.1:3002', protocol: 'auto' });
  t.strictSame(c.mirror, {
    sample: 0.1,
    sampleBy: { kind: 'header', name: 'x-user-id' },
    orderBy: null,
    maxQueuedPerKey: 16,
    methods: ['GET', 'HEAD', 'OPTIONS'],
    maxBodyBytes: 1_048_576,
    maxBufferedBytes: 67_108_864,
    maxBufferedBytesFrom: 'default',
  });
  t.strictSame(c.compare, {
    ignoreHeaders: ['x-trace-id'],
    ignore: ['$.meta.requestId', '$.items[*].updatedAt', '$..etag', '$["x-cache-key"]'],
    unordered: ['$.tags'],
    tolerance: 0,
    keyed: [{ path: '$.orders', member: 'id' }],
    allowAdded: ['$.meta'],
    tolerances: [
      { path: '$.items[*].price', absolute: 0.01, relative: 0 },
      { path: '$.score', absolute: 0, relative: 0.05 },
    ],
  });
  t.strictSame(c.redact, { headers: ['x-api-key'], fields: ['$..password'] });
  t.equal(c.capture, null);
  t.strictSame(c.limits, { headersTimeout: 10_000, requestTimeout: 60_000, maxHeaderBytes: 16_384, maxHeaderCount: 100, drainTimeout: 10_000, maxDecodedBytes: 8_388_608, maxDecodeRatio: 1000, samplesPerRoute: 50, compareQueue: 32, compareHeap: 100_663_296, mismatchLogsPerSecond: 5, http2: { maxConcurrentStreams: 100, initialWindowSize: 65_535, maxResetsPerSecond: 200 } });
  t.strictSame(c.log, { level: 'info' });
  t.strictSame(c.routes.map((r) => r.name), ['get-user', 'static', 'default']);
  t.strictSame(c.routes[0]?.match, { path: '/users/:id', methods: ['GET'] });
  t.equal(c.routes[0]?.mirror.sample, 1);
  t.strictSame(c.routes[1]?.match, { prefix: '/static/', methods: null });
  t.equal(c.routes[1]?.mirror.sample, 0);
  t.end();
});

void t.test('the example takes the admin token from the environment', (t) => {
  t.equal(loadConfigFile(EXAMPLE, { UMBRA_ADMIN_TOKEN: 's3cret' }).admin.token, 's3cret');
  t.end();
});

void t.test('defaults for a minimal config (no dark: nothing sampled)', (t) => {
  const c = load(LIVE);
  const mirror = { sample: 0, sampleBy: null, orderBy: null, maxQueuedPerKey: 16, methods: ['GET', 'HEAD', 'OPTIONS'], maxBodyBytes: 1_048_576, maxBufferedBytes: 67_108_864, maxBufferedBytesFrom: 'default' };
  const compare = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };
  const gate = { window: 900_000, minComparisons: 200, maxMismatchRate: 0.001, maxErrorRate: 0.01, maxLatencyRatio: 1.25, latencyFloor: 25 };
  t.strictSame(c, {
    source: 'c.yaml',
    service: '',
    instance: hostname(),
    listen: { host: '0.0.0.0', port: 8080 },
    tls: null,
    admin: { listen: { host: '127.0.0.1', port: 9901 }, token: '', hosts: [] },
    live: { url: 'http://127.0.0.1:3000', timeout: 30_000, protocol: 'auto' },
    forwarded: { trust: false },
    dark: null,
    secondary: null,
    mirror,
    compare,
    redact: { headers: [], fields: [] },
    capture: null,
    store: null,
    gate,
    ramp: null,
    limits: { headersTimeout: 10_000, requestTimeout: 60_000, maxHeaderBytes: 16_384, maxHeaderCount: 100, drainTimeout: 10_000, maxDecodedBytes: 8_388_608, maxDecodeRatio: 1000, samplesPerRoute: 50, compareQueue: 32, compareHeap: 100_663_296, mismatchLogsPerSecond: 5, http2: { maxConcurrentStreams: 100, initialWindowSize: 65_535, maxResetsPerSecond: 200 } },
    log: { level: 'info' },
    routes: [{ name: 'default', match: null, mirror, compare, gate, ramp: null, owner: '', expires: null }],
  });
  t.end();
});

void t.test('with a dark backend the sample defaults to 0.1 and dark gets its defaults', (t) => {
  const c = load(LIVE + DARK);
  t.equal(c.mirror.sample, 0.1);
  t.strictSame(c.dark, DARK_DEFAULTS);
  t.equal(c.routes.at(-1)?.mirror.sample, 0.1);
  t.end();
});

void t.test('empty optional sections read as absent', (t) => {
  const c = load(LIVE + 'dark:\nsecondary:\nmirror:\ncompare:\nroutes:\nlimits:\nlog:\n');
  t.equal(c.dark, null);
  t.equal(c.secondary, null);
  t.equal(c.routes.length, 1);
  t.end();
});

void t.test('the result is deep-frozen', (t) => {
  const c = load(LIVE + DARK + 'routes:\n  - name: a\n    match: { prefix: /a }\n');
  t.ok(Object.isFrozen(c));
  t.throws(() => {
    (c as { listen: { port: number } }).listen.port = 1;
  }, TypeError);
  t.throws(() => {
    (c.routes as unknown as unknown[]).push({});
  }, TypeError);
  t.throws(() => {
    (c.dark?.headers.set as Record<string, string>)['x-new'] = 'v';
  }, TypeError);
  t.throws(() => {
    (c.routes[0]?.compare.ignore as string[]).push('$.x');
  }, TypeError);
  t.ok(Object.isFrozen(DEFAULTS.dark.headers.set), 'defaults cannot be changed through a config either');
  t.equal(load(LIVE + 'dark:\n  url: http://x\n  headers: { set: { x-a: b } }\n').dark?.headers.set['x-umbra-shadow'], '1');
  t.end();
});

void t.test('error messages: file:line: key.path: message', (t) => {
  // The brief's example: dark.timeout on line 12.
  const text = [
    '# 1',
    '# 2',
    'listen: :8080', // 3
    'admin:', // 4
    '  listen: 127.0.0.1:9901', // 5
    'live:', // 6
    '  url: http://127.0.0.1:3000', // 7
    '  timeout: 30s', // 8
    'dark:', // 9
    '  url: http://127.0.0.1:3001', // 10
    '  maxInFlight: 64', // 11
    '  timeout: five seconds', // 12
  ].join('\n');
  let caught: unknown;
  try {
    parseConfigText(text, 'config/umbra.yaml', {});
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof ConfigError);
  t.ok(caught instanceof UmbraError);
  const e = caught as ConfigError;
  t.equal(e.code, 'UMBRA_CONFIG');
  t.equal(e.message, 'config/umbra.yaml:12: dark.timeout: expected a duration like "5s"');
  t.strictSame(e.problems, [{ path: 'dark.timeout', line: 12, message: 'expected a duration like "5s"' }]);
  t.end();
});

void t.test('a typo on line 7 is reported on line 7 with a suggestion', (t) => {
  const text = 'listen: :8080\nlive:\n  url: http://127.0.0.1:3000\ndark:\n  url: http://127.0.0.1:3001\n  maxInFlight: 8\n  timout: 5s\n';
  t.strictSame(problems(text), ['c.yaml:7: dark.timout: unknown key "timout", did you mean "timeout"?']);
  t.end();
});

void t.test('unknown keys at every level', (t) => {
  const text = [
    LIVE.trimEnd(), // 1-2
    'dakr:', // 3
    '  url: http://x', // 4
    'mirror:', // 5
    '  Sample: 0.5', // 6
    'compare:', // 7
    '  ignoreHeader: [a]', // 8
    'routes:', // 9
    '  - name: a', // 10
    '    match: { prefix: /a, method: [GET] }', // 11
    '    compare: { tolerence: 1 }', // 12
    'limits:', // 13
    '  bogus: 1', // 14
    'admin: { listen: ":1", tokn: x }', // 15
  ].join('\n');
  t.strictSame(problems(text), [
    'c.yaml:3: dakr: unknown key "dakr", did you mean "dark"?',
    'c.yaml:6: mirror.Sample: unknown key "Sample", did you mean "sample"?',
    'c.yaml:8: compare.ignoreHeader: unknown key "ignoreHeader", did you mean "ignoreHeaders"?',
    'c.yaml:11: routes[0].match.method: unknown key "method", did you mean "methods"?',
    'c.yaml:12: routes[0].compare.tolerence: unknown key "tolerence", did you mean "tolerance"?',
    'c.yaml:14: limits.bogus: unknown key "bogus"',
    'c.yaml:15: admin.tokn: unknown key "tokn", did you mean "token"?',
  ]);
  t.end();
});

void t.test('dark.breaker: read, checked, and off with failures 0', (t) => {
  const base = ['listen: 127.0.0.1:8080', 'live:', '  url: http://127.0.0.1:3000', 'dark:', '  url: http://127.0.0.1:3001'];
  t.strictSame(load([...base, '  breaker: { failures: 3, cooldown: 250ms, maxCooldown: 1m }'].join('\n')).dark?.breaker, { failures: 3, cooldown: 250, maxCooldown: 60_000 });
  t.strictSame(load([...base, '  breaker: { failures: 0 }'].join('\n')).dark?.breaker, { failures: 0, cooldown: 1_000, maxCooldown: 30_000 });
  t.strictSame(load([...base, '  breaker: { cooldown: 45s }'].join('\n')).dark?.breaker, { failures: 20, cooldown: 45_000, maxCooldown: 45_000 }, 'the max follows a cooldown given above it');
  const bad = [...base, '  breaker:', '    failures: 1.5', '    cooldown: soon', '    maxCooldwn: 1s'].join('\n');
  t.strictSame(problems(bad), [
    'c.yaml:7: dark.breaker.failures: expected an integer >= 0 (0 = never open)',
    'c.yaml:8: dark.breaker.cooldown: expected a duration like "5s"',
    'c.yaml:9: dark.breaker.maxCooldwn: unknown key "maxCooldwn", did you mean "maxCooldown"?',
  ]);
  t.match(
    problems([...base, '  breaker: { cooldown: 10s, maxCooldown: 2s }'].join('\n')),
    [/c\.yaml:6: dark\.breaker\.maxCooldown: expected at least dark\.breaker\.cooldown \(10000 ms\)/],
    'a max under the cooldown is refused',
  );
  t.end();
});

void t.test('all problems are reported together, in line order', (t) => {
  const text = [
    'listen: nowhere', // 1
    'live:', // 2
    '  url: ftp://127.0.0.1', // 3
    '  timeout: -1s', // 4
    'dark:', // 5
    '  url: http://127.0.0.1:3001', // 6
    '  maxInFlight: 0', // 7
    '  maxRps: -2', // 8
    'mirror:', // 9
    '  sample: 1.5', // 10
    '  sampleBy: body:x', // 11
    '  methods: [GET, FETCH]', // 12
    '  maxBodyBytes: 1 MiB', // 13
    'compare:', // 14
    '  tolerance: -0.1', // 15
    '  ignore: ["meta.id"]', // 16
    'log: { level: loud }', // 17
  ].join('\n');
  let e: ConfigError | undefined;
  try {
    load(text);
  } catch (err) {
    e = err as ConfigError;
  }
  t.strictSame(e?.message.split('\n'), [
    'c.yaml:1: listen: expected host:port, :port or a port number',
    'c.yaml:3: live.url: expected an http(s) URL, not ftp:',
    'c.yaml:4: live.timeout: expected a duration like "5s"',
    'c.yaml:7: dark.maxInFlight: expected a positive integer',
    'c.yaml:8: dark.maxRps: expected a number >= 0 (0 = no cap)',
    'c.yaml:10: mirror.sample: expected a number from 0 to 1',
    'c.yaml:11: mirror.sampleBy: expected header:NAME, cookie:NAME or query:NAME',
    'c.yaml:12: mirror.methods[1]: unknown method "FETCH"; expected one of GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE, TRACE, CONNECT',
    'c.yaml:13: mirror.maxBodyBytes: expected a size like "1MiB"',
    'c.yaml:15: compare.tolerance: expected a number >= 0',
    'c.yaml:16: compare.ignore[0]: bad field path "meta.id" at character 1: must start with "$"; write $.meta.id',
    'c.yaml:17: log.level: expected one of fatal, error, warn, info, debug, trace, silent',
  ]);
  t.equal(e?.problems.length, 12);
  t.strictSame(e?.problems[0], { path: 'listen', line: 1, message: 'expected host:port, :port or a port number' });
  t.end();
});

void t.test('required keys', (t) => {
  t.strictSame(problems(''), ['c.yaml: live.url: required']);
  t.strictSame(problems('listen: 1\nlive:\n  timeout: 1s\n'), ['c.yaml:2: live.url: required']);
  t.strictSame(problems(LIVE + 'dark:\n  timeout: 1s\n'), ['c.yaml:3: dark.url: required']);
  t.strictSame(problems('- a\n- b\n'), ['c.yaml:1: expected a mapping of keys to values']);
  t.strictSame(problems(LIVE + 'dark: http://x\n'), ['c.yaml:3: dark: expected a mapping of keys to values']);
  t.end();
});

void t.test('environment substitution inside a config', (t) => {
  const c = load('listen: ${PORT}\nlive:\n  url: ${LIVE_URL:-http://127.0.0.1:3000}\nadmin:\n  token: ${TOKEN}\n', { PORT: '9000', TOKEN: '0123' });
  t.strictSame(c.listen, { host: '0.0.0.0', port: 9000 });
  t.equal(c.live.url, 'http://127.0.0.1:3000');
  t.equal(c.admin.token, '0123', 'a numeric-looking token stays text');
  t.strictSame(problems('listen: :1\nlive:\n  url: ${LIVE_URL}\n'), [
    'c.yaml:3: live.url: environment variable LIVE_URL is not set (write ${LIVE_URL:-default} to give a default)',
  ]);
  t.end();
});

void t.test('YAML syntax errors carry their line', (t) => {
  t.strictSame(problems(LIVE + 'mirror:\n\tsample: 1\n'), ['c.yaml:4: invalid YAML: Tabs are not allowed as indentation']);
  t.strictSame(problems(LIVE + 'log: a: b\n'), ['c.yaml:3: invalid YAML: Nested mappings are not allowed in compact mappings']);
  t.strictSame(problems(LIVE + 'log: "abc\n'), ['c.yaml:4: invalid YAML: Missing closing "quote']);
  t.strictSame(problems(LIVE + 'listen: 1\nlisten: 2\n'), ['c.yaml:4: listen: duplicate key']);
  t.end();
});

void t.test('listen and admin.listen forms', (t) => {
  const listen = (v: string) => load(`listen: ${v}\n` + LIVE).listen;
  t.strictSame(listen('":9000"'), { host: '0.0.0.0', port: 9000 });
  t.strictSame(listen(':9000'), { host: '0.0.0.0', port: 9000 });
  t.strictSame(listen('9000'), { host: '0.0.0.0', port: 9000 });
  t.strictSame(listen('"9000"'), { host: '0.0.0.0', port: 9000 });
  t.strictSame(listen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  t.strictSame(listen('localhost:80'), { host: 'localhost', port: 80 });
  t.strictSame(listen('"[::1]:8080"'), { host: '::1', port: 8080 });
  t.strictSame(problems('listen: 70000\n' + LIVE), ['c.yaml:1: listen: port must be from 0 to 65535']);
  t.strictSame(problems('listen: "::1:80"\n' + LIVE), [
    'c.yaml:1: listen: expected host:port, :port or a port number ("::1" is not a host; write IPv6 addresses in brackets)',
  ]);

  const admin = (v: string) => load(LIVE + `admin:\n  listen: ${v}\n`).admin.listen;
  t.strictSame(admin(':9999'), { host: '127.0.0.1', port: 9999 });
  t.strictSame(admin('9999'), { host: '127.0.0.1', port: 9999 });
  t.strictSame(admin('127.1.2.3:1'), { host: '127.1.2.3', port: 1 });
  t.strictSame(admin('localhost:1'), { host: 'localhost', port: 1 });
  t.strictSame(admin('"[::1]:1"'), { host: '::1', port: 1 });
  t.end();
});

void t.test('admin beyond loopback needs a token', (t) => {
  t.strictSame(problems(LIVE + 'admin:\n  listen: 0.0.0.0:9901\n'), ['c.yaml:4: admin.token: required when admin listens beyond loopback']);
  t.strictSame(problems(LIVE + 'admin:\n  listen: 10.0.0.5:9901\n  token: ""\n'), ['c.yaml:5: admin.token: required when admin listens beyond loopback']);
  t.strictSame(problems(LIVE + 'admin:\n  listen: 0.0.0.0:9901\n  token: ${T:-}\n'), ['c.yaml:5: admin.token: required when admin listens beyond loopback']);
  t.equal(load(LIVE + 'admin:\n  listen: 0.0.0.0:9901\n  token: ${T:-}\n', { T: 'abc' }).admin.token, 'abc');
  t.strictSame(problems(LIVE + 'admin:\n  token: "a b"\n'), ['c.yaml:4: admin.token: may not contain whitespace']);
  t.end();
});

void t.test('admin.hosts: extra Host names for a token-less admin; no port, lower-cased', (t) => {
  const hosts = (v: string) => load(LIVE + `admin:\n  hosts: ${v}\n`).admin.hosts;
  t.strictSame(hosts('[Umbra-Admin.Internal, 10.0.0.7, "::1", "[FD00::0:1]", umbra-admin.internal]'), ['umbra-admin.internal', '10.0.0.7', '::1', 'fd00::1']);
  t.strictSame(hosts('[]'), []);
  t.strictSame(
    problems(LIVE + 'admin:\n  hosts:\n    - ok.example\n    - "evil.example:9901"\n    - http://x.example\n    - "*.example"\n    - "a b"\n    - ""\n    - { name: x }\n    - fe80::1%eth0\n'),
    [
      'c.yaml:6: admin.hosts[1]: "evil.example:9901" is not a host name: write it without the port',
      'c.yaml:7: admin.hosts[2]: "http://x.example" is not a host name: write it without a scheme or path, like "umbra-admin.internal"',
      'c.yaml:8: admin.hosts[3]: "*.example" is not a host name: letters, digits, dots and dashes, or an IP address (no wildcards)',
      'c.yaml:9: admin.hosts[4]: "a b" is not a host name: letters, digits, dots and dashes, or an IP address (no wildcards)',
      'c.yaml:10: admin.hosts[5]: "" is not a host name: letters, digits, dots and dashes, or an IP address (no wildcards)',
      'c.yaml:11: admin.hosts[6]: expected a string',
      'c.yaml:12: admin.hosts[7]: "fe80::1%eth0" is not a host name: letters, digits, dots and dashes, or an IP address (no wildcards)',
    ],
  );
  t.strictSame(problems(LIVE + 'admin:\n  hosts: umbra-admin.internal\n'), ['c.yaml:4: admin.hosts: expected a list']);
  t.end();
});

void t.test('backend URLs', (t) => {
  const url = (u: string) => problems(`live:\n  url: ${u}\n`);
  t.strictSame(url('https://example.com/base'), []);
  t.strictSame(url('127.0.0.1:3000'), ['c.yaml:2: live.url: expected an http(s) URL like "http://127.0.0.1:3000"']);
  t.strictSame(url('localhost:3000'), ['c.yaml:2: live.url: expected an http(s) URL like "http://127.0.0.1:3000"']);
  t.strictSame(url('ws://x'), ['c.yaml:2: live.url: expected an http(s) URL, not ws:']);
  t.strictSame(url('http:///'), ['c.yaml:2: live.url: expected an http(s) URL like "http://127.0.0.1:3000"']);
  t.strictSame(url('not a url'), ['c.yaml:2: live.url: expected an http(s) URL like "http://127.0.0.1:3000"']);
  t.strictSame(url('http://x/?a=1'), ['c.yaml:2: live.url: a backend URL cannot have a query or a fragment']);
  t.strictSame(url('http://u:p@x/'), ['c.yaml:2: live.url: a backend URL cannot carry credentials; set a header instead']);
  t.strictSame(url('[a]'), ['c.yaml:2: live.url: expected an http(s) URL like "http://127.0.0.1:3000"']);
  t.strictSame(problems(LIVE + 'secondary:\n  url: gopher://x\n'), ['c.yaml:4: secondary.url: expected an http(s) URL, not gopher:']);
  t.end();
});

void t.test('sampleBy, methods and header names are normalised', (t) => {
  const c = load(
    LIVE + DARK +
      'mirror:\n  sampleBy: header:X-User-Id\n  methods: [get, Post]\ncompare:\n  ignoreHeaders: [X-Trace-Id, x-trace-id]\nredact:\n  headers: [X-Api-Key]\n',
  );
  t.strictSame(c.mirror.sampleBy, { kind: 'header', name: 'x-user-id' });
  t.strictSame(c.mirror.methods, ['GET', 'POST']);
  t.strictSame(c.compare.ignoreHeaders, ['x-trace-id']);
  t.strictSame(c.redact.headers, ['x-api-key']);
  t.strictSame(load(LIVE + 'mirror: { sampleBy: cookie:SessionId }').mirror.sampleBy, { kind: 'cookie', name: 'SessionId' });
  t.strictSame(load(LIVE + 'mirror: { sampleBy: query:user }').mirror.sampleBy, { kind: 'query', name: 'user' });
  t.strictSame(problems(LIVE + 'compare: { ignoreHeaders: ["bad header"] }'), ['c.yaml:3: compare.ignoreHeaders[0]: "bad header" is not a valid header name']);
  t.strictSame(problems(LIVE + 'mirror: { methods: GET }'), ['c.yaml:3: mirror.methods: expected a list']);
  t.end();
});

void t.test('field paths: the grammar of DESIGN §4, stored in canonical form', (t) => {
  const good = ['$', '$.a.b', '$.items[*].id', '$..name', '$.a[0]', '$.a[0][*]', '$..items[*]["x-y"]', '$["user.name"]', '$.*', '$..*', '$..[*]', '$[""]'];
  t.strictSame(load(LIVE + `compare:\n  ignore: ${JSON.stringify(good)}\n`).compare.ignore, good);
  t.strictSame(load(LIVE + `compare:\n  unordered: ['$["tags"]', '$.tags', '$.a[007]']\n`).compare.unordered, ['$.tags', '$.a[7]'], 'one rule however it is written');
  const bad = ['a.b', '$.', '$...a', '$.a[x]', '$.a[*', '$a', '$.a-b', "$['a']"];
  const lines = problems(LIVE + `redact:\n  fields: ${JSON.stringify(bad)}\n`);
  t.strictSame(lines, [
    'c.yaml:4: redact.fields[0]: bad field path "a.b" at character 1: must start with "$"; write $.a.b',
    'c.yaml:4: redact.fields[1]: bad field path "$." at character 2: trailing ".": follow it with a key or *',
    'c.yaml:4: redact.fields[2]: bad field path "$...a" at character 2: "..." is not a step; ".." (any depth) is followed by a key, * or [...]',
    'c.yaml:4: redact.fields[3]: bad field path "$.a[x]" at character 5: [x] is not a step: brackets hold *, an array index or a key as a JSON string (write $.a["x"])',
    'c.yaml:4: redact.fields[4]: bad field path "$.a[*" at character 4: unclosed "["',
    'c.yaml:4: redact.fields[5]: bad field path "$a" at character 2: unexpected "a": a step starts with ".", ".." or "["; write $.a',
    'c.yaml:4: redact.fields[6]: bad field path "$.a-b" at character 3: "a-b" is not an identifier; write $["a-b"]',
    'c.yaml:4: redact.fields[7]: bad field path "$[\'a\']" at character 3: a key in brackets is a JSON string in double quotes; write $["a"]',
  ]);
  t.end();
});

void t.test('dark.headers: set merges over the default, remove may drop it', (t) => {
  const set = (yaml: string) => load(LIVE + 'dark:\n  url: http://x\n  headers:\n' + yaml).dark?.headers;
  t.strictSame(set('    set: { X-Env: shadow, x-n: 1 }\n'), { set: { 'x-umbra-shadow': '1', 'x-env': 'shadow', 'x-n': '1' }, remove: [] });
  t.strictSame(set('    set: { x-umbra-shadow: "yes" }\n'), { set: { 'x-umbra-shadow': 'yes' }, remove: [] });
  t.strictSame(set('    set: { x-shadow: "1" }\n    remove: [X-Umbra-Shadow, authorization]\n'), {
    set: { 'x-shadow': '1' },
    remove: ['x-umbra-shadow', 'authorization'],
  });
  t.strictSame(problems(LIVE + 'dark:\n  url: http://x\n  headers:\n    set: { x-a: b }\n    remove: [X-A]\n'), ['c.yaml:6: dark.headers.set.x-a: "x-a" is both set and removed']);
  t.strictSame(problems(LIVE + 'dark:\n  url: http://x\n  headers:\n    set: [x]\n'), ['c.yaml:6: dark.headers.set: expected a mapping of header names to values']);
  t.strictSame(problems(LIVE + 'dark:\n  url: http://x\n  headers:\n    set: { "a b": c }\n'), ['c.yaml:6: dark.headers.set.a b: "a b" is not a valid header name']);
  t.end();
});

void t.test('routes: merge semantics and default last', (t) => {
  const c = load(
    LIVE + DARK + [
      'mirror:', // 5
      '  sample: 0.2',
      '  sampleBy: header:x-user',
      '  maxBodyBytes: 2MiB',
      'compare:',
      '  ignoreHeaders: [x-trace-id]',
      '  ignore: ["$.meta.id"]',
      '  unordered: ["$.tags"]',
      '  tolerance: 0.01',
      'routes:',
      '  - name: orders',
      '    match: { path: /orders/:id/items/*, methods: [get, post] }',
      '    mirror: { sample: 1, methods: [GET, POST], sampleBy: null }',
      '    compare: { ignoreHeaders: [X-Cache], ignore: ["$.meta.id", "$.lastSeen"], unordered: ["$.ids"], tolerance: 0 }',
      '  - name: api_v2',
      '    match: { prefix: /api/v2/ }',
    ].join('\n'),
  );
  const [orders, api, def] = c.routes;
  t.equal(c.routes.length, 3);
  t.strictSame(orders, {
    name: 'orders',
    match: { path: '/orders/:id/items/*', methods: ['GET', 'POST'] },
    mirror: { sample: 1, sampleBy: null, orderBy: null, maxQueuedPerKey: 16, methods: ['GET', 'POST'], maxBodyBytes: 2_097_152, maxBufferedBytes: 67_108_864, maxBufferedBytesFrom: 'default' },
    compare: { ignoreHeaders: ['x-trace-id', 'x-cache'], ignore: ['$.meta.id', '$.lastSeen'], unordered: ['$.tags', '$.ids'], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] },
    gate: c.gate,
    ramp: null,
    owner: '',
    expires: null,
  });
  const lifecycle = { gate: c.gate, ramp: null, owner: '', expires: null };
  t.strictSame(api, { name: 'api_v2', match: { prefix: '/api/v2/', methods: null }, mirror: c.mirror, compare: c.compare, ...lifecycle });
  t.strictSame(def, { name: 'default', match: null, mirror: c.mirror, compare: c.compare, ...lifecycle });
  t.strictSame(c.mirror.sampleBy, { kind: 'header', name: 'x-user' });
  t.equal(c.compare.tolerance, 0.01);
  t.end();
});

void t.test('route problems', (t) => {
  const text = [
    LIVE.trimEnd(), // 1-2
    'routes:', // 3
    '  - name: Users', // 4
    '    match: { path: /users }', // 5
    '  - name: default', // 6
    '    match: { prefix: /d }', // 7
    '  - name: a', // 8
    '    match: { path: /a, prefix: /a }', // 9
    '  - name: a', // 10
    '    match: { path: "a/:id" }', // 11
    '  - name: b', // 12
    '    match: { path: "/a/*/b" }', // 13
    '  - name: c', // 14
    '    match: { path: "/a/:1x" }', // 15
    '  - name: d', // 16
    '    match: { methods: [GET] }', // 17
    '  - name: e', // 18
    '  - match: { prefix: /x }', // 19
    '  - name: f', // 20
    '    match: { path: "/a?b=1" }', // 21
    '    mirror: { maxBufferedBytes: 1MiB }', // 22
    '  - name: g', // 23
    '    match: { path: "/a/:id/:id" }', // 24
    '  - name: h', // 25
    '    match: { prefix: "/a*" }', // 26
  ].join('\n');
  t.strictSame(problems(text), [
    'c.yaml:4: routes[0].name: "Users" must match [a-z0-9_-]+',
    'c.yaml:6: routes[1].name: "default" is reserved for the implicit last route',
    'c.yaml:9: routes[2].match: needs exactly one of "path", "prefix" or "grpc"',
    'c.yaml:10: routes[3].name: "a" is already the name of another route',
    'c.yaml:11: routes[3].match.path: must start with "/"',
    'c.yaml:13: routes[4].match.path: "*" is only allowed at the end',
    'c.yaml:15: routes[5].match.path: segment ":1x": a parameter is ":" and a name like ":id"',
    'c.yaml:17: routes[6].match: needs exactly one of "path", "prefix" or "grpc"',
    'c.yaml:18: routes[7].match: required: { path: /users/:id }, { prefix: /api/ } or { grpc: pkg.Service/Method }',
    'c.yaml:19: routes[8].name: required',
    'c.yaml:21: routes[9].match.path: may not contain "?", "#" or whitespace (the query string never takes part in matching)',
    'c.yaml:22: routes[9].mirror.maxBufferedBytes: is one budget for all routes together; set it in the top-level mirror section',
    'c.yaml:24: routes[10].match.path: parameter ":id" appears twice',
    'c.yaml:26: routes[11].match.prefix: is a literal path prefix: no "?", "#", "*" or whitespace',
  ]);
  t.strictSame(problems(LIVE + 'routes: { a: 1 }\n'), ['c.yaml:3: routes: expected a list']);
  t.end();
});

void t.test('limits and log', (t) => {
  const c = load(LIVE + 'limits:\n  headersTimeout: 2s\n  requestTimeout: 1m\n  maxHeaderBytes: 8KiB\n  drainTimeout: 0\n  maxDecodedBytes: 1MB\n  maxDecodeRatio: 50\n  samplesPerRoute: 7\n  compareQueue: 0\n  compareHeap: 32MiB\n  mismatchLogsPerSecond: 0.5\nlog:\n  level: debug\n');
  t.strictSame(c.limits, { headersTimeout: 2_000, requestTimeout: 60_000, maxHeaderBytes: 8_192, maxHeaderCount: 100, drainTimeout: 0, maxDecodedBytes: 1_000_000, maxDecodeRatio: 50, samplesPerRoute: 7, compareQueue: 0, compareHeap: 33_554_432, mismatchLogsPerSecond: 0.5, http2: { maxConcurrentStreams: 100, initialWindowSize: 65_535, maxResetsPerSecond: 200 } });
  t.equal(c.log.level, 'debug');
  t.strictSame(problems(LIVE + 'limits:\n  headersTimeout: 0\n  maxHeaderBytes: 0\n'), [
    'c.yaml:4: limits.headersTimeout: must be more than 0',
    'c.yaml:5: limits.maxHeaderBytes: must be more than 0',
  ]);
  t.end();
});

void t.test('HTTP/2 and gRPC keys: protocol, tls, limits.http2, match.grpc', (t) => {
  const c = load(
    'live: { url: "http://127.0.0.1:3000", protocol: h2c }\ndark: { url: "https://dark:8443", protocol: h2 }\nsecondary: { url: "http://s:1", protocol: http1 }\n' +
      'limits: { http2: { maxConcurrentStreams: 7, initialWindowSize: 1MiB, maxResetsPerSecond: 9 } }\n' +
      'routes:\n  - name: get-item\n    match: { grpc: shop.v1.Catalog/GetItem }\n  - name: catalog\n    match: { grpc: shop.v1.Catalog/* }\n    mirror: { methods: [POST, GET] }\n',
  );
  t.equal(c.live.protocol, 'h2c');
  t.equal(c.dark?.protocol, 'h2');
  t.equal(c.secondary?.protocol, 'http1');
  t.strictSame(c.limits.http2, { maxConcurrentStreams: 7, initialWindowSize: 1_048_576, maxResetsPerSecond: 9 });
  t.strictSame(c.routes[0]?.match, { grpc: 'shop.v1.Catalog/GetItem', methods: ['POST'] });
  t.strictSame(c.routes[0]?.mirror.methods, ['POST'], 'naming a gRPC call mirrors its POSTs');
  t.strictSame(c.routes[1]?.mirror.methods, ['POST', 'GET'], 'unless the route says otherwise');
  t.strictSame(
    problems(
      'live: { url: "https://l:1", protocol: h2c }\ndark: { url: "http://d:1", protocol: h2 }\nsecondary: { url: "http://s:1", protocol: spdy }\n' +
        'limits: { http2: { maxConcurrentStreams: 0, initialWindowSize: 1, maxResetsPerSecond: 0, other: 1 } }\n' +
        'routes:\n  - name: a\n    match: { grpc: "not a call" }\n  - name: b\n    match: { grpc: pkg.S/M, methods: [GET] }\n  - name: c\n    match: { grpc: pkg.S/M, path: /x }\n',
    ),
    [
      'c.yaml:1: live.protocol: h2c is HTTP/2 in clear text: use an http:// URL, or protocol h2 for https',
      'c.yaml:2: dark.protocol: h2 is HTTP/2 over TLS: use an https:// URL, or protocol h2c for clear text',
      'c.yaml:3: secondary.protocol: expected one of auto, http1, h2c, h2',
      'c.yaml:4: limits.http2.other: unknown key "other"',
      'c.yaml:4: limits.http2.maxConcurrentStreams: expected a whole number from 1 to 10000',
      'c.yaml:4: limits.http2.initialWindowSize: must be at least 1KiB',
      'c.yaml:4: limits.http2.maxResetsPerSecond: expected a positive whole number',
      'c.yaml:7: routes[0].match.grpc: "not a call" is not a gRPC call: expected pkg.Service/Method, or pkg.Service/* for every call of a service',
      'c.yaml:9: routes[1].match.methods: a gRPC call is always a POST: leave methods out',
      'c.yaml:11: routes[2].match: needs exactly one of "path", "prefix" or "grpc"',
    ],
  );
  t.match(problems('live: { url: "http://l:1" }\ntls: { cert: /nonexistent/cert.pem }\n').join('\n'), /tls\.key: required[\s\S]*tls\.cert: cannot read \/nonexistent\/cert\.pem: ENOENT|tls\.cert: cannot read \/nonexistent\/cert\.pem: ENOENT[\s\S]*tls\.key: required/);
  t.end();
});

void t.test('loadConfigFile on a missing file', (t) => {
  t.throws(() => loadConfigFile('/nonexistent/umbra.yaml', {}), {
    name: 'ConfigError',
    code: 'UMBRA_CONFIG',
    message: '/nonexistent/umbra.yaml: cannot read the config file: no such file',
  });
  t.end();
});

void t.test('configFromFlags', (t) => {
  const plain = configFromFlags({ live: 'http://127.0.0.1:3000' });
  t.equal(plain.source, 'flags');
  t.equal(plain.dark, null);
  t.equal(plain.mirror.sample, 0);
  t.strictSame(plain.listen, { host: '0.0.0.0', port: 8080 });
  t.strictSame(plain.admin, { listen: { host: '127.0.0.1', port: 9901 }, token: '', hosts: [] });
  t.strictSame(plain.routes.map((r) => r.name), ['default']);
  t.ok(Object.isFrozen(plain.routes));

  const full = configFromFlags({ live: 'http://127.0.0.1:3000', dark: 'http://127.0.0.1:3001', sample: '0.25', listen: ':9000', admin: '127.0.0.1:9902' });
  t.equal(full.dark?.url, 'http://127.0.0.1:3001');
  t.equal(full.dark?.timeout, 5_000);
  t.equal(full.mirror.sample, 0.25);
  t.equal(full.routes[0]?.mirror.sample, 0.25);
  t.strictSame(full.listen, { host: '0.0.0.0', port: 9000 });
  t.strictSame(full.admin.listen, { host: '127.0.0.1', port: 9902 });
  t.equal(configFromFlags({ live: 'http://a', dark: 'http://b' }).mirror.sample, 0.1);
  t.equal(configFromFlags({ live: 'http://a', dark: 'http://b', sample: 1 }).mirror.sample, 1);
  t.equal(configFromFlags({ live: 'http://a', admin: '0.0.0.0:9901', adminToken: 't' }).admin.token, 't');

  t.throws(() => configFromFlags({ live: 'localhost:3000', dark: 'http://b', sample: '2', listen: 'x', admin: '0.0.0.0:9901' }), {
    message: [
      'flags: --listen: expected host:port, :port or a port number',
      'flags: --admin: an admin token is required when admin listens beyond loopback',
      'flags: --live: expected an http(s) URL like "http://127.0.0.1:3000"',
      'flags: --sample: expected a number from 0 to 1',
    ].join('\n'),
  });
  t.throws(() => configFromFlags({ live: '' }), { message: 'flags: --live: expected an http(s) URL like "http://127.0.0.1:3000"' });
  t.throws(() => configFromFlags({ live: 'http://a', sample: 'half' }), { message: 'flags: --sample: expected a number from 0 to 1' });
  t.end();
});

t.test('live.engine is gone: naming it says that undici now forwards everything', async (t) => {
  for (const engine of ['undici', 'http-proxy']) {
    t.throws(() => parseConfigText(`live:\n  url: "http://127.0.0.1:1"\n  engine: ${engine}\n`, 'e.yaml', {}), {
      message: 'e.yaml:3: live.engine: was removed in 0.2.0: undici now forwards every request (live, dark, secondary); delete this key',
    });
  }
});

t.test('forwarded.trust and limits.maxHeaderCount: defaults, values, bad values', async (t) => {
  const d = parseConfigText('live: { url: "http://127.0.0.1:1" }', 'f.yaml', {});
  t.equal(d.forwarded.trust, false);
  t.equal(d.limits.maxHeaderCount, 100);
  const c = parseConfigText('live: { url: "http://127.0.0.1:1" }\nforwarded: { trust: true }\nlimits: { maxHeaderCount: 10 }', 'f.yaml', {});
  t.equal(c.forwarded.trust, true);
  t.equal(c.limits.maxHeaderCount, 10);
  t.throws(() => parseConfigText('live: { url: "http://127.0.0.1:1" }\nforwarded:\n  trust: yes please\nlimits:\n  maxHeaderCount: 0\n', 'f.yaml', {}), {
    message: 'f.yaml:3: forwarded.trust: expected true or false\nf.yaml:5: limits.maxHeaderCount: expected a whole number from 1 to 10000',
  });
});

t.test('limits.compareHeap: a size from 32MiB to 4GiB', async (t) => {
  t.equal(load(LIVE + 'limits: { compareHeap: 256MiB }\n').limits.compareHeap, 256 * 1024 ** 2);
  t.throws(() => load(LIVE + 'limits: { compareHeap: 16MiB }\n'), /limits\.compareHeap: must be at least 32MiB/);
  t.throws(() => load(LIVE + 'limits: { compareHeap: 8GiB }\n'), /limits\.compareHeap: must be at most 4GiB/);
});
