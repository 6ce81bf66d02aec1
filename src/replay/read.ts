// Reading capture files (DESIGN §10): JSON Lines, plain or gzip, one exchange a
// line. Files are streamed and split into lines here, one chunk at a time: the
// next chunk is read only once every line of the last one has been taken, so a
// slow target holds the reader back instead of lines piling up in memory.
import { accessSync, constants, createReadStream, readdirSync, statSync, type ReadStream } from 'node:fs';
import path from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ReplayFileError } from '../errors.js';

/** A captured exchange, validated: bodies decoded, header names in lower case. */
export interface CapturedExchange {
  /** `FILE:LINE`, for messages. */
  readonly where: string;
  readonly id: string;
  readonly time: string;
  /** The route it was captured under (replay matches routes itself, by method and path). */
  readonly route: string;
  readonly request: {
    readonly method: string;
    /** The request target in origin-form: path and query. */
    readonly path: string;
    readonly headers: Readonly<Record<string, string | string[]>>;
    readonly body: Buffer;
  };
  readonly live: {
    readonly status: number;
    readonly headers: Readonly<Record<string, string | string[]>>;
    readonly body: Buffer;
    readonly ms: number;
  };
}

/** Lines longer than this are reported as corrupt and skipped without being held whole. */
export const MAX_LINE_BYTES = 256 * 1024 ** 2;

const CAPTURE_FILE = /\.jsonl(\.gz)?$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible ASCII, obs-text, spaces and tabs; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The capture files to read, in order: each FILE as given, each DIR's
 * `*.jsonl` and `*.jsonl.gz` files sorted by name (capture names them so that
 * name order is time order). Throws ReplayFileError naming a path that does
 * not exist, cannot be read, or is a directory without capture files.
 */
export function captureFiles(inputs: readonly string[]): string[] {
  const files: string[] = [];
  for (const input of inputs) {
    let isDir: boolean;
    try {
      isDir = statSync(input).isDirectory();
      accessSync(input, constants.R_OK);
    } catch (err) {
      throw new ReplayFileError(`${input}: ${reason(err)}`, { cause: err });
    }
    if (!isDir) {
      files.push(input);
      continue;
    }
    let names: string[];
    try {
      names = readdirSync(input, { withFileTypes: true })
        .filter((e) => !e.isDirectory() && CAPTURE_FILE.test(e.name))
        .map((e) => e.name)
        .sort();
    } catch (err) {
      throw new ReplayFileError(`${input}: ${reason(err)}`, { cause: err });
    }
    if (names.length === 0) throw new ReplayFileError(`${input}: no capture files (*.jsonl, *.jsonl.gz) in this directory`);
    for (const name of names) {
      const file = path.join(input, name);
      try {
        accessSync(file, constants.R_OK);
      } catch (err) {
        throw new ReplayFileError(`${file}: ${reason(err)}`, { cause: err });
      }
      files.push(file);
    }
  }
  return files;
}

function reason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return err instanceof Error ? err.message : String(err);
}

/** One line of a file, or a line too long to hold. `line` is 1-based. */
export type Line = { readonly line: number; readonly text: string } | { readonly line: number; readonly tooLong: true };

/**
 * The lines of a byte stream (LF or CRLF), pulled one chunk at a time. A last
 * line without its newline (a capture cut short) is still yielded: it is
 * usually half a JSON object, and then reported as such.
 */
export async function* splitLines(stream: AsyncIterable<Buffer>, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let held = 0;
  let skipping = false;
  let n = 0;
  const take = (last: Buffer): Line => {
    n++;
    if (skipping) {
      skipping = false;
      return { line: n, tooLong: true };
    }
    const whole = parts.length === 0 ? last : Buffer.concat([...parts, last]);
    parts = [];
    held = 0;
    const end = whole.length > 0 && whole[whole.length - 1] === 13 ? whole.length - 1 : whole.length;
    return { line: n, text: whole.toString('utf8', 0, end) };
  };
  for await (const chunk of stream) {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (!skipping && held + piece.length > maxLineBytes) {
        skipping = true;
        parts = [];
        held = 0;
      }
      yield take(piece);
    }
    if (start < chunk.length && !skipping) {
      const rest = chunk.subarray(start);
      if (held + rest.length > maxLineBytes) {
        skipping = true;
        parts = [];
        held = 0;
      } else {
        // A copy: the chunk's memory is not kept alive for a short tail.
        parts.push(Buffer.from(rest));
        held += rest.length;
      }
    }
  }
  if (skipping || held > 0) yield take(Buffer.alloc(0));
}

