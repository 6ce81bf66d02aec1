// `umbra gate` (DESIGN §3, §12) against a real loopback server that plays the
// admin API's GET /api/verdict, scripted per test: runGate in-process for the
// polling rules (exit status 0/1/3, when polling stops, how long a wait lasts,
// the token, the query), gateOptions for exit status 2, and the real CLI
// (`node bin/umbra.js gate ...`, the compiled dist/) end to end.
//
// bin/umbra.js runs dist/: `npm test` builds first; alone: `npm run build && npx tap test/cli/gate.test.ts`.
import t, { type Test } from 'tap';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { closedPort, refusedPort, sleep, startBackend, type Backend } from '../helpers/net.js';
import { runUmbra, staleDist } from '../helpers/spawn.js';
import { UsageError } from '../../src/errors.js';
import { gateOptions, type GateFlagValues } from '../../src/gate/options.js';
import { runGate, type GateIO } from '../../src/gate/run.js';

type Word = 'pass' | 'fail' | 'inconclusive';

/** One route's answer as the contract writes it; `over` replaces fields. */
function routeAnswer(route: string, verdict: Word, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    route,
    verdict,
    window: '15m',
    since: '2026-12-01T04:00:00.000Z',
    mirrored: 812,
    comparisons: 800,
    minComparisons: 200,
    mismatches: 0,
    mismatchRate: 0,
    mismatchRateLower: 0,
    mismatchRateUpper: 0.0048,
    maxMismatchRate: 0.001,
    errors: 0,
    errorRate: 0,
    maxErrorRate: 0.01,
    latency: { live: { p50: 1.2, p99: 4.1 }, dark: { p50: 1.3, p99: 4.4 }, ratio: 1.07, maxRatio: 1.25, floor: 25 },
    reasons: [`${route} reason one: ${verdict}`, `${route} reason two`],
    ...over,
  };
}

interface Scripted {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}
/** What the fake admin API answers to its n-th request (0-based); 'hang' answers nothing. */
type Script = (n: number, req: http.IncomingMessage) => Scripted | 'hang';

const ok = (body: unknown): Scripted => ({ status: 200, body });

/** A fake admin listener on 127.0.0.1 port 0, closed in teardown; `seen` holds every request, `at` when each came. */
async function admin(t: Test, script: Script): Promise<Backend & { readonly at: number[] }> {
  let n = 0;
  const at: number[] = [];
  const b = await startBackend((req, res) => {
    at.push(performance.now());
    const a = script(n++, req);
    if (a === 'hang') return;
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
  });
  t.teardown(() => b.close());
  return Object.assign(b, { at });
}

/** Captured stdout and stderr for runGate. */
function capture(): GateIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    out: () => out,
    err: () => err,
  };
}

/** runGate with options parsed as the CLI parses them; resolves with the code, output and time taken. */
async function gate(values: GateFlagValues, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string; ms: number }> {
  const io = capture();
  const start = performance.now();
  const code = await runGate(gateOptions(values, env), io);
  return { code, out: io.out(), err: io.err(), ms: performance.now() - start };
}

/** The query of each request the fake admin API saw. */
const queries = (b: Backend): string[] => b.seen.map((r) => r.url);

