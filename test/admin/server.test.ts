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

async function setup(t: Test, opts: { token?: string } = {}): Promise<Admin> {
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
