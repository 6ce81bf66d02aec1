// The admin listener as a hostile client sees it (DESIGN §7): the bearer token,
// malformed URLs, and, without a token, cross-site calls and DNS rebinding. Every
// call goes over a raw socket to a real umbra with real live and dark backends, so
// the Host, Origin and request target are exactly what a browser or attacker sends.
import t, { type Test } from 'tap';
import { rawRequest, startBackend, type Reply } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

const TOKEN = 'admin-test-token-7731';

interface Admin {
  umbra: TestUmbra;
  /** host:port of the admin listener, as a browser on this machine writes it in Host. */
  host: string;
  port: number;
  call(method: string, target: string, headers?: Record<string, string>, body?: string): Promise<Reply>;
  /** Whether the mirror is paused, read the ordinary way (loopback Host, token if any). */
  paused(): Promise<boolean>;
}

async function setup(t: Test, opts: { token?: string; hosts?: readonly string[] } = {}): Promise<Admin> {
  const live = await startBackend((_req, res) => res.end('{}'));
  const dark = await startBackend((_req, res) => res.end('{}'));
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }`, { ...opts, level: 'info' });
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  const { host, port } = new URL(umbra.adminUrl);
  const call = (method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> =>
    rawRequest(umbra.adminUrl, { method, target, headers: Object.entries(headers), ...(body !== undefined && { body }) });
  const paused = async (): Promise<boolean> => {
    const auth: Record<string, string> = opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {};
    const r = await call('GET', '/api/routes', { host, ...auth });
    if (r.status !== 200) throw new Error(`GET /api/routes: ${r.status} ${r.body.toString()}`);
    return (JSON.parse(r.body.toString()) as { paused: boolean }).paused;
  };
  return { umbra, host, port: Number(port), call, paused };
}

const errorOf = (r: Reply): string => (JSON.parse(r.body.toString()) as { error: string }).error;

t.test('the bearer scheme is case-insensitive (RFC 9110) and the token must still match', async (t) => {
  const a = await setup(t, { token: TOKEN });
  for (const header of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER ${TOKEN}`, `bEaReR    ${TOKEN}`, `Bearer\t${TOKEN}`]) {
    const r = await a.call('GET', '/api/routes', { host: a.host, authorization: header });
    t.equal(r.status, 200, `"${header}" is accepted`);
  }
  for (const header of ['bearer nope', `bearer ${TOKEN}x`, `Basic ${TOKEN}`, `Bearer${TOKEN}`, TOKEN, 'bearer']) {
    const r = await a.call('GET', '/api/routes', { host: a.host, authorization: header });
    t.equal(r.status, 401, `"${header}" is refused`);
    t.match(r.headers['www-authenticate'], /^Bearer /, 'with WWW-Authenticate: Bearer');
  }
  t.equal((await a.call('GET', '/api/routes', { host: a.host })).status, 401, 'no Authorization: 401');
});

t.test('a malformed URL gets 400 with the reason, never 500', async (t) => {
  const a = await setup(t, { token: TOKEN });
  const auth = { host: a.host, authorization: `Bearer ${TOKEN}` };
  const badEscape = await a.call('PUT', '/api/routes/%E0%A4%A/sample', auth, '{"sample":1}');
  t.equal(badEscape.status, 400, 'a bad %-escape in the path');
  t.match(errorOf(badEscape), /malformed URL.*%-escape/);
  for (const target of ['http://[/api/routes', 'http://a:99999/api/routes', 'http://']) {
    const r = await a.call('GET', target, auth);
    t.equal(r.status, 400, `${target}: a target URL cannot parse`);
    t.match(errorOf(r), /malformed URL/);
  }
  t.equal((await a.call('GET', '/api/divergences?route=%E0%A4%A', auth)).status, 404, 'a bad escape in the query is an unknown route, not a crash');
  t.notOk(a.umbra.logs.some((l) => l.msg === 'admin call failed'), 'nothing failed inside');
  t.equal((await a.call('GET', '/api/routes', auth)).status, 200, 'the listener still serves');
});