t.test('asked once (no --wait)', async (t) => {
  t.test('pass: exit 0, one request with route and window, the summary on stdout', async (t) => {
    const b = await admin(t, () => ok(routeAnswer('get-item', 'pass')));
    const r = await gate({ admin: b.url, route: 'get-item', window: '15m' });
    t.equal(r.code, 0, r.err);
    t.same(queries(b), ['/api/verdict?route=get-item&window=15m']);
    t.equal(b.seen[0]?.method, 'GET');
    t.equal(b.seen[0]?.headers.authorization, undefined, 'no token: no Authorization header');
    t.equal(
      r.out,
      [
        'verdict: pass (route get-item, window 15m since 2026-12-01T04:00:00.000Z)',
        'get-item: pass, 800 comparisons (200 needed), mismatch rate 0% (0 of 800; 95% upper bound 0.48%; max 0.1%), error rate 0% (0 of 812 mirrored; max 1%), latency p99 ratio 1.07 (max 1.25)',
        '  - get-item reason one: pass',
        '  - get-item reason two',
        '',
      ].join('\n'),
    );
    t.equal(r.err, '');
  });

  t.test('fail: exit 1 with the reasons on stdout', async (t) => {
    const b = await admin(t, () =>
      ok(routeAnswer('get-item', 'fail', { mismatches: 40, mismatchRate: 0.05, mismatchRateUpper: 0.067, reasons: ['mismatch rate 5% (40 of 800) is above maxMismatchRate 0.1%'] })),
    );
    const r = await gate({ admin: b.url, route: 'get-item' });
    t.equal(r.code, 1);
    t.match(r.out, /^verdict: fail/);
    t.match(r.out, 'mismatch rate 5% (40 of 800; 95% upper bound 6.7%; max 0.1%)');
    t.match(r.out, '  - mismatch rate 5% (40 of 800) is above maxMismatchRate 0.1%\n');
    t.same(queries(b), ['/api/verdict?route=get-item'], 'no window asked: none sent');
  });

  t.test('inconclusive: exit 3 at once; numbers without data read n/a', async (t) => {
    const empty = routeAnswer('get-item', 'inconclusive', {
      mirrored: 0,
      comparisons: 0,
      mismatches: 0,
      mismatchRate: null,
      mismatchRateLower: null,
      mismatchRateUpper: null,
      errorRate: null,
      latency: { live: { p50: null, p99: null }, dark: { p50: null, p99: null }, ratio: null, maxRatio: 1.25, floor: 25 },
      reasons: ['nothing was mirrored in the last 15m'],
    });
    const b = await admin(t, () => ok(empty));
    const r = await gate({ admin: b.url, route: 'get-item' });
    t.equal(r.code, 3);
    t.equal(b.seen.length, 1);
    t.match(r.out, 'get-item: inconclusive, 0 comparisons (200 needed), mismatch rate n/a, error rate n/a, latency p99 ratio n/a (max 1.25)');
    t.notMatch(r.out, /null|NaN|undefined/);
    t.equal(r.err, '', 'no wait: nothing to say on stderr');
  });

  t.test('all routes: no route in the query, one line per route', async (t) => {
    const b = await admin(t, () =>
      ok({ verdict: 'inconclusive', window: '15m', routes: [routeAnswer('get-item', 'pass'), routeAnswer('search', 'inconclusive', { comparisons: 12 })] }),
    );
    const r = await gate({ admin: `${b.url}/`, window: '1h' });
    t.equal(r.code, 3);
    t.same(queries(b), ['/api/verdict?window=1h'], 'a trailing slash on --admin is not doubled');
    const lines = r.out.split('\n');
    t.equal(lines[0], 'verdict: inconclusive (all 2 routes, window 15m)');
    t.match(lines[1], /^get-item: pass, 800 comparisons/);
    t.equal(lines[2], '  - get-item reason one: pass');
    t.match(lines[4], /^search: inconclusive, 12 comparisons \(200 needed\)/);
    t.equal(lines[5], '  - search reason one: inconclusive');
  });

  t.test('a path on --admin is kept (behind a proxy)', async (t) => {
    const b = await admin(t, () => ok(routeAnswer('a', 'pass')));
    t.equal((await gate({ admin: `${b.url}/umbra`, route: 'a b&c' })).code, 0);
    t.same(queries(b), ['/umbra/api/verdict?route=a+b%26c'], 'the route name is encoded');
  });

  t.test('--json prints the API answer as JSON, unchanged', async (t) => {
    const body = { verdict: 'pass', window: '15m', routes: [routeAnswer('get-item', 'pass'), routeAnswer('search', 'pass')] };
    const b = await admin(t, () => ok(body));
    const r = await gate({ admin: b.url, json: true });
    t.equal(r.code, 0);
    t.same(JSON.parse(r.out), body);
  });

  t.test('server text is printed without control characters', async (t) => {
    const b = await admin(t, () => ok(routeAnswer('get-item', 'pass', { reasons: ['ok\u001b[2J\u001b]0;pwned\u0007 fine\nsecond'] })));
    const r = await gate({ admin: b.url, route: 'get-item' });
    t.equal(r.code, 0);
    t.notMatch(r.out, /\u001b|\u0007/);
    t.match(r.out, '  - ok [2J ]0;pwned  fine second\n');
  });
});

