// `umbra gate`'s options, from parseArgs values to a checked, typed shape.
// Every problem is a UsageError (exit status 2) that names the flag.
import { parseDuration } from '../config/units.js';
import { UsageError } from '../errors.js';

export const GATE_USAGE = `umbra gate - wait for a release verdict from umbra's admin API (docs/gate.md)

Usage:
  umbra gate --admin URL [--route NAME] [--window 15m] [--token T] [--wait 30m]
             [--interval 10s] [--json]

Options:
  --admin URL         the admin listener, e.g. http://127.0.0.1:9901 (required)
  --route NAME        one route's verdict (default: all routes together)
  --window DURATION   what the verdict looks back on (default: the config's gate.window)
  --token T           sent as "Authorization: Bearer T" (default: $UMBRA_ADMIN_TOKEN)
  --wait DURATION     poll until pass or fail, at most this long (default: ask once)
  --interval DURATION time between polls while waiting, at least 100ms (default 10s)
  --json              print the admin API's answer as JSON instead of a summary

  Durations take a unit: 250ms, 10s, 15m, 1h.

Exit status: 0 pass; 1 fail, or the admin API could not be reached or answered
an error; 2 bad usage; 3 still inconclusive (when the wait ended, or at once
without --wait). While waiting, connection errors and 5xx answers are retried.
`;

/** The flags `umbra gate` takes (node:util parseArgs options). */
export const GATE_FLAGS = {
  admin: { type: 'string' },
  route: { type: 'string' },
  window: { type: 'string' },
  token: { type: 'string' },
  wait: { type: 'string' },
  interval: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface GateFlagValues {
  admin?: string | undefined;
  route?: string | undefined;
  window?: string | undefined;
  token?: string | undefined;
  wait?: string | undefined;
  interval?: string | undefined;
  json?: boolean | undefined;
}

export interface GateOptions {
  /** The admin listener's base URL, as given (a path prefix is kept). */
  readonly admin: string;
  /** null: all routes together. */
  readonly route: string | null;
  /** As given (`15m`); null: the server's default. */
  readonly window: string | null;
  /** The bearer token; null: none. Never printed. */
  readonly token: string | null;
  /** ms to keep polling; null: ask once. */
  readonly wait: number | null;
  /** ms between polls. */
  readonly interval: number;
  readonly json: boolean;
}

export const GATE_DEFAULTS = Object.freeze({ interval: 10_000 });

/** Polling faster than this only loads the admin API: an answer changes by the minute. */
export const MIN_INTERVAL = 100;

const HAS_UNIT = /[a-z]\s*$/i;

/**
 * A duration with a unit: `--wait 30` could mean seconds or minutes to a person
 * and would mean milliseconds to parseDuration, so a bare number is refused
 * (except 0, which is 0 in any unit).
 */
function duration(flag: string, value: string, min: number): number {
  const ms = parseDuration(value);
  const unitless = !HAS_UNIT.test(value) && ms !== 0;
  if (ms === undefined || unitless || ms < min) {
    const floor = min > 1 ? `, at least ${min}ms` : min === 1 ? ', more than 0' : '';
    throw new UsageError(`${flag} must be a duration with a unit such as 250ms, 10s, 15m or 1h${floor}, got ${JSON.stringify(value)}`);
  }
  return ms;
}

function adminUrl(value: string): string {
  const bad = (why: string): UsageError => new UsageError(`--admin must be ${why}, got ${JSON.stringify(value)}`);
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw bad('an http:// or https:// URL such as http://127.0.0.1:9901');
  }
  // `127.0.0.1:9901` parses, with "127.0.0.1:" as its scheme.
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw bad('an http:// or https:// URL such as http://127.0.0.1:9901');
  if (u.search !== '' || u.hash !== '') throw bad('a URL without a query or fragment: umbra gate adds /api/verdict and its query');
  // A token in the URL would be printed with every message that names the URL.
  if (u.username !== '' || u.password !== '') throw bad('a URL without credentials: give the token with --token or UMBRA_ADMIN_TOKEN');
  return value;
}

export function gateOptions(values: GateFlagValues, env: NodeJS.ProcessEnv): GateOptions {
  if (values.admin === undefined || values.admin === '') throw new UsageError('gate needs --admin URL: where umbra\'s admin listener is');
  if (values.route === '') throw new UsageError('--route must name a route; leave it out for all routes');
  if (values.token === '') throw new UsageError('--token is empty; leave it out to send no token');
  const envToken = env.UMBRA_ADMIN_TOKEN;
  const token = values.token ?? (envToken === undefined || envToken === '' ? null : envToken);
  const wait = values.wait === undefined ? null : duration('--wait', values.wait, 0);
  // Checked here, sent as written: the server reads it and echoes it back.
  if (values.window !== undefined) duration('--window', values.window, 1);
  return {
    admin: adminUrl(values.admin),
    route: values.route ?? null,
    window: values.window?.trim() ?? null,
    token,
    wait: wait === 0 ? null : wait,
    interval: values.interval === undefined ? GATE_DEFAULTS.interval : duration('--interval', values.interval, MIN_INTERVAL),
    json: values.json === true,
  };
}
