// nginx with its mirror module, as the reference that umbra's isolation is compared
// to. The config is generated in a temporary prefix directory; nginx runs in the
// foreground (daemon off) as a tracked child process, one worker.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, removeTempDir, spawnTracked, stop, tempDir, waitHttpOk } from './procs.js';

/** { path, version } when an nginx with the mirror module is on PATH, else { missing: reason }. */
export function findNginx() {
  const r = spawnSync('nginx', ['-V'], { encoding: 'utf8' });
  if (r.error !== undefined) return { missing: 'nginx is not on PATH (apt-get install -y nginx to add the column)' };
  const out = `${r.stdout}${r.stderr}`;
  if (out.includes('--without-http_mirror_module')) return { missing: 'this nginx was built without the mirror module' };
  const version = /nginx version: (\S+)/.exec(out)?.[1] ?? 'nginx';
  return { version };
}

/**
 * Starts nginx proxying to `liveUrl` and mirroring every request to `darkUrl`
 * (`mirror /mirror; mirror_request_body on;`), with `darkTimeoutSec` as the mirror's
 * connect/read timeout (the same budget umbra's dark side gets). `darkUrl` null:
 * a plain proxy, no mirror.
 */
export async function startNginx({ liveUrl, darkUrl, darkTimeoutSec }) {
  const prefix = tempDir('umbra-bench-nginx-');
  for (const d of ['logs', 'tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(prefix, d), { recursive: true });
  const port = await freePort();
  const live = new URL(liveUrl).host;
  const dark = darkUrl === null ? null : new URL(darkUrl).host;
  const root = process.getuid?.() === 0;
  const conf = `
${root ? 'user root;' : ''}
worker_processes 1;
daemon off;
master_process on;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  keepalive_requests 1000000;
  upstream live { server ${live}; keepalive 64; }
  ${dark === null ? '' : `upstream dark { server ${dark}; keepalive 64; }`}
  server {
    listen 127.0.0.1:${port};
    location = /__ready { return 200 "ok"; }
    location / {
      ${dark === null ? '' : 'mirror /mirror;\n      mirror_request_body on;'}
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://live;
    }
    ${dark === null ? '' : `location = /mirror {
      internal;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header x-umbra-shadow 1;
      proxy_connect_timeout ${darkTimeoutSec}s;
      proxy_read_timeout ${darkTimeoutSec}s;
      proxy_send_timeout ${darkTimeoutSec}s;
      proxy_pass http://dark$request_uri;
    }`}
  }
}
`;
  const confFile = join(prefix, 'nginx.conf');
  writeFileSync(confFile, conf);
  // -e: the error log before the config is read (otherwise /var/log/nginx/error.log).
  const child = spawnTracked('nginx', ['-p', prefix, '-c', confFile, '-e', join(prefix, 'logs', 'error.log')], { name: 'nginx' });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHttpOk(`${url}/__ready`, { child, timeoutMs: 10_000 });
  } catch (err) {
    await stop(child, 1000);
    removeTempDir(prefix);
    throw err;
  }
  return {
    child,
    url,
    async stop() {
      // SIGTERM is nginx's fast shutdown; the master takes its worker with it.
      await stop(child, 5000);
      removeTempDir(prefix);
    },
  };
}