/** The refusal log lines so far. */
const refusals = (a: Admin): Record<string, unknown>[] => a.umbra.logs.filter((l) => l.msg === 'admin call refused');

t.test('without a token, a cross-site call cannot change state', async (t) => {
  const a = await setup(t);
  // A page on another site can send a "simple" POST (text/plain, no preflight) to
  // the loopback listener; the browser only hides the answer.
  for (const origin of ['http://evil.example', 'null', `https://${a.host}`, `http://${a.host}.evil.example`]) {
    const r = await a.call('POST', '/api/mirror/pause', { host: a.host, origin, 'content-type': 'text/plain' }, '{}');
    t.equal(r.status, 403, `Origin: ${origin} is refused`);
    t.equal(r.headers['content-type'], 'application/json');
    t.match(errorOf(r), /Origin/, 'the error says why');
    t.match(errorOf(r), /admin\.token/, 'and what to do');
  }
  t.equal(await a.paused(), false, 'the mirror is NOT paused');
  const dial = await a.call('PUT', '/api/routes/default/sample', { host: a.host, origin: 'http://evil.example' }, '{"sample":0}');
  t.equal(dial.status, 403, 'the release dial is refused too');
  const routes = JSON.parse((await a.call('GET', '/api/routes', { host: a.host })).body.toString());
  t.equal(routes.routes[0].sample, 0.1, 'and the sample is unchanged');
  t.match(refusals(a)[0], { reason: 'origin', method: 'POST', path: '/api/mirror/pause', origin: 'http://evil.example', host: a.host });
  t.equal((await a.call('GET', '/api/routes', { host: a.host, origin: 'http://evil.example' })).status, 200, 'a GET is not Origin-checked');
});

t.test('without a token, a foreign Host is refused: DNS rebinding cannot change or read anything', async (t) => {
  const a = await setup(t);
  // After rebinding, evil.example resolves to 127.0.0.1: the page is same-origin
  // with itself, so Origin matches Host and only the Host name gives it away.
  const evil = 'evil.example:9901';
  for (const headers of [{ host: evil, origin: `http://${evil}` }, { host: evil }]) {
    const r = await a.call('POST', '/api/mirror/pause', { ...headers, authorization: 'Bearer leak-me' });
    t.equal(r.status, 403, `POST with ${JSON.stringify(headers)}: 403`);
    t.match(errorOf(r), /Host "evil\.example:9901"/, 'the error names the Host');
    t.match(errorOf(r), /admin\.token.*admin\.hosts/, 'and what to do');
  }
  t.equal(await a.paused(), false, 'the mirror is NOT paused');
  for (const target of ['/api/routes', '/api/divergences', '/api/divergences?route=default']) {
    t.equal((await a.call('GET', target, { host: evil })).status, 403, `GET ${target}: divergence samples are not readable`);
  }
  for (const host of ['localhost.evil.example', '127.0.0.1.evil.example', `0.0.0.0:${a.port}`, `evil.localhost.example:${a.port}`, `127.0.0.1@evil.example`, '']) {
    t.equal((await a.call('GET', '/api/routes', { host })).status, 403, `Host: "${host}" is not loopback`);
  }
  t.equal((await a.call('GET', '/api/routes', {})).status, 400, 'no Host at all: Node refuses the HTTP/1.1 request');
  for (const target of ['/healthz', '/readyz', '/metrics', '/', '/page/app.js', '/page/style.css']) {
    t.equal((await a.call('GET', target, { host: evil })).status, 200, `GET ${target} stays open`);
  }
  const line = refusals(a)[0];
  t.match(line, { reason: 'host', method: 'POST', path: '/api/mirror/pause', host: evil });
  t.notOk(a.umbra.logs.some((l) => JSON.stringify(l).includes('leak-me')), 'no Authorization value in any log line');
});