t.test('--wait: polls every --interval until a decision', async (t) => {
  t.test('inconclusive twice, then pass: exit 0 and no poll after the pass', async (t) => {
    const b = await admin(t, (n) => ok(routeAnswer('get-item', n < 2 ? 'inconclusive' : 'pass', { comparisons: 100 * (n + 1) })));
    const r = await gate({ admin: b.url, route: 'get-item', wait: '5s', interval: '100ms' });
    t.equal(r.code, 0, r.err);
    t.equal(b.seen.length, 3);
    t.ok(r.ms >= 190 && r.ms < 2000, `two intervals apart, not the whole wait (${Math.round(r.ms)} ms)`);
    t.match(r.out, /^verdict: pass/);
    t.match(r.out, 'get-item: pass, 300 comparisons');
    t.match(r.err, /^umbra gate: inconclusive \(get-item 100\/200 comparisons: get-item reason one: inconclusive\); waiting up to \d/, 'what it waits on, with its first reason, on stderr');
    t.equal(r.err.split('\n').length, 2, 'that line once, not per poll');
    await sleep(300);
    t.equal(b.seen.length, 3, 'nothing asked after the command ended');
  });

  t.test('fail exits 1 at once: a fail is a decision', async (t) => {
    const b = await admin(t, () => ok(routeAnswer('get-item', 'fail')));
    const r = await gate({ admin: b.url, route: 'get-item', wait: '10s', interval: '100ms' });
    t.equal(r.code, 1);
    t.equal(b.seen.length, 1);
    t.ok(r.ms < 1000, `${Math.round(r.ms)} ms`);
    t.match(r.out, /^verdict: fail/);
  });

  t.test('always inconclusive: exit 3 when the wait ends, in bounded time', async (t) => {
    const b = await admin(t, () => ok(routeAnswer('get-item', 'inconclusive', { comparisons: 5 })));
    const r = await gate({ admin: b.url, route: 'get-item', wait: '1s', interval: '100ms' });
    t.equal(r.code, 3);
    t.ok(r.ms >= 1000 && r.ms < 2500, `ended at the wait, not before nor much after (${Math.round(r.ms)} ms)`);
    t.ok(b.seen.length >= 5 && b.seen.length <= 12, `about one poll per interval (${b.seen.length})`);
    t.match(r.out, 'get-item: inconclusive, 5 comparisons');
    t.match(r.err, 'umbra gate: still inconclusive when the wait of 1s ended\n');
  });

  t.test('--wait 0 asks once', async (t) => {
    const b = await admin(t, () => ok(routeAnswer('get-item', 'inconclusive')));
    t.equal((await gate({ admin: b.url, wait: '0', interval: '100ms' })).code, 3);
    t.equal(b.seen.length, 1);
  });
});

