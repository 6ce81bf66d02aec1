// The kill switch's rollback time (DESIGN §7, §12; docs/release.md): with N
// shadow requests under way at a dark backend that never answers, the time from
// POST /api/mirror/pause to the moment dark sees the last of them end (its
// connection close). Measured in-process on the dark side, so it includes the
// admin call and umbra's abort, and nothing of the test's own scheduling after.

import http from 'node:http';
import { once } from 'node:events';
import { fmtMs, median } from '../lib/format.js';
import { startUmbraProcess } from '../lib/umbra.js';

export const name = 'killswitch';
export const title = 'Kill switch: how long pausing takes to cut shadow traffic';
export const about =
  'umbra as its own process, `mirror: { sample: 1.0 }`, dark `maxInFlight: 512`, `timeout: 60s`; the dark backend ' +
  'holds every request and never answers. N GETs are sent through umbra (live answers at once), then, once dark holds ' +
  'all N, `POST /api/mirror/pause`; the time is from that call to the last request\'s connection closing at dark. ' +
  'Five rounds per N, resuming in between. DESIGN bound: within 1 s.';

const SIZES = [16, 64, 256];
const ROUNDS = 5;
const BOUND_MS = 1000;

async function listen(server) {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${server.address().port}`;
}

/** A dark backend that holds every request; `closed` gets the time each one's socket closed. */
async function hangingDark() {
  const state = { seen: 0, closedAt: [] };
  const server = http.createServer((req) => {
    state.seen++;
    req.socket.once('close', () => state.closedAt.push(performance.now()));
  });
  server.keepAliveTimeout = 60_000;
  const url = await listen(server);
  return { url, state, stop: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

function get(agent, url, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(fn, ms, what) {
  const end = performance.now() + ms;
  while (!fn()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function run(ctx) {
  const liveServer = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  const liveUrl = await listen(liveServer);
  const dark = await hangingDark();
  const umbra = await startUmbraProcess({
    liveUrl,
    extraYaml: ['dark:', `  url: ${dark.url}`, '  timeout: 60s', '  maxInFlight: 512', 'mirror:', '  sample: 1.0'].join('\n'),
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const rows = [];
  try {
    for (const n of SIZES) {
      const times = [];
      for (let round = 0; round < ROUNDS; round++) {
        dark.state.seen = 0;
        dark.state.closedAt = [];
        const statuses = await Promise.all(Array.from({ length: n }, (_, i) => get(agent, `${umbra.proxyUrl}/items/${round}-${i}`)));
        if (statuses.some((s) => s !== 200)) throw new Error(`live answered ${statuses.find((s) => s !== 200)}`);
        await waitFor(() => dark.state.seen >= n, 10_000, `${n} shadow requests at dark`);
        const started = performance.now();
        const status = await get(agent, `${umbra.adminUrl}/api/mirror/pause`, 'POST');
        if (status !== 200) throw new Error(`pause answered ${status}`);
        await waitFor(() => dark.state.closedAt.length >= n, 5_000, `${n} shadow requests to end`);
        times.push(Math.max(...dark.state.closedAt) - started);
        await get(agent, `${umbra.adminUrl}/api/mirror/resume`, 'POST');
      }
      ctx.log(`  killswitch: ${n} in flight: ${times.map((x) => x.toFixed(1)).join(', ')} ms`);
      rows.push({ n, times, median: median(times), max: Math.max(...times) });
    }
  } finally {
    agent.destroy();
    await umbra.stop();
    await dark.stop();
    liveServer.closeAllConnections();
    liveServer.close();
  }
  const worst = Math.max(...rows.map((r) => r.max));
  return {
    name,
    title,
    about,
    tables: [
      {
        head: ['shadow requests under way', 'median', 'max', 'rounds (ms)'],
        rows: rows.map((r) => [String(r.n), fmtMs(r.median), fmtMs(r.max), r.times.map((x) => x.toFixed(1)).join(', ')]),
      },
    ],
    ratios: rows.map((r) => ({ name: `kill switch, ${r.n} in flight: slowest round / the 1 s bound`, value: r.max / BOUND_MS, target: '< 1', pass: r.max < BOUND_MS })),
    notes: [`Slowest round of all: ${fmtMs(worst)} (${worst < BOUND_MS ? 'within' : '**over**'} the 1 s bound).`],
    bars: [],
    raw: rows,
  };
}
