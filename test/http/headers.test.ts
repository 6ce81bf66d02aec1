// The header rules (src/http/headers.ts) as pure functions with plain fakes; the
// same rules over real sockets are in test/proxy/hostile.test.ts.
import t from 'tap';
import type { IncomingMessage } from 'node:http';
import {
  connectionListed,
  answerHeaders,
  downstreamHeaders,
  hasDuplicateHost,
  hopRules,
  originForm,
  upstreamHeaders,
} from '../../src/http/headers.js';

function fakeReq(rawHeaders: string[], remoteAddress = '10.0.0.9', tls = false): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = (rawHeaders[i] as string).toLowerCase();
    headers[k] = headers[k] === undefined ? (rawHeaders[i + 1] as string) : `${headers[k]}, ${rawHeaders[i + 1] as string}`;
  }
  const socket = tls ? { remoteAddress, encrypted: true } : { remoteAddress };
  return { rawHeaders, headers, socket } as unknown as IncomingMessage;
}

/** The flat list as [name, value] pairs, for readable assertions. */
const pairs = (flat: string[]): [string, string][] => Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i] as string, flat[2 * i + 1] as string]);

t.test('Connection never lists a framing header for removal', async (t) => {
  t.equal(connectionListed(undefined), null);
  t.equal(connectionListed('keep-alive'), null);
  t.equal(connectionListed('close'), null);
  t.strictSame(connectionListed('Keep-Alive, Content-Length, Host, Transfer-Encoding, X-Hop'), new Set(['x-hop']));
  t.strictSame(connectionListed(['x-a', 'X-B']), new Set(['x-a', 'x-b']));
});

t.test('two Host lines are found, one is not', async (t) => {
  t.equal(hasDuplicateHost(['Host', 'a', 'X-Y', 'z']), false);
  t.equal(hasDuplicateHost(['Host', 'a', 'hOST', 'b']), true);
  t.equal(hasDuplicateHost(['X-Hostile', 'a', 'host', 'b']), false, 'only the name host counts');
});

t.test('request targets: origin-form passes, absolute-form only for its own Host', async (t) => {
  t.equal(originForm('/a?b=1', 'h'), '/a?b=1');
  t.equal(originForm('//x/y', 'h'), '//x/y', 'an origin-form path may start with two slashes');
  t.equal(originForm('http://app.example/p?q=1', 'app.example'), '/p?q=1');
  t.equal(originForm('HTTP://App.Example:8080?q', 'app.example:8080'), '/?q');
  t.equal(originForm('https://app.example', 'app.example'), '/');
  t.equal(originForm('http://evil.example/p', 'app.example'), null, 'another authority than Host');
  t.equal(originForm('http://app.example/p', undefined), null);
  t.equal(originForm('*', 'h'), null, 'asterisk-form');
  t.equal(originForm('app.example:443', 'app.example:443'), null, 'authority-form');
});

t.test('upstream headers: hop-by-hop and listed ones go, framing stays, X-Forwarded-* are umbra\'s', async (t) => {
  const req = fakeReq([
    'Host', 'app.example',
    'Connection', 'keep-alive, Content-Length, X-Hop',
    'Content-Length', '5',
    'X-Hop', 'h',
    'Keep-Alive', 'timeout=5',
    'Expect', '100-continue',
    'X-Umbra-Shadow', '1',
    'X-Forwarded-For', '1.2.3.4',
    'X-Forwarded-Host', 'evil.example',
    'X-Forwarded-Proto', 'https',
    'X-Keep', 'k',
  ]);
  t.strictSame(pairs(upstreamHeaders(req, hopRules(false), true)), [
    ['Host', 'app.example'],
    ['Content-Length', '5'],
    ['X-Keep', 'k'],
    ['x-forwarded-for', '1.2.3.4, 10.0.0.9'],
    ['x-forwarded-proto', 'http'],
    ['x-forwarded-host', 'app.example'],
  ]);
  const trusted = pairs(upstreamHeaders(req, hopRules(true), false, { set: { 'x-umbra-shadow': '1', 'x-env': 'dark' }, remove: ['x-keep'] }));
  t.strictSame(trusted, [
    ['Host', 'app.example'],
    ['x-forwarded-for', '1.2.3.4, 10.0.0.9'],
    ['x-forwarded-proto', 'https'],
    ['x-forwarded-host', 'evil.example'],
    ['x-umbra-shadow', '1'],
    ['x-env', 'dark'],
  ], 'trust keeps the client\'s Host/Proto; a shadow copy drops Content-Length and takes the edits');
  t.strictSame(pairs(upstreamHeaders(fakeReq(['Host', 'h'], '::1', true), hopRules(false), true)).slice(1), [
    ['x-forwarded-for', '::1'],
    ['x-forwarded-proto', 'https'],
    ['x-forwarded-host', 'h'],
  ], 'TLS is https; without a client value the peer alone');
});

t.test('downstream headers: hop-by-hop and Connection-listed ones go, set-cookie stays a list', async (t) => {
  const raw = ['Content-Type', 'a/b', 'Connection', 'x-secret-hop', 'X-Secret-Hop', 's', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'X-A', '1', 'x-a', '2'].map((s) => Buffer.from(s, 'latin1'));
  const { raw: out, headers } = downstreamHeaders(raw, true);
  t.strictSame(pairs(out), [['Content-Type', 'a/b'], ['Set-Cookie', 'a=1'], ['set-cookie', 'b=2'], ['X-A', '1'], ['x-a', '2']]);
  t.strictSame(headers, { 'content-type': 'a/b', 'set-cookie': ['a=1', 'b=2'], 'x-a': '1, 2' });
  t.strictSame(downstreamHeaders(raw, false).headers, {}, 'no object unless asked');
  t.strictSame(answerHeaders(raw), headers, 'a shadow answer\'s object is the same');
  t.strictSame(answerHeaders(['Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'X-B', '1'].map((s) => Buffer.from(s, 'latin1'))), { 'x-b': '1' });
});