t.test('without a token, loopback callers and the listener\'s own pages may change state', async (t) => {
  const a = await setup(t);
  const pause = await a.call('POST', '/api/mirror/pause', { host: a.host });
  t.equal(pause.status, 200, `Host: ${a.host} and no Origin (curl, scripts): 200`);
  t.equal(await a.paused(), true);
  const resume = await a.call('POST', '/api/mirror/resume', { host: a.host, origin: `http://${a.host}` });
  t.equal(resume.status, 200, 'Origin equal to http:// + Host: 200');
  t.equal(await a.paused(), false);
  for (const host of [`localhost:${a.port}`, 'localhost', `LocalHost:${a.port}`, `app.localhost:${a.port}`, '127.0.0.1', `127.1.2.3:${a.port}`, `[::1]:${a.port}`, '[::1]']) {
    const r = await a.call('POST', '/api/mirror/pause', { host, origin: `http://${host}` });
    t.equal(r.status, 200, `Host: ${host}`);
  }
  const dial = await a.call('PUT', '/api/routes/default/sample', { host: a.host }, '{"sample":0.5}');
  t.equal(dial.status, 200, 'the release dial from loopback');
  t.same(refusals(a), [], 'nothing refused');
});

t.test('admin.hosts adds Host names a token-less admin accepts', async (t) => {
  const a = await setup(t, { hosts: ['umbra-admin.internal'] });
  t.strictSame(a.umbra.config.admin.hosts, ['umbra-admin.internal']);
  const listed = 'umbra-admin.internal:9901';
  t.equal((await a.call('POST', '/api/mirror/pause', { host: listed })).status, 200, `Host: ${listed}`);
  t.equal(await a.paused(), true);
  t.equal((await a.call('POST', '/api/mirror/resume', { host: 'UMBRA-Admin.internal', origin: 'http://UMBRA-Admin.internal' })).status, 200, 'names are case-insensitive');
  t.equal((await a.call('GET', '/api/routes', { host: listed })).status, 200);
  t.equal((await a.call('POST', '/api/mirror/pause', { host: 'other.internal:9901' })).status, 403, 'an unlisted name is still refused');
  t.equal((await a.call('POST', '/api/mirror/pause', { host: listed, origin: 'http://evil.example' })).status, 403, 'a listed Host does not excuse a foreign Origin');
  t.equal((await a.call('POST', '/api/mirror/pause', { host: a.host })).status, 200, 'loopback names still work');
});

t.test('with a token, the bearer token proves the caller: no Host or Origin check', async (t) => {
  const a = await setup(t, { token: TOKEN });
  const foreign = { host: 'evil.example:9901', origin: 'http://evil.example' };
  const pause = await a.call('POST', '/api/mirror/pause', { ...foreign, authorization: `Bearer ${TOKEN}` });
  t.equal(pause.status, 200, 'a foreign Host and Origin with the right token: 200');
  t.equal(await a.paused(), true);
  t.equal((await a.call('POST', '/api/mirror/resume', { ...foreign, authorization: `bearer ${TOKEN}` })).status, 200, 'lower-case bearer too');
  t.equal(await a.paused(), false);
  const none = await a.call('POST', '/api/mirror/pause', foreign);
  t.equal(none.status, 401, 'no token: 401, not 403');
  t.match(none.headers['www-authenticate'], /^Bearer /);
  t.equal(await a.paused(), false);
  t.same(refusals(a), [], 'no Host/Origin refusals with a token');
});

t.test('admin.hosts and admin.token apply on reload, without a restart', async (t) => {
  const a = await setup(t);
  const config = a.umbra.config;
  t.equal((await a.call('GET', '/api/routes', { host: 'umbra-admin.internal' })).status, 403, 'before: the name is refused');
  await a.umbra.reload({ ...config, admin: { ...config.admin, hosts: ['umbra-admin.internal'] } });
  t.notOk(a.umbra.logs.find((l) => l.msg === 'config reloaded')?.needsRestart, 'nothing needs a restart');
  t.equal((await a.call('GET', '/api/routes', { host: 'umbra-admin.internal' })).status, 200, 'after: the listed name is accepted');
  await a.umbra.reload({ ...config, admin: { ...config.admin, token: 's3cret' } });
  t.equal((await a.call('GET', '/api/routes', { host: 'umbra-admin.internal' })).status, 401, 'a token set on reload is required at once');
  t.equal((await a.call('GET', '/api/routes', { host: 'umbra-admin.internal', authorization: 'Bearer s3cret' })).status, 200);
});
