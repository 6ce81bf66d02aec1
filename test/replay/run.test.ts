// The replay engine against real loopback backends: verdicts and exit codes,
// the report in the admin API's shapes, order and concurrency, the rate cap,
// headers, the noise baseline, gzip and directory input, corrupt lines and an
// unreachable target. The command line itself is test/replay/cli.test.ts.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { refusedPort, sleep, startBackend, type Backend, type Handler } from '../helpers/net.js';
import { writeCapture, type ExchangeSpec } from '../helpers/capture-lines.js';
import { REPLAY_DEFAULTS, type ReplayOptions } from '../../src/replay/options.js';
import { runReplay, type ReplayResult } from '../../src/replay/run.js';

interface Run extends ReplayResult {
  stdout: string;
  stderr: string;
}

async function replay(inputs: string[], opts: Partial<ReplayOptions> & { target: string }, signal?: AbortSignal): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const r = await runReplay(
    { inputs, config: null, concurrency: REPLAY_DEFAULTS.concurrency, rate: 0, ordered: false, headers: [], secondary: null, maxMismatchRate: 0, report: null, timeout: 5000, ...opts },
    { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s), isTTY: false }, env: {}, ...(signal === undefined ? {} : { signal }) },
  );
  return { ...r, stdout, stderr };
}

async function backend(t: Test, handler: Handler): Promise<Backend> {
  const b = await startBackend(handler);
  t.teardown(() => b.close());
  return b;
}

