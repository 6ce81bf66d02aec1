// pino JSON logs. Secret headers are redacted by pino itself on every line that
// carries request or response headers, whatever the caller logs.
//
// Exact numbers (divergence values a double would round) must reach a line as
// numbers, but pino writes with JSON.stringify, which on Node 20 cannot write a
// number it does not hold as a double. `loggable` puts each one into the line
// as a placeholder string, a tag made at random for this process followed by
// the number's text, and the streamWrite hook swaps every placeholder for the
// bare number just before the line is written. Data from a backend cannot forge
// a placeholder: it does not know the tag.
import { randomBytes } from 'node:crypto';
import { pino, type Logger, type DestinationStream } from 'pino';
import { exactText, isExactNumber } from '../compare/index.js';
import { SECRET_HEADERS } from '../http/headers.js';

export type { Logger };

const TAG = `umbra-exact-${randomBytes(12).toString('base64url')}:`;
const PLACEHOLDER = new RegExp(`"${TAG}(-?(?:0|[1-9]\\d*)(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)"`, 'g');
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** A copy of a value for a log line, its exact numbers as placeholders the logger writes as numbers. */
export function loggable(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (isExactNumber(v)) {
    const text = exactText(v);
    return NUMBER.test(text) ? `${TAG}${text}` : text;
  }
  if (Array.isArray(v)) return v.map(loggable);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    Object.defineProperty(out, k, { value: loggable((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function exactNumbers(line: string): string {
  return line.includes(TAG) ? line.replace(PLACEHOLDER, '$1') : line;
}

/** Who writes the lines: the service umbra runs beside and this instance (DESIGN §9), on every line. */
export interface LogIdentity {
  readonly service: string;
  readonly instance: string;
}

export function createLogger(
  level: string,
  extraSecretHeaders: readonly string[] = [],
  destination?: DestinationStream,
  identity: LogIdentity = { service: '', instance: '' },
): Logger {
  const headers = [...SECRET_HEADERS, ...extraSecretHeaders.map((h) => h.toLowerCase())];
  const paths: string[] = [];
  for (const h of headers) {
    const key = /^[a-z_$][a-z0-9_$]*$/.test(h) ? `.${h}` : `["${h}"]`;
    paths.push(`req.headers${key}`, `res.headers${key}`, `headers${key}`);
  }
  return pino(
    {
      level,
      base: { name: 'umbra', service: identity.service, instance: identity.instance },
      // `level` as a word ("warn"), as log stores and people read it (DESIGN §9).
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: { streamWrite: exactNumbers },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
