// pino JSON logs. Secret headers are redacted by pino itself on every line that
// carries request or response headers, whatever the caller logs.
import { pino, type Logger, type DestinationStream } from 'pino';
import { SECRET_HEADERS } from '../http/headers.js';

export type { Logger };

export function createLogger(
  level: string,
  extraSecretHeaders: readonly string[] = [],
  destination?: DestinationStream,
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
      base: { name: 'umbra' },
      redact: { paths, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ sync: false }),
  );
}
