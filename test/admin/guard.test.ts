// The Host and Origin rule of a token-less admin, as plain functions
// (test/admin/server.test.ts drives the same rule over real sockets).
import t from 'tap';
import { createCallerCheck, hostHeaderName, isLoopbackName, tokenMatches } from '../../src/admin/guard.js';

t.test('hostHeaderName reads the name out of a Host value, or null', (t) => {
  t.equal(hostHeaderName('LocalHost:9901'), 'localhost');
  t.equal(hostHeaderName('127.0.0.1'), '127.0.0.1');
  t.equal(hostHeaderName('[::1]:9901'), '::1');
  t.equal(hostHeaderName('[0:0:0:0:0:0:0:1]'), '::1', 'IPv6 in its short form');
  t.equal(hostHeaderName('umbra-admin.internal:'), 'umbra-admin.internal', 'an empty port is allowed (RFC 9110)');
  for (const bad of ['', ':9901', '::1', '[::1', 'a b', 'a@127.0.0.1', '127.0.0.1:99x', 'x/y', '[evil.example]:1', '[127.0.0.1]']) {
    t.equal(hostHeaderName(bad), null, JSON.stringify(bad));
  }
  t.end();
});

t.test('loopback names', (t) => {
  for (const name of ['localhost', 'app.localhost', '127.0.0.1', '127.255.0.9', '::1']) t.ok(isLoopbackName(name), name);
  for (const name of ['localhost.evil.example', 'notlocalhost', '127.0.0.1.evil.example', '0.0.0.0', '128.0.0.1', '::2']) t.notOk(isLoopbackName(name), name);
  t.end();
});

t.test('the caller check: Host for every call, Origin for calls that change state', (t) => {
  const check = createCallerCheck(['umbra-admin.internal']);
  t.equal(check('POST', '127.0.0.1:9901', undefined), null);
  t.equal(check('POST', '127.0.0.1:9901', 'http://127.0.0.1:9901'), null);
  t.equal(check('PUT', 'umbra-admin.internal', 'http://umbra-admin.internal'), null);
  t.equal(check('GET', 'localhost:9901', 'http://evil.example'), null, 'Origin is not checked for GET');
  t.equal(check('DELETE', 'localhost:9901', 'http://localhost:9902')?.reason, 'origin', 'another port is another origin');
  t.equal(check('POST', 'localhost:9901', 'null')?.reason, 'origin');
  t.equal(check('GET', 'evil.example:9901', undefined)?.reason, 'host');
  t.equal(check('GET', undefined, undefined)?.reason, 'host', 'no Host');
  t.equal(createCallerCheck([])('GET', 'umbra-admin.internal', undefined)?.reason, 'host', 'only listed names');
  t.end();
});

t.test('tokenMatches: any case of "Bearer", one or more spaces, the exact token', (t) => {
  t.ok(tokenMatches('s3cret', 'Bearer s3cret'));
  t.ok(tokenMatches('s3cret', 'bearer   s3cret '));
  t.notOk(tokenMatches('s3cret', 'Bearer s3cre'));
  t.notOk(tokenMatches('s3cret', 'Bearer s3cret s3cret'));
  t.notOk(tokenMatches('s3cret', 'Bearers3cret'));
  t.notOk(tokenMatches('s3cret', undefined));
  t.end();
});
