import t from 'tap';
import { execFileSync } from 'node:child_process';
import { compileRedactor } from '../../src/observe/redact.js';
import { MAX_REPLAY_BODY, redactTarget, replayCommand, shellQuote } from '../../src/observe/replay.js';

const redactor = compileRedactor({ headers: ['x-api-key'], fields: ['$..password'] });

t.test('shell quoting survives a round trip through sh', async (t) => {
  for (const s of ["plain", "it's", "a b\nc", '$(rm -rf /) `x` "q"']) {
    t.equal(execFileSync('sh', ['-c', `printf %s ${shellQuote(s)}`]).toString(), s);
  }
});

t.test('secret-looking query values are redacted, others kept', async (t) => {
  t.equal(redactTarget('/a?token=abc&page=2'), '/a?token=REDACTED&page=2');
  t.equal(redactTarget('/a?page=2'), '/a?page=2');
  t.equal(redactTarget('/a'), '/a');
});

t.test('a POST replay carries its body with secret fields redacted', async (t) => {
  const cmd = replayCommand(
    {
      method: 'POST',
      url: '/login?api_key=k1',
      headers: { 'content-type': 'application/json', authorization: 'Bearer x', 'x-api-key': 'k2', host: 'a', 'content-length': '40', connection: 'keep-alive' },
      body: Buffer.from(JSON.stringify({ user: 'ann', password: 'pw' })),
      liveUrl: 'http://live:1',
      darkUrl: 'http://dark:2',
    },
    redactor,
  );
  t.match(cmd, /-X POST/);
  t.match(cmd, /--data-binary '\{"user":"ann","password":"\[REDACTED\]"\}'/);
  t.match(cmd, /'content-type: application\/json'/);
  t.notMatch(cmd, /Bearer x|k1|k2|host: a|content-length|connection/);
  t.match(cmd, /# left out: authorization, x-api-key$/);
  t.match(cmd, /"\$u"'\/login\?api_key=REDACTED'/);
});

t.test('an HTTP/2 request: its pseudo-headers are not replayed as headers', async (t) => {
  const cmd = replayCommand(
    {
      method: 'POST',
      url: '/shop.v1.Catalog/GetItem',
      headers: { ':method': 'POST', ':path': '/shop.v1.Catalog/GetItem', ':authority': 'a:1', ':scheme': 'http', 'content-type': 'application/grpc', te: 'trailers' },
      body: null,
      liveUrl: 'http://live:1',
      darkUrl: 'http://dark:2',
    },
    redactor,
  );
  t.match(cmd, /'content-type: application\/grpc'/);
  t.notMatch(cmd, /:method|:path|:authority|:scheme/, 'no pseudo-header');
});

t.test('large bodies are left out of the command line', async (t) => {
  const cmd = replayCommand(
    { method: 'PUT', url: '/x', headers: {}, body: Buffer.alloc(MAX_REPLAY_BODY + 1, 'a'), liveUrl: 'http://l', darkUrl: 'http://d' },
    redactor,
  );
  t.notMatch(cmd, /--data-binary/);
  t.match(cmd, /left out: body \(4097 bytes\)/);
  const notJson = replayCommand(
    { method: 'POST', url: '/x', headers: { 'content-type': 'application/json' }, body: Buffer.from('{oops'), liveUrl: 'http://l', darkUrl: 'http://d' },
    redactor,
  );
  t.match(notJson, /--data-binary '\{oops'/, 'a body that is not JSON after all is sent as it came');
});

t.test('a deeply nested JSON body is redacted at every depth, never sent as it came', async (t) => {
  const depth = Math.floor((MAX_REPLAY_BODY - 40) / 6);
  const body = Buffer.from(`${'{"a":'.repeat(depth)}{"password":"s3cret"}${'}'.repeat(depth)}`);
  t.ok(body.length <= MAX_REPLAY_BODY);
  const cmd = replayCommand({ method: 'POST', url: '/x', headers: { 'content-type': 'application/json' }, body, liveUrl: 'http://l', darkUrl: 'http://d' }, redactor);
  t.notMatch(cmd, /s3cret/);
  t.match(cmd, /"password":"\[REDACTED\]"/);
});

t.test('a write replays against dark only, and says so', async (t) => {
  const cmd = replayCommand(
    { method: 'POST', url: '/cart', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"item":1}'), liveUrl: 'http://live:1', darkUrl: 'http://dark:2', write: true },
    redactor,
  );
  t.match(cmd, /^for u in 'http:\/\/dark:2'; do curl /);
  t.notMatch(cmd, /live:1/);
  t.match(cmd, /# a write: replayed against dark only$/);
  const read = replayCommand({ method: 'GET', url: '/cart', headers: {}, body: null, liveUrl: 'http://live:1', darkUrl: 'http://dark:2' }, redactor);
  t.match(read, /^for u in 'http:\/\/live:1' 'http:\/\/dark:2'; do/);
});

t.test('without a live backend (umbra replay) the line targets the replay target alone, a write included', async (t) => {
  for (const write of [false, true]) {
    const cmd = replayCommand({ method: write ? 'POST' : 'GET', url: '/cart', headers: {}, body: null, liveUrl: null, darkUrl: 'http://target:3', write }, redactor);
    t.match(cmd, /^for u in 'http:\/\/target:3'; do curl /);
    t.notMatch(cmd, /a write: replayed against dark only/, 'there is no live backend to warn about');
  }
});