/** A backend answering JSON made from the path: {id, price}; `price` overrides for some ids. */
function items(price: (id: number) => number = () => 10): Handler {
  return (req, res) => {
    const id = Number(/\/items\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    res.setHeader('content-type', 'application/json');
    res.setHeader('date', new Date().toUTCString());
    res.end(JSON.stringify({ id, price: price(id), tags: ['a', 'b'] }));
  };
}

function itemExchanges(n: number): ExchangeSpec[] {
  return Array.from({ length: n }, (_, i) => ({ path: `/items/${i}`, live: { id: i, price: 10, tags: ['a', 'b'] } }));
}

t.test('a target that answers as recorded: exit 0, and the report in the API shapes', async (t) => {
  const b = await backend(t, items());
  const dir = t.testdir({});
  const file = writeCapture(path.join(dir, 'a.jsonl'), itemExchanges(5));
  const report = path.join(dir, 'report.json');
  const r = await replay([file], { target: b.url, report });
  t.equal(r.code, 0);
  t.equal(b.seen.length, 5);
  const json = JSON.parse(readFileSync(report, 'utf8'));
  t.same(Object.keys(json).sort(), ['divergences', 'routes', 'summary']);
  t.match(json.summary, { files: 1, exchanges: 5, corrupt: 0, sent: 5, compared: 5, matches: 5, mismatches: 0, noise: 0, skipped: 0, errors: 0, mismatchRate: 0, maxMismatchRate: 0, passed: true, interrupted: false, target: b.url });
  t.equal(json.routes.length, 1);
  t.same(Object.keys(json.routes[0]).sort(), ['compared', 'dropped', 'errors', 'errorsBy', 'matches', 'mirrored', 'mismatches', 'name', 'noise', 'noisy', 'sample', 'skipped', 'skippedBy', 'topFields'].sort(), '/api/routes fields');
  t.match(json.routes[0], { name: 'default', mirrored: 5, compared: 5, matches: 5, mismatches: 0, topFields: [] });
  t.same(json.divergences, []);
  t.match(r.stdout, /^route\s+sent\s+compared\s+match\s+mismatch\s+noise\s+errors\s+top fields\n/);
  t.match(r.stdout, /^default\s+5\s+5\s+5\s+0\s+0\s+0$/m);
  t.match(r.stdout, /PASS: mismatch rate 0% \(0 of 5 compared\) <= 0%/);
  t.match(r.stderr, /^umbra replay: 5 sent from 1 file in [\d.]+ s; PASS/m, 'off a terminal: one plain line at the end');
});

t.test('a target that differs in one field: exit 1, the field in the report and the table', async (t) => {
  const b = await backend(t, items((id) => (id === 3 ? 11 : 10)));
  const dir = t.testdir({});
  const file = writeCapture(path.join(dir, 'a.jsonl'), itemExchanges(5));
  const report = path.join(dir, 'report.json');
  const r = await replay([file], { target: b.url, report });
  t.equal(r.code, 1);
  const json = JSON.parse(readFileSync(report, 'utf8'));
  t.match(json.summary, { compared: 5, matches: 4, mismatches: 1, mismatchRate: 0.2, passed: false });
  t.same(json.routes[0].topFields, [{ field: '$.price', count: 1 }]);
  t.equal(json.divergences.length, 1);
  const d = json.divergences[0];
  t.same(Object.keys(d).sort(), ['differences', 'dark', 'id', 'instance', 'live', 'method', 'path', 'replay', 'route', 'service', 'time', 'write'].sort(), '/api/divergences fields');
  t.match(d, { route: 'default', method: 'GET', path: '/items/3', live: { status: 200, ms: 2 }, dark: { status: 200 }, write: false });
  t.same(d.differences, [{ part: 'body', field: '$.price', kind: 'changed', live: 10, dark: 11 }]);
  t.match(d.replay, new RegExp(`^for u in '${b.url}'; do curl -sS -i -X GET "\\$u"'/items/3'`));
  t.match(r.stdout, /^default\s+5\s+5\s+4\s+1\s+0\s+0\s+\$\.price \(1\)$/m);
  t.match(r.stdout, /FAIL: mismatch rate 20% \(1 of 5 compared\) > 0%/);
});

t.test('--max-mismatch-rate: at the rate passes, below it fails', async (t) => {
  const b = await backend(t, items((id) => (id === 0 ? 99 : 10)));
  const file = writeCapture(path.join(t.testdir({}), 'a.jsonl'), itemExchanges(4));
  t.equal((await replay([file], { target: b.url, maxMismatchRate: 0.25 })).code, 0, '1 of 4 = 0.25 <= 0.25');
  const r = await replay([file], { target: b.url, maxMismatchRate: 0.2 });
  t.equal(r.code, 1, '0.25 > 0.2');
  t.match(r.stdout, /FAIL: mismatch rate 25% \(1 of 4 compared\) > 20%/);
});

/** A backend that answers after `ms`, recording arrival order and the most requests it held at once. */
function slow(ms: number): { handler: Handler; order: string[]; max: () => number } {
  let now = 0;
  let max = 0;
  const order: string[] = [];
  return {
    order,
    max: () => max,
    handler: (req, res) => {
      order.push(`${req.method} ${req.url}`);
      max = Math.max(max, ++now);
      setTimeout(() => {
        now--;
        res.setHeader('content-type', 'application/json');
        res.end('{}');
      }, ms);
    },
  };
}

t.test('--ordered: recorded order (files, then lines), one at a time, writes included', async (t) => {
  const s = slow(15);
  const b = await backend(t, s.handler);
  const dir = t.testdir({});
  const spec = (method: string, p: string): ExchangeSpec => ({ method, path: p, live: {}, ...(method === 'GET' ? {} : { body: '{"n":1}' }) });
  const first = writeCapture(path.join(dir, '1.jsonl'), [spec('POST', '/carts'), spec('PUT', '/carts/1/items'), spec('GET', '/carts/1')]);
  const second = writeCapture(path.join(dir, '2.jsonl'), [spec('DELETE', '/carts/1/items/1'), spec('GET', '/carts/1'), spec('PATCH', '/carts/1')]);
  const r = await replay([first, second], { target: b.url, ordered: true, concurrency: 1 });
  t.equal(r.code, 0);
  t.same(s.order, ['POST /carts', 'PUT /carts/1/items', 'GET /carts/1', 'DELETE /carts/1/items/1', 'GET /carts/1', 'PATCH /carts/1']);
  t.equal(s.max(), 1, 'never two at once');
  t.equal(r.report.summary.ordered, true);
  t.equal(b.seen[0]?.body.toString(), '{"n":1}', 'a write carries its body');
});

t.test('without --ordered, up to --concurrency requests are under way at once', async (t) => {
  const s = slow(100);
  const b = await backend(t, s.handler);
  const file = writeCapture(
    path.join(t.testdir({}), 'a.jsonl'),
    Array.from({ length: 12 }, (_, i) => ({ path: `/x/${i}`, live: {} })),
  );
  const r = await replay([file], { target: b.url, concurrency: 4 });
  t.equal(r.code, 0);
  t.equal(s.order.length, 12);
  t.ok(s.max() > 1, `${s.max()} at once`);
  t.ok(s.max() <= 4, 'never more than --concurrency');
});

t.test('--rate spaces the starts: 5 requests at 10 per second take at least 0.4 s', async (t) => {
  const b = await backend(t, (_req, res) => res.end());
  const file = writeCapture(
    path.join(t.testdir({}), 'a.jsonl'),
    Array.from({ length: 5 }, (_, i) => ({ path: `/r/${i}`, live: '' })),
  );
  // A lower bound on the whole run only: a slow machine can stretch it, never shorten it.
  // The pacer's spacing itself is checked exactly, on a fake clock, in limits.test.ts.
  const started = performance.now();
  const r = await replay([file], { target: b.url, rate: 10 });
  const took = performance.now() - started;
  t.equal(b.seen.length, 5);
  t.equal(r.report.summary.rate, 10);
  t.ok(took >= 395, `took ${took.toFixed(0)} ms`);
});

t.test('headers: --header reaches the target, [REDACTED] and hop-by-hop ones do not, Host is kept, the shadow marker is set', async (t) => {
  const b = await backend(t, (_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end('ok');
  });
  const file = writeCapture(path.join(t.testdir({}), 'a.jsonl'), [
    {
      method: 'POST',
      path: '/login?x=1',
      headers: {
        host: 'shop.example',
        authorization: '[REDACTED]',
        'x-api-key': '[REDACTED]',
        cookie: ['[REDACTED]'],
        connection: 'keep-alive, x-hop',
        'x-hop': 'gone',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'content-length': '999',
        expect: '100-continue',
        'x-umbra-shadow': 'forged',
        'x-tenant': 'acme',
        accept: ['a/b', 'c/d'],
      },
      body: 'user=ann',
      live: 'ok',
    },
  ]);
  const r = await replay([file], { target: b.url, headers: [['authorization', 'Bearer test-token'], ['x-tenant', 'replay']] });
  t.equal(r.code, 0);
  const seen = b.seen[0];
  t.ok(seen);
  const h = seen?.headers ?? {};
  t.equal(h.authorization, 'Bearer test-token', '--header supplies the credential');
  t.equal(h['x-tenant'], 'replay', '--header replaces a recorded header');
  t.notOk('x-api-key' in h, 'a [REDACTED] header is not sent');
  t.notOk('cookie' in h);
  t.notOk('x-hop' in h, 'a header its Connection named stays on that hop');
  t.notOk('keep-alive' in h);
  t.notOk('expect' in h);
  t.equal(h['x-umbra-shadow'], '1', "umbra's marker, not the recorded copy");
  t.equal(h.host, 'shop.example', 'Host as the live hop sent it');
  t.equal(h['content-length'], '8', 'framed by the body actually sent');
  t.equal(h.accept, 'a/b, c/d', 'a repeated header is sent repeated');
  t.equal(seen?.url, '/login?x=1');
  t.equal(seen?.body.toString(), 'user=ann');
});

t.test('--secondary: a field that differs between two live answers is noise, not a mismatch; writes never go there', async (t) => {
  const stamp: Handler = (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, now: performance.now() + Math.random() }));
  };
  const target = await backend(t, stamp);
  const secondary = await backend(t, stamp);
  const dir = t.testdir({});
  const exchanges: ExchangeSpec[] = Array.from({ length: 4 }, (_, i) => ({ path: `/t/${i}`, live: { path: `/t/${i}`, now: 1 } }));
  const file = writeCapture(path.join(dir, 'a.jsonl'), [...exchanges, { method: 'POST', path: '/t/w', body: 'x', live: { path: '/t/w', now: 1 } }]);
  const without = await replay([file], { target: target.url });
  t.equal(without.code, 1, 'without a baseline the timestamp is a mismatch');
  t.equal(without.report.summary.mismatches, 5);
  target.seen.length = 0;
  const r = await replay([file], { target: target.url, secondary: secondary.url });
  t.equal(secondary.seen.length, 4, 'the GETs went to the secondary, the POST did not');
  t.notOk(secondary.seen.some((s) => s.method === 'POST'));
  t.notOk(secondary.seen.some((s) => 'x-umbra-shadow' in s.headers), 'the secondary is a live instance: no shadow marker');
  // The POST had no baseline of its own, but by then the route had learned $.now as noisy.
  t.match(r.report.summary, { sent: 5, compared: 5, noise: 5, matches: 0, mismatches: 0 });
  t.equal(r.code, 0);
  t.same(r.report.routes[0]?.noisy, ['$.now']);
});

