// The raw-socket helpers (test/helpers/raw.ts) checked on their own, without
// umbra, so that a failure in hostile.test.ts is umbra's and not the parser's.
import t from 'tap';
import { parseRequests, parseResponses, rawExchange, responsesReceived, startRecordingBackend } from '../helpers/raw.js';

t.test('parseResponses splits a stream: content-length, 1xx, chunked with trailers, close-delimited', async (t) => {
  const stream = Buffer.from(
    'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc' +
      'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n' +
      'HTTP/1.0 400 Bad\r\n\r\ntail',
    'latin1',
  );
  const closed = parseResponses(stream, true);
  t.same(
    closed.messages.map((m) => [m.status, m.body.toString(), m.framing]),
    [
      [200, 'abc', 'content-length'],
      [100, '', 'none'],
      [201, 'abcde', 'chunked'],
      [400, 'tail', 'close'],
    ],
  );
  const open = parseResponses(stream, false);
  t.equal(open.messages.length, 3, 'a close-delimited answer is incomplete while the connection is open');
  t.equal(open.rest.toString(), 'HTTP/1.0 400 Bad\r\n\r\ntail');
  t.equal(parseResponses(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab'), false).messages.length, 0, 'a short body is incomplete');
});

t.test('parseRequests splits requests and stops at garbage', async (t) => {
  const r = parseRequests(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGARBAGE\r\n\r\n'));
  t.same(
    r.messages.map((m) => [m.method, m.target, m.body.toString(), m.framing]),
    [
      ['GET', '/', '', 'none'],
      ['POST', '/x', 'hi', 'content-length'],
    ],
  );
  t.ok(r.error, 'a parse error is reported');
  t.equal(r.rest.toString(), 'GARBAGE\r\n\r\n');
});

t.test('the recording backend keeps the exact bytes and the parsed requests; rawExchange reads pipelined answers', async (t) => {
  const b = await startRecordingBackend();
  t.teardown(() => b.close());
  const bytes = 'GET /one HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\nPOST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz';
  const r = await rawExchange(b.url, bytes, { done: responsesReceived(2), timeout: 3000 });
  t.equal(r.endedBy, 'done');
  t.equal(b.allBytes().toString('latin1'), bytes, 'every byte, as sent');
  t.same(
    b.requests.map((x) => [x.method, x.url, x.body.toString(), x.connection]),
    [
      ['GET', '/one', '', 0],
      ['POST', '/two', 'xyz', 0],
    ],
  );
  const urls = parseResponses(r.bytes, false).messages.map((m) => (JSON.parse(m.body.toString()) as { url: string }).url);
  t.same(urls, ['/one', '/two'], 'answers in order');
});
