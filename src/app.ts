// Builds a running umbra from a validated config: the live proxy, the shadow
// side, the admin listener. The CLI (cli.ts) and the tests both start it here.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { Config } from './config/types.js';
import { createAdminServer, type ApiHandler } from './admin/server.js';
import { Router } from './mirror/routes.js';
import { createLogger, type Logger } from './observe/log.js';
import { Metrics } from './observe/metrics.js';
import { LiveProxy, type LiveState } from './proxy/live.js';
import { createProxyServer } from './proxy/server.js';

export interface UmbraOptions {
  readonly log?: Logger;
  readonly metrics?: Metrics;
}

export interface Umbra {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Where the proxy listens, e.g. http://127.0.0.1:8080 */
  readonly proxyUrl: string;
  readonly adminUrl: string;
  readonly ready: boolean;
  /** Graceful stop: not ready, stop accepting, let in-flight requests finish (up to drainTimeout). */
  stop(): Promise<void>;
}

async function listen(server: Server, host: string, port: number): Promise<string> {
  server.listen(port, host);
  await once(server, 'listening');
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${h}:${addr.port}`;
}

function buildState(config: Config): LiveState {
  return {
    target: { url: config.live.url, timeout: config.live.timeout },
    router: new Router(config.routes),
    shadow: null,
  };
}

export async function startUmbra(config: Config, opts: UmbraOptions = {}): Promise<Umbra> {
  const log = opts.log ?? createLogger(config.log.level, config.redact.headers);
  const metrics = opts.metrics ?? new Metrics();
  let ready = false;
  let stopping: Promise<void> | null = null;

  const live = new LiveProxy(buildState(config), { log, metrics });
  const proxyServer = createProxyServer(live, config.limits, log, metrics);
  const handlers: ApiHandler[] = [];
  const adminServer = createAdminServer({ token: config.admin.token, metrics, log, isReady: () => ready, handlers });

  const adminUrl = await listen(adminServer, config.admin.listen.host, config.admin.listen.port);
  let proxyUrl: string;
  try {
    proxyUrl = await listen(proxyServer, config.listen.host, config.listen.port);
  } catch (err) {
    adminServer.close();
    throw err;
  }
  ready = true;
  log.info({ listen: proxyUrl, admin: adminUrl, live: config.live.url, dark: config.dark?.url ?? null }, 'umbra started');

  const stop = async (): Promise<void> => {
    ready = false;
    log.info({ inFlight: live.active }, 'draining');
    proxyServer.close();
    proxyServer.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      live.drain().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), config.limits.drainTimeout);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) log.warn({ inFlight: live.active }, 'drain timeout: closing remaining connections');
    proxyServer.closeAllConnections();
    live.close();
    adminServer.close();
    adminServer.closeAllConnections();
    log.info('stopped');
  };

  return {
    config,
    log,
    metrics,
    proxyUrl,
    adminUrl,
    get ready() {
      return ready;
    },
    stop: () => (stopping ??= stop()),
  };
}