t.test('the admin API unreachable or refusing', async (t) => {
  t.test('refused connections are retried until the listener is up; said once', async (t) => {
    const port = await closedPort();
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(routeAnswer('get-item', 'pass')));
    });
    const late = sleep(500).then(() => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)));
    t.teardown(async () => {
      await late;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const r = await gate({ admin: `http://127.0.0.1:${port}`, route: 'get-item', wait: '5s', interval: '100ms' });
    t.equal(r.code, 0, r.err);
    t.ok(r.ms >= 450, `waited for the listener (${Math.round(r.ms)} ms)`);
    t.equal(r.err.match(/ECONNREFUSED/g)?.length, 1, `reported once, not per poll:\n${r.err}`);
    t.match(r.err, `umbra gate: GET http://127.0.0.1:${port}/api/verdict?route=get-item: connection refused (ECONNREFUSED); asking again every 0.1s`);
  });

  t.test('refused until the wait ends: exit 1 naming the URL', async (t) => {
    const port = await refusedPort();
    const r = await gate({ admin: `http://127.0.0.1:${port}`, wait: '1s', interval: '100ms' });
    t.equal(r.code, 1);
    t.ok(r.ms >= 1000 && r.ms < 2500, `${Math.round(r.ms)} ms`);
    t.equal(r.out, '');
    t.match(r.err, `GET http://127.0.0.1:${port}/api/verdict: connection refused (ECONNREFUSED); still so when the wait of 1s ended\n`);
  });

  t.test('no --wait: a refused connection exits 1 at once', async (t) => {
    const port = await refusedPort();
    const r = await gate({ admin: `http://127.0.0.1:${port}` });
    t.equal(r.code, 1);
    t.ok(r.ms < 1000, `${Math.round(r.ms)} ms`);
    t.equal(r.err, `umbra gate: GET http://127.0.0.1:${port}/api/verdict: connection refused (ECONNREFUSED)\n`);
  });

  t.test('5xx is retried (said once per status), then the verdict counts', async (t) => {
    const b = await admin(t, (n) => (n < 3 ? { status: 503, body: { error: 'store unavailable' } } : ok(routeAnswer('get-item', 'pass'))));
    const r = await gate({ admin: b.url, route: 'get-item', wait: '5s', interval: '100ms' });
    t.equal(r.code, 0, r.err);
    t.equal(b.seen.length, 4);
    t.equal(r.err.match(/answered 503: store unavailable/g)?.length, 1, r.err);
  });

  t.test('5xx until the wait ends: exit 1', async (t) => {
    const b = await admin(t, () => ({ status: 500, body: 'oops' }));
    const r = await gate({ admin: b.url, wait: '1s', interval: '100ms' });
    t.equal(r.code, 1);
    t.ok(r.ms < 2500, `${Math.round(r.ms)} ms`);
    t.match(r.err, /answered 500: oops; still so when the wait of 1s ended\n$/);
  });

  t.test('a server that never answers: each poll times out; the command ends within wait + one poll timeout', async (t) => {
    const b = await admin(t, () => 'hang');
    const r = await gate({ admin: b.url, wait: '1s', interval: '100ms' });
    t.equal(r.code, 1);
    // A poll may take max(interval, 1 s): wait 1 s + 1 s, plus slack for a loaded runner.
    t.ok(r.ms >= 1000 && r.ms < 3000, `${Math.round(r.ms)} ms`);
    t.match(r.err, 'no answer within 1000 ms; still so when the wait of 1s ended');
  });

  t.test('404 for an unknown route: exit 1 at once with the API error, even while waiting', async (t) => {
    const b = await admin(t, () => ({ status: 404, body: { error: 'unknown route "nope"' } }));
    const r = await gate({ admin: b.url, route: 'nope', wait: '5s', interval: '100ms' });
    t.equal(r.code, 1);
    t.equal(b.seen.length, 1);
    t.equal(r.out, '');
    t.equal(r.err, `umbra gate: GET ${b.url}/api/verdict?route=nope: answered 404: unknown route "nope"\n`);
  });

  t.test('404 that is not the admin API: a hint about --admin', async (t) => {
    const b = await admin(t, () => ({ status: 404, body: 'Cannot GET /api/verdict', headers: { 'content-type': 'text/plain' } }));
    const r = await gate({ admin: b.url });
    t.equal(r.code, 1);
    t.match(r.err, "answered 404: Cannot GET /api/verdict: is --admin the base URL of umbra's admin listener?");
  });

  t.test('400 (a bad window) exits 1 with the error; a 200 that is not a verdict too', async (t) => {
    const bad = await admin(t, () => ({ status: 400, body: { error: 'window must be at least 1m' } }));
    const r = await gate({ admin: bad.url, window: '5s', wait: '5s', interval: '100ms' });
    t.equal(r.code, 1);
    t.equal(bad.seen.length, 1);
    t.match(r.err, 'answered 400: window must be at least 1m');
    const html = await admin(t, () => ({ status: 200, body: '<html>hello</html>' }));
    const h = await gate({ admin: html.url });
    t.equal(h.code, 1);
    t.match(h.err, 'answered 200 with a body that is not JSON');
    const shape = await admin(t, () => ok({ route: 'x', verdict: 'maybe' }));
    const s = await gate({ admin: shape.url });
    t.equal(s.code, 1);
    t.match(s.err, 'answered 200 but not with a verdict: the answer has no "verdict" of pass, fail or inconclusive');
  });

  t.test('a redirect is not followed (the token would go along)', async (t) => {
    const b = await admin(t, () => ({ status: 302, body: '', headers: { location: 'http://elsewhere.example/' } }));
    const r = await gate({ admin: b.url, token: 'redirect-secret' });
    t.equal(r.code, 1);
    t.equal(b.seen.length, 1);
    t.match(r.err, 'answered 302, redirecting to http://elsewhere.example/: give --admin the URL it points to');
  });
});