t.test('gzip files and a directory, read in name order', async (t) => {
  const s = slow(1);
  const b = await backend(t, s.handler);
  const root = t.testdir({ cap: {} });
  const dir = path.join(root, 'cap');
  writeCapture(path.join(dir, '2026-01-01T00-00-01.jsonl.gz'), [{ path: '/1', live: {} }, { path: '/2', live: {} }]);
  writeCapture(path.join(dir, '2026-01-01T00-00-02.jsonl'), [{ path: '/3', live: {} }]);
  const r = await replay([dir], { target: b.url, ordered: true });
  t.equal(r.code, 0);
  t.same(s.order, ['GET /1', 'GET /2', 'GET /3']);
  t.equal(r.report.summary.files, 2);
});

t.test('a corrupt line is named FILE:LINE on stderr, counted, and the rest still replays', async (t) => {
  const b = await backend(t, items());
  const file = writeCapture(path.join(t.testdir({}), 'a.jsonl'), [...itemExchanges(2), '{"v":1,"id":"x"', '{"v":2}', ...itemExchanges(2)]);
  const r = await replay([file], { target: b.url });
  t.match(r.stderr, `${file}:3: not JSON`);
  t.match(r.stderr, `${file}:4: unsupported record version 2`);
  t.equal(b.seen.length, 4);
  t.match(r.report.summary, { corrupt: 2, exchanges: 4, sent: 4, compared: 4, passed: true });
  t.same(r.report.summary.problems.length, 2);
  t.equal(r.code, 0, 'corrupt lines alone do not fail the run');
  t.match(r.stdout, /PASS: .*\(2 corrupt lines skipped\)/);
});