export interface ReadEvents {
  /** A line that is not a capture record, or a file that stops being readable. */
  corrupt(where: string, reason: string): void;
  /** A file is being opened; `bytesRead()` tells how far into it reading is (for progress). */
  file?(file: string, bytesRead: () => number): void;
}

/** The exchanges of every file in order (file order, then line order). Corrupt lines are reported and skipped. */
export async function* readCaptures(files: readonly string[], events: ReadEvents): AsyncGenerator<CapturedExchange> {
  for (const file of files) yield* readCaptureFile(file, events);
}

async function* readCaptureFile(file: string, events: ReadEvents): AsyncGenerator<CapturedExchange> {
  const raw: ReadStream = createReadStream(file);
  events.file?.(file, () => raw.bytesRead);
  const source: Readable = file.endsWith('.gz') ? pipeline(raw, createGunzip(), () => undefined) : raw;
  let line = 0;
  try {
    for await (const l of splitLines(source as AsyncIterable<Buffer>)) {
      line = l.line;
      if ('tooLong' in l) {
        events.corrupt(`${file}:${l.line}`, `line longer than ${MAX_LINE_BYTES} bytes`);
        continue;
      }
      if (l.text.trim() === '') continue;
      const x = parseCaptureLine(l.text, `${file}:${l.line}`);
      if (typeof x === 'string') events.corrupt(`${file}:${l.line}`, x);
      else yield x;
    }
  } catch (err) {
    // A gzip stream cut short (a capture that was killed) or a read error: what came before stands.
    events.corrupt(`${file}:${line + 1}`, `cannot read on: ${reason(err)}; the rest of this file is skipped`);
  } finally {
    raw.destroy();
    source.destroy();
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Base64 text to bytes; null or missing is empty; anything else that is not base64 is a string saying why. */
function body(v: unknown, where: string): Buffer | string {
  if (v === null || v === undefined) return Buffer.alloc(0);
  if (typeof v !== 'string') return `${where} must be base64 text or null`;
  if (v.length % 4 !== 0 || !BASE64.test(v)) return `${where} is not valid base64`;
  return Buffer.from(v, 'base64');
}

function headers(v: unknown, where: string): Record<string, string | string[]> | string {
  if (!isObject(v)) return `${where} must be an object`;
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(v)) {
    if (!TOKEN.test(name)) return `${where}: ${JSON.stringify(name)} is not a header name`;
    const value = v[name];
    const values = Array.isArray(value) ? value : [value];
    if (values.some((x) => typeof x !== 'string')) return `${where}.${name} must be a string or an array of strings`;
    if ((values as string[]).some((x) => !FIELD_VALUE.test(x))) return `${where}.${name} holds a character a header may not carry (CR, LF, NUL)`;
    Object.defineProperty(out, name.toLowerCase(), { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** One capture line validated into an exchange, or why it is not one. */
export function parseCaptureLine(text: string, where: string): CapturedExchange | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (!isObject(v)) return 'not a JSON object';
  if (v['v'] !== 1) return `unsupported record version ${JSON.stringify(v['v'] ?? null)} (this umbra reads v 1)`;
  for (const key of ['id', 'time', 'route'] as const) if (typeof v[key] !== 'string') return `${key} must be a string`;
  const req = v['request'];
  const live = v['live'];
  if (!isObject(req)) return 'request must be an object';
  if (!isObject(live)) return 'live must be an object';
  const method = req['method'];
  if (typeof method !== 'string' || !TOKEN.test(method)) return 'request.method must be an HTTP method';
  const target = req['path'];
  if (typeof target !== 'string' || !ORIGIN_FORM.test(target)) return 'request.path must be a request target starting with "/" (no spaces or control characters)';
  const reqHeaders = headers(req['headers'], 'request.headers');
  if (typeof reqHeaders === 'string') return reqHeaders;
  if (Array.isArray(reqHeaders['host'])) return 'request.headers.host must be one value';
  const reqBody = body(req['body'], 'request.body');
  if (typeof reqBody === 'string') return reqBody;
  const status = live['status'];
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return 'live.status must be a status code (100-599)';
  const liveHeaders = headers(live['headers'], 'live.headers');
  if (typeof liveHeaders === 'string') return liveHeaders;
  const liveBody = body(live['body'], 'live.body');
  if (typeof liveBody === 'string') return liveBody;
  const ms = live['ms'];
  if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) return 'live.ms must be a number of milliseconds';
  return {
    where,
    id: v['id'] as string,
    time: v['time'] as string,
    route: v['route'] as string,
    request: { method, path: target, headers: reqHeaders, body: reqBody },
    live: { status, headers: liveHeaders, body: liveBody, ms },
  };
}
