// WebSocket tunnels (proxy/tunnel.ts) against real servers: the upgrade request
// gets the same header rules as every other hop, a live backend that is down or
// declines the upgrade gives the client a real answer, and a client that leaves
// before live answers cancels the upgrade.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';
import { refusedPort, serveOnLoopback, until } from '../helpers/net.js';
import { startTestUmbra } from '../helpers/umbra.js';

async function wsBackend(): Promise<{ url: string; upgrades: http.IncomingHttpHeaders[]; close: () => Promise<void> }> {
  const server = http.createServer();
  const upgrades: http.IncomingHttpHeaders[] = [];
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    upgrades.push(req.headers);
    ws.on('message', (d, bin) => ws.send(d, { binary: bin }));
  });
  const served = await serveOnLoopback(server);
  return {
    url: served.url,
    upgrades,
    close: async () => {
      wss.close();
      await served.close();
    },
  };
}

/** Writes an upgrade request by hand and reads the answer's head (and any body) until the server closes. */
function rawUpgrade(url: string, headers: string[]): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), '127.0.0.1', () => {
      s.write(['GET /ws HTTP/1.1', 'Host: app.example', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', ...headers, '', ''].join('\r\n'));
    });
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('close', () => resolve(out));
    s.on('error', reject);
    setTimeout(() => s.destroy(), 3000).unref();
  });
}

t.test('the upgrade request follows the header rules: no client marker, X-Forwarded-* set by umbra', async (t) => {
  const live = await wsBackend();
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  const ws = new WebSocket(`${umbra.proxyUrl.replace('http', 'ws')}/ws`, {
    headers: { 'x-umbra-shadow': '1', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', 'x-keep': 'k' },
  });
  await once(ws, 'open');
  ws.send('ping');
  const [echo] = (await once(ws, 'message')) as [Buffer];
  t.equal(echo.toString(), 'ping', 'the tunnel carries frames both ways');
  const h = live.upgrades[0];
  t.equal(h?.['x-umbra-shadow'], undefined, "the client's marker never reaches live");
  t.equal(h?.['x-forwarded-host'], new URL(umbra.proxyUrl).host, 'X-Forwarded-Host is the Host umbra saw');
  t.equal(h?.['x-forwarded-proto'], 'http');
  t.equal(h?.['x-forwarded-for'], '127.0.0.1');
  t.equal(h?.['x-keep'], 'k', 'other headers pass');
  ws.close();
});

t.test('a live backend that is down gives the upgrade a 502 with a JSON error', async (t) => {
  const umbra = await startTestUmbra(`live: { url: "http://127.0.0.1:${await refusedPort()}" }`);
  t.teardown(() => umbra.stop());
  const answer = await rawUpgrade(umbra.proxyUrl, []);
  t.match(answer, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  t.match(answer, /"code":"UMBRA_LIVE_CONNECT"/);
});

t.test('a live backend that declines the upgrade: its answer reaches the client, then the connection closes', async (t) => {
  const live = http.createServer((_req, res) => res.end('not here'));
  live.on('upgrade', (_req, socket: net.Socket) => socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 6\r\n\r\nno ws!'));
  const served = await serveOnLoopback(live);
  const umbra = await startTestUmbra(`live: { url: "${served.url}" }`);
  t.teardown(async () => {
    await umbra.stop();
    await served.close();
  });
  const answer = await rawUpgrade(umbra.proxyUrl, []);
  t.match(answer, /^HTTP\/1\.1 403 Forbidden\r\n/);
  t.match(answer, /\r\n\r\nno ws!$/);
});

t.test('a client that leaves before live answers the upgrade cancels it', async (t) => {
  let sockets = 0;
  const live = http.createServer();
  live.on('upgrade', (_req, socket: net.Socket) => {
    // Never answers; reads so that umbra hanging up is seen (an upgraded socket is half-open).
    socket.resume();
    socket.on('end', () => socket.destroy());
  });
  live.on('connection', (s: net.Socket) => {
    sockets++;
    s.on('close', () => sockets--);
  });
  const served = await serveOnLoopback(live);
  const umbra = await startTestUmbra(`live: { url: "${served.url}" }`);
  t.teardown(async () => {
    await umbra.stop();
    await served.close();
  });
  const s = net.connect(Number(new URL(umbra.proxyUrl).port), '127.0.0.1');
  await once(s, 'connect');
  s.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  await until(() => sockets === 1, 3000, 'the upgrade to reach live');
  s.destroy();
  await until(() => sockets === 0, 3000, 'the upstream connection to be closed');
  t.equal(sockets, 0, 'live holds no connection for a client that is gone');
});
