// Capture files for replay tests, written as the capture feature writes them
// (DESIGN §10): one JSON object a line, bodies base64.
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

export interface ExchangeSpec {
  method?: string;
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | null;
  status?: number;
  liveHeaders?: Record<string, string | string[]>;
  /** The recorded live answer's body; an object is written as JSON. */
  live?: unknown;
  ms?: number;
}

let seq = 0;

export function captureLine(x: ExchangeSpec): string {
  const liveBody = x.live === undefined ? '' : typeof x.live === 'string' ? x.live : JSON.stringify(x.live);
  return JSON.stringify({
    v: 1,
    id: `c${++seq}`,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    route: 'default',
    request: {
      method: x.method ?? 'GET',
      path: x.path,
      headers: x.headers ?? {},
      body: x.body === undefined || x.body === null ? null : Buffer.from(x.body).toString('base64'),
    },
    live: {
      status: x.status ?? 200,
      headers: x.liveHeaders ?? (typeof x.live === 'string' ? { 'content-type': 'text/plain' } : { 'content-type': 'application/json' }),
      body: Buffer.from(liveBody).toString('base64'),
      ms: x.ms ?? 2,
    },
  });
}

/** Writes exchanges (or raw lines, for corrupt ones) as a .jsonl or, by name, .jsonl.gz file. */
export function writeCapture(file: string, lines: readonly (ExchangeSpec | string)[]): string {
  const text = lines.map((l) => (typeof l === 'string' ? l : captureLine(l))).join('\n') + '\n';
  writeFileSync(file, file.endsWith('.gz') ? gzipSync(text) : text);
  return file;
}