t.test('an unreachable target: errors counted per route, nothing compared, exit 1', async (t) => {
  const port = await refusedPort();
  const file = writeCapture(path.join(t.testdir({}), 'a.jsonl'), itemExchanges(3));
  const r = await replay([file], { target: `http://127.0.0.1:${port}` });
  t.equal(r.code, 1);
  t.match(r.report.summary, { sent: 3, errors: 3, skipped: 3, compared: 0, mismatchRate: null, passed: false });
  t.match(r.report.routes[0], { name: 'default', mirrored: 3, errors: 3 });
  t.match(r.stdout, /^default\s+3\s+0\s+0\s+0\s+0\s+3$/m);
  t.match(r.stdout, /FAIL: nothing was compared, so there is no mismatch rate \(3 target errors\)/);
});

t.test('a target that errors on some requests: errors are reported, the rate is over what was compared', async (t) => {
  const b = await backend(t, (req, res) => {
    if (req.url === '/items/1') {
      req.socket.destroy();
      return;
    }
    items()(req, res, Buffer.alloc(0));
  });
  const file = writeCapture(path.join(t.testdir({}), 'a.jsonl'), itemExchanges(4));
  const r = await replay([file], { target: b.url });
  t.match(r.report.summary, { sent: 4, errors: 1, compared: 3, mismatches: 0, passed: true });
  t.equal(r.code, 0);
  t.match(r.stdout, /PASS: mismatch rate 0% \(0 of 3 compared\) <= 0% \(1 target error\)/);
});

