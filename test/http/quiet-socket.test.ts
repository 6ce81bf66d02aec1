// Backend sockets whose events capture no stack traces (src/http/quiet-socket.ts):
// real loopback servers, undici Pools with and without the quiet connector.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { quiet, quietConnector } from '../../src/http/quiet-socket.js';

/** The "    at ..." lines of a stack. */
const frames = (stack: string | undefined): number => (stack ?? '').split('\n').filter((l) => l.trimStart().startsWith('at ')).length;

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** One GET: its status and body, or the error undici handed the handler. */
function get(pool: Pool): Promise<{ status: number; body: string } | { error: Error }> {
  return new Promise((resolve) => {
    let status = 0;
    const chunks: Buffer[] = [];
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {},
      onResponseStart(_c, code) {
        status = code;
      },
      onResponseData(_c, chunk: Buffer) {
        chunks.push(chunk);
      },
      onResponseEnd() {
        resolve({ status, body: Buffer.concat(chunks).toString() });
      },
      onResponseError(_c, error) {
        resolve({ error });
      },
    };
    pool.dispatch({ path: '/', method: 'GET' }, handler);
  });
}

t.test('an error made in a quiet socket event has no stack; elsewhere stacks are whole', async (t) => {
  // Not HTTP at all: undici's parser fails inside the socket's 'readable' event.
  const garbage = net.createServer((s) => s.end('\x00this is not HTTP\r\n\r\n'));
  const port = await listen(garbage);
  t.teardown(() => garbage.close());
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 17;
  t.teardown(() => {
    Error.stackTraceLimit = saved;
  });
  const plain = new Pool(`http://127.0.0.1:${port}`, { connect: { timeout: 2000 } });
  const quieted = new Pool(`http://127.0.0.1:${port}`, { connect: quietConnector({ timeout: 2000 }) });
  t.teardown(async () => {
    await plain.destroy();
    await quieted.destroy();
  });

  const a = await get(plain);
  const b = await get(quieted);
  if (!('error' in a) || !('error' in b)) throw new Error('both GETs should fail: the server does not speak HTTP');
  t.equal(b.error.name, a.error.name, 'the same error either way');
  t.equal(b.error.message, a.error.message);
  t.ok(frames(a.error.stack) > 0, `a plain socket's parser error has its stack (${frames(a.error.stack)} frames)`);
  t.equal(frames(b.error.stack), 0, 'a quiet one has none');
  t.match(b.error.stack, /^HTTPParserError: /, 'its first line is still name and message');
  t.equal(Error.stackTraceLimit, 17, 'the limit is what it was before');
  t.ok(frames(new Error('here').stack) > 0, 'errors made outside socket events keep their stacks');
});

t.test('answers with Connection: close come through whole, one connection each', async (t) => {
  let connections = 0;
  const server = http.createServer((_req, res) => {
    res.setHeader('connection', 'close');
    res.end(JSON.stringify({ n: connections }));
  });
  server.on('connection', () => connections++);
  const port = await listen(server);
  t.teardown(() => server.close());
  const pool = new Pool(`http://127.0.0.1:${port}`, { connect: quietConnector({ timeout: 2000 }), connections: 1 });
  t.teardown(() => pool.destroy());
  for (let i = 1; i <= 5; i++) {
    const r = await get(pool);
    t.strictSame(r, { status: 200, body: JSON.stringify({ n: i }) }, `answer ${i}, on connection ${i}`);
  }
  t.equal(connections, 5);
});

t.test('the limit is 0 while listeners run and restored even when one throws', async (t) => {
  const server = net.createServer((s) => s.end());
  const port = await listen(server);
  t.teardown(() => server.close());
  const socket = quiet(net.connect(port, '127.0.0.1'));
  t.teardown(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  const saved = Error.stackTraceLimit;
  let inside = -1;
  let stack: string | undefined = 'unset';
  socket.on('probe', () => {
    inside = Error.stackTraceLimit;
    stack = new Error('in a listener').stack;
  });
  t.equal(socket.emit('probe'), true, 'emit still says a listener ran');
  t.equal(inside, 0, 'the limit was 0 inside');
  t.equal(stack, 'Error: in a listener', 'so an error made there has no frames');
  t.equal(Error.stackTraceLimit, saved, 'and is back after');
  t.equal(socket.emit('nobody-listens'), false, 'an event without listeners: false, as before');

  socket.on('boom', () => {
    throw new Error('listener failed');
  });
  t.throws(() => socket.emit('boom'), /listener failed/, 'a throwing listener still throws to the emitter');
  t.equal(Error.stackTraceLimit, saved, 'and the limit is restored');

  // Nested events (an 'error' inside a 'data' listener, say): the outer one restores the original.
  socket.on('outer', () => socket.emit('probe'));
  socket.emit('outer');
  t.equal(inside, 0);
  t.equal(Error.stackTraceLimit, saved, 'restored after a nested emit');
});

t.test('an h2c connector still speaks HTTP/2 with prior knowledge', async (t) => {
  const { createServer } = await import('node:http2');
  const server = createServer((_req, res) => res.end('over h2'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const pool = new Pool(`http://127.0.0.1:${port}`, { allowH2: true, connect: quietConnector({ timeout: 2000, allowH2: true, useH2c: true }) });
  t.teardown(() => pool.destroy());
  t.strictSame(await get(pool), { status: 200, body: 'over h2' });
});

t.test('a refused connection is the same error as without the quiet connector', async (t) => {
  // A port that was free a moment ago: nothing listens on it.
  const server = net.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  const pool = new Pool(`http://127.0.0.1:${port}`, { connect: quietConnector({ timeout: 2000 }) });
  t.teardown(() => pool.destroy());
  const r = await get(pool);
  if (!('error' in r)) throw new Error('the GET should fail: nothing listens');
  t.equal((r.error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
});