t.test('the bearer token', async (t) => {
  const TOKEN = 'tok-7f3a9c-secret';
  const guarded = (): Script => (_n, req) =>
    req.headers.authorization === `Bearer ${TOKEN}`
      ? ok(routeAnswer('get-item', 'pass'))
      : { status: 401, body: { error: 'missing or wrong bearer token' }, headers: { 'www-authenticate': 'Bearer realm="umbra"' } };

  t.test('--token is sent as Authorization: Bearer and never printed', async (t) => {
    const b = await admin(t, guarded());
    const r = await gate({ admin: b.url, route: 'get-item', token: TOKEN, wait: '2s', interval: '100ms' });
    t.equal(r.code, 0, r.err);
    t.equal(b.seen[0]?.headers.authorization, `Bearer ${TOKEN}`);
    t.notMatch(r.out + r.err, TOKEN);
  });

  t.test('UMBRA_ADMIN_TOKEN when --token is absent; --token wins over it', async (t) => {
    const b = await admin(t, guarded());
    t.equal((await gate({ admin: b.url }, { UMBRA_ADMIN_TOKEN: TOKEN })).code, 0);
    t.equal(b.seen[0]?.headers.authorization, `Bearer ${TOKEN}`);
    const wrong = await gate({ admin: b.url, token: 'flag-token-wrong' }, { UMBRA_ADMIN_TOKEN: TOKEN });
    t.equal(wrong.code, 1);
    t.equal(b.seen[1]?.headers.authorization, 'Bearer flag-token-wrong');
  });

  t.test('401 without a token: exit 1, saying it is missing, at once while waiting', async (t) => {
    const b = await admin(t, guarded());
    const r = await gate({ admin: b.url, wait: '5s', interval: '100ms' });
    t.equal(r.code, 1);
    t.equal(b.seen.length, 1, 'a token does not appear by asking again');
    t.match(r.err, 'answered 401: the admin API needs a bearer token: give --token or set UMBRA_ADMIN_TOKEN');
  });

  t.test('401 with a wrong token: exit 1, saying it is wrong, without printing it', async (t) => {
    const b = await admin(t, guarded());
    const r = await gate({ admin: b.url, token: 'wrong-token-123' });
    t.equal(r.code, 1);
    t.match(r.err, 'the bearer token was refused');
    t.notMatch(r.out + r.err, 'wrong-token-123');
  });
});

t.test('options: every usage problem is a UsageError (exit 2) naming the flag', async (t) => {
  const bad: [GateFlagValues, RegExp][] = [
    [{}, /gate needs --admin URL/],
    [{ admin: '' }, /gate needs --admin URL/],
    [{ admin: '127.0.0.1:9901' }, /--admin must be an http:\/\/ or https:\/\/ URL such as http:\/\/127\.0\.0\.1:9901/],
    [{ admin: 'not a url' }, /--admin must be an http/],
    [{ admin: 'ftp://h/' }, /--admin must be an http/],
    [{ admin: 'http://h:9901/?x=1' }, /without a query/],
    [{ admin: 'http://user:pw@h:9901' }, /without credentials/],
    [{ admin: 'http://h', wait: '30' }, /--wait must be a duration with a unit/],
    [{ admin: 'http://h', wait: 'soon' }, /--wait must be a duration/],
    [{ admin: 'http://h', wait: '-1s' }, /--wait must be a duration/],
    [{ admin: 'http://h', interval: '10ms' }, /--interval .* at least 100ms/],
    [{ admin: 'http://h', interval: '0' }, /--interval .* at least 100ms/],
    [{ admin: 'http://h', window: '0m' }, /--window .* more than 0/],
    [{ admin: 'http://h', window: '15' }, /--window must be a duration with a unit/],
    [{ admin: 'http://h', route: '' }, /--route must name a route/],
    [{ admin: 'http://h', token: '' }, /--token is empty/],
  ];
  for (const [values, message] of bad) {
    t.throws(() => gateOptions(values, {}), { constructor: UsageError, message }, JSON.stringify(values));
  }
  t.same(gateOptions({ admin: 'http://h:9901', wait: '30m', interval: '250ms', window: ' 1h ', route: 'r', json: true }, { UMBRA_ADMIN_TOKEN: 'e' }), {
    admin: 'http://h:9901',
    route: 'r',
    window: '1h',
    token: 'e',
    wait: 1_800_000,
    interval: 250,
    json: true,
  });
  const defaults = gateOptions({ admin: 'https://h' }, { UMBRA_ADMIN_TOKEN: '' });
  t.equal(defaults.interval, 10_000, '--interval defaults to 10s');
  t.equal(defaults.wait, null, 'no --wait: ask once');
  t.equal(defaults.token, null, 'an empty UMBRA_ADMIN_TOKEN is no token');
});