t.test('--timeout: a target slower than it is a timeout error', async (t) => {
  const b = await backend(t, (_req, res) => void sleep(2000).then(() => res.end()));
  const file = writeCapture(path.join(t.testdir({}), 'a.jsonl'), itemExchanges(1));
  const started = performance.now();
  const r = await replay([file], { target: b.url, timeout: 200 });
  t.ok(performance.now() - started < 1500, 'did not wait for the answer');
  t.match(r.report.summary, { errors: 1, compared: 0 });
  t.equal(r.code, 1);
});

t.test('--config: routes matched by method and path as in serving, each with its own rules', async (t) => {
  const b = await backend(t, (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url?.replace(/\?.*/, ''), updatedAt: Date.now(), v: 2 }));
  });
  const dir = t.testdir({
    'umbra.yaml': [
      'live: { url: http://127.0.0.1:1 }',
      'compare: { ignore: ["$.updatedAt"] }',
      'routes:',
      '  - name: get-item',
      '    match: { path: /items/:id, methods: [GET] }',
      '    compare: { ignore: ["$.v"] }',
      '',
    ].join('\n'),
  });
  const file = writeCapture(path.join(dir, 'a.jsonl'), [
    { path: '/items/1?x=1', live: { path: '/items/1', updatedAt: 1, v: 1 } },
    { method: 'DELETE', path: '/items/1', live: { path: '/items/1', updatedAt: 1, v: 1 } },
    { path: '/other', live: { path: '/other', updatedAt: 1, v: 2 } },
  ]);
  const r = await replay([file], { target: b.url, config: path.join(dir, 'umbra.yaml'), maxMismatchRate: 1 });
  t.same(
    r.report.routes.map((x) => [x.name, x.mirrored, x.matches, x.mismatches]),
    [
      ['get-item', 1, 1, 0],
      ['default', 2, 1, 1],
    ],
  );
  t.same(r.report.routes[1]?.topFields, [{ field: '$.v', count: 1 }], 'DELETE is not the route; $.v counts there');
});

t.test('a target answer over the route body cap is not compared (too_large), as in serving', async (t) => {
  const b = await backend(t, (_req, res) => res.end('x'.repeat(2048)));
  const dir = t.testdir({ 'umbra.yaml': 'live: { url: http://127.0.0.1:1 }\nmirror: { maxBodyBytes: 1KiB }\n' });
  const file = writeCapture(path.join(dir, 'a.jsonl'), [{ path: '/big', live: 'x'.repeat(2048) }]);
  const r = await replay([file], { target: b.url, config: path.join(dir, 'umbra.yaml') });
  t.match(r.report.summary, { sent: 1, compared: 0, skipped: 1, errors: 1 });
  t.equal(r.code, 1);
  const chunked = await backend(t, (_req, res) => {
    res.write('x'.repeat(800));
    setTimeout(() => res.end('x'.repeat(800)), 20);
  });
  const again = await replay([file], { target: chunked.url, config: path.join(dir, 'umbra.yaml') });
  t.match(again.report.summary, { sent: 1, compared: 0, skipped: 1, errors: 1 }, 'without a declared length: reading stops at the cap');
});

t.test('interrupted (Ctrl-C): reading stops, what is under way ends, the report says so, exit 1', async (t) => {
  const abort = new AbortController();
  const b = await backend(t, (req, res) => {
    abort.abort();
    items()(req, res, Buffer.alloc(0));
  });
  const file = writeCapture(path.join(t.testdir({}), 'a.jsonl'), itemExchanges(5));
  const r = await replay([file], { target: b.url, ordered: true }, abort.signal);
  t.equal(b.seen.length, 1, 'nothing more was sent');
  t.match(r.report.summary, { sent: 1, compared: 1, matches: 1, interrupted: true, passed: false });
  t.equal(r.code, 1, 'a partial run has no verdict');
  t.match(r.stdout, /FAIL: stopped before the end of the input; so far mismatch rate 0% \(0 of 1 compared\), allowed 0% \(interrupted\)/);
});
