// Capture tests' shared parts: a live backend with a few kinds of answer, a
// capture config, and the capture files read back.
import type { Test } from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { startBackend, metricValue, type Backend } from './net.js';
import { startTestUmbra, type TestUmbra } from './umbra.js';

export function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'umbra-capture-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function captureFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => /^capture-.*\.jsonl(\.gz)?$/.test(f))
      .sort();
  } catch {
    return [];
  }
}

/** Every record in `dir`, oldest file first, in the order written. */
export function records(dir: string): any[] {
  const out: any[] = [];
  for (const f of captureFiles(dir)) {
    let bytes = readFileSync(join(dir, f));
    if (f.endsWith('.gz')) bytes = gunzipSync(bytes);
    for (const line of bytes.toString('utf8').split('\n')) if (line !== '') out.push(JSON.parse(line));
  }
  return out;
}

/** Raw bytes of every capture file, gzip undone. */
export function rawBytes(dir: string): string {
  return captureFiles(dir)
    .map((f) => {
      const b = readFileSync(join(dir, f));
      return (f.endsWith('.gz') ? gunzipSync(b) : b).toString('latin1');
    })
    .join('');
}

/** The counter as the registry has it (also after stop, when /metrics is gone). */
export async function counted(umbra: TestUmbra, result: 'written' | 'dropped'): Promise<number> {
  return metricValue(await umbra.metrics.registry.metrics(), 'umbra_capture_records_total', { result });
}

export const b64 = (s: string | null): Buffer => Buffer.from(s ?? '', 'base64');

/** A live backend: /gz answers gzip JSON, /big 5000 bytes, /bad invalid JSON, /bin bytes, else echoes. */
export async function liveBackend(t: Test): Promise<Backend> {
  const backend = await startBackend((req, res, body) => {
    const url = req.url ?? '/';
    if (url.includes('/gz')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify({ password: 'gz-secret' })));
    } else if (url.includes('/big')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('x'.repeat(5000));
    } else if (url.includes('/bad')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"password": "bad-secret", oops');
    } else if (url.includes('/bin')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from([0, 1, 2, 255, 254, 10, 13]));
    } else {
      res.writeHead(201, { 'content-type': 'application/json', 'set-cookie': ['sid=cookie-secret; HttpOnly', 'b=2'], 'x-live': 'yes' });
      res.end(JSON.stringify({ received: body.length, token: 'not-a-field-secret', password: 'live-secret' }));
    }
  });
  t.teardown(() => backend.close());
  return backend;
}

export const captureYaml = (live: string, dir: string, extra = ''): string =>
  [
    `live: { url: "${live}" }`,
    'redact: { headers: [x-api-key], fields: ["$..password"] }',
    'routes:',
    '  - name: users',
    '    match: { prefix: /users/ }',
    '  - name: other',
    '    match: { prefix: /other/ }',
    'capture:',
    `  dir: ${JSON.stringify(dir)}`,
    extra,
  ].join('\n');

export async function start(t: Test, yaml: string): Promise<TestUmbra> {
  const umbra = await startTestUmbra(yaml, { level: 'info' });
  t.teardown(() => umbra.stop());
  return umbra;
}