t.test('the real CLI: node bin/umbra.js gate ...', async (t) => {
  t.test('dist/ is built from the current src/ (else: npm run build)', async (t) => {
    t.same(staleDist(), []);
  });

  t.test('0: waits through inconclusive to pass; --json parses; the token is sent, not printed', async (t) => {
    const TOKEN = 'cli-token-5ec2e7';
    const b = await admin(t, (n, req) =>
      req.headers.authorization !== `Bearer ${TOKEN}` ? { status: 401, body: { error: 'missing or wrong bearer token' } } : ok(routeAnswer('get-item', n < 2 ? 'inconclusive' : 'pass')),
    );
    const r = await runUmbra(['gate', '--admin', b.url, '--route', 'get-item', '--window', '15m', '--wait', '5s', '--interval', '100ms', '--json'], {
      env: { UMBRA_ADMIN_TOKEN: TOKEN },
    });
    t.equal(r.code, 0, r.stderr);
    t.equal(b.seen.length, 3);
    t.ok(b.seen.every((s) => s.url === '/api/verdict?route=get-item&window=15m'));
    t.same(JSON.parse(r.stdout), routeAnswer('get-item', 'pass'));
    t.notMatch(r.stdout + r.stderr, TOKEN);
  });

  t.test('1: fail, at once', async (t) => {
    const b = await admin(t, () => ok(routeAnswer('get-item', 'fail')));
    // A 30 m wait: ending within runUmbra's 30 s already proves it did not wait. Timed
    // from the first poll, as below: starting node on a loaded runner takes what it takes.
    const r = await runUmbra(['gate', '--admin', b.url, '--wait', '30m', '--interval', '100ms']);
    const exited = performance.now();
    t.equal(r.code, 1);
    t.equal(b.seen.length, 1);
    t.match(r.stdout, /^verdict: fail \(route get-item/);
    // One poll at a 100 ms interval already says it did not wait; the bound only catches a
    // process that lingers after its verdict (2.58 s once on a loaded Node 24 run: not 2.5 s).
    t.ok(exited - (b.at[0] ?? NaN) < 10_000, `exited soon after its one poll (${Math.round(exited - (b.at[0] ?? NaN))} ms)`);
  });

  t.test('3: still inconclusive when a 1 s wait ends; the process exits by itself', async (t) => {
    const b = await admin(t, () => ok(routeAnswer('get-item', 'inconclusive')));
    const r = await runUmbra(['gate', '--admin', b.url, '--wait', '1s', '--interval', '100ms'], { timeout: 8000 });
    const exited = performance.now();
    t.equal(r.code, 3, r.stderr);
    // Timed from the first poll: starting node on a loaded runner takes what it takes.
    const first = b.at[0] ?? NaN;
    const last = b.at[b.at.length - 1] ?? NaN;
    // The wait runs from gate's own start, which may be well before its first poll on a loaded runner: polling went on, not the full second.
    t.ok(b.at.length >= 2 && last - first >= 500 && last - first < 1600, `polled through the wait (${b.at.length} polls over ${Math.round(last - first)} ms)`);
    t.ok(exited - first < 2500, `exited soon after (${Math.round(exited - first)} ms after the first poll)`);
    t.match(r.stderr, 'still inconclusive when the wait of 1s ended');
  });

  t.test('1: the admin API unreachable, with the URL in the message', async (t) => {
    const port = await refusedPort();
    const r = await runUmbra(['gate', '--admin', `http://127.0.0.1:${port}`, '--route', 'r']);
    t.equal(r.code, 1);
    t.equal(r.stderr, `umbra gate: GET http://127.0.0.1:${port}/api/verdict?route=r: connection refused (ECONNREFUSED)\n`);
  });

  t.test('2: usage errors print the usage; nothing is asked', async (t) => {
    const b = await admin(t, () => ok(routeAnswer('get-item', 'pass')));
    for (const args of [['--admin', b.url, '--bogus'], ['--route', 'x'], ['--admin', 'localhost:9901'], ['--admin', b.url, '--wait', 'later'], ['--admin', b.url, 'extra']]) {
      const r = await runUmbra(['gate', ...args]);
      t.equal(r.code, 2, args.join(' '));
      t.match(r.stderr, /^umbra gate: /, args.join(' '));
      t.match(r.stderr, /Usage:\n {2}umbra gate --admin URL/, args.join(' '));
      t.equal(r.stdout, '');
    }
    t.equal(b.seen.length, 0);
  });

  t.test('--help, and the top-level usage lists gate', async (t) => {
    const r = await runUmbra(['gate', '--help']);
    t.equal(r.code, 0);
    t.match(r.stdout, /--wait DURATION/);
    const top = await runUmbra(['--help']);
    t.match(top.stdout, /umbra gate --admin URL/);
    t.match(top.stdout, /3 \(gate\) still inconclusive/);
  });
});
