// `umbra replay`'s options, from parseArgs values to a checked, typed shape.
// Every problem is a UsageError (exit status 2) that names the flag.
import { parseDuration } from '../config/units.js';
import { UsageError } from '../errors.js';

export interface ReplayOptions {
  /** Capture files and directories, in the order given. */
  readonly inputs: readonly string[];
  readonly target: string;
  /** --config FILE: routes and rules; null = the default rules, one route. */
  readonly config: string | null;
  readonly concurrency: number;
  /** Requests started per second; 0 = no cap. */
  readonly rate: number;
  readonly ordered: boolean;
  /** --header, in order; names in lower case. */
  readonly headers: readonly (readonly [string, string])[];
  readonly secondary: string | null;
  /** 0..1 */
  readonly maxMismatchRate: number;
  readonly report: string | null;
  /** ms for one exchange with the target (or the secondary), connect to last byte. */
  readonly timeout: number;
}

export const REPLAY_DEFAULTS = Object.freeze({ concurrency: 8, rate: 0, maxMismatchRate: 0, timeout: 30_000 });

/** The flags `umbra replay` takes (node:util parseArgs options). */
export const REPLAY_FLAGS = {
  target: { type: 'string' },
  config: { type: 'string', short: 'c' },
  concurrency: { type: 'string' },
  rate: { type: 'string' },
  ordered: { type: 'boolean' },
  header: { type: 'string', multiple: true },
  secondary: { type: 'string' },
  'max-mismatch-rate': { type: 'string' },
  report: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ReplayFlagValues {
  target?: string | undefined;
  config?: string | undefined;
  concurrency?: string | undefined;
  rate?: string | undefined;
  ordered?: boolean | undefined;
  header?: string[] | undefined;
  secondary?: string | undefined;
  'max-mismatch-rate'?: string | undefined;
  report?: string | undefined;
  timeout?: string | undefined;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const NUMBER = /^\s*\d+(\.\d+)?\s*$/;

function httpUrl(flag: string, value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`${flag} must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${flag} must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  if (u.search !== '' || u.hash !== '') throw new UsageError(`${flag} may not have a query or fragment: the captured request target is appended to it`);
  return value;
}

/** `name: value` as curl writes it: a header name, a colon, the value (spaces around it trimmed). */
export function parseHeaderFlag(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon === -1 ? '' : text.slice(0, colon).trim();
  if (colon === -1 || !TOKEN.test(name)) throw new UsageError(`--header must be "name: value", got ${JSON.stringify(text)}`);
  const value = text.slice(colon + 1).trim();
  if (!FIELD_VALUE.test(value)) throw new UsageError(`--header ${name}: the value holds a character a header may not carry (CR, LF, NUL)`);
  const lower = name.toLowerCase();
  if (['content-length', 'transfer-encoding', 'connection', 'upgrade', 'keep-alive', 'te', 'trailer', 'expect'].includes(lower)) {
    throw new UsageError(`--header ${name}: umbra sets how a replayed request is framed and connected; this header cannot be given`);
  }
  return [lower, value];
}

function number(flag: string, value: string, check: (n: number) => boolean, what: string): number {
  const n = NUMBER.test(value) ? Number(value) : NaN;
  if (!check(n)) throw new UsageError(`${flag} must be ${what}, got ${JSON.stringify(value)}`);
  return n;
}

export function replayOptions(values: ReplayFlagValues, positionals: readonly string[]): ReplayOptions {
  if (values.target === undefined || values.target === '') throw new UsageError('replay needs --target URL: where to send the captured requests');
  if (positionals.length === 0) throw new UsageError('replay needs at least one capture FILE or DIR');
  const ordered = values.ordered === true;
  if (ordered && values.concurrency !== undefined) throw new UsageError('--ordered sends one request at a time: leave out --concurrency');
  const concurrency =
    values.concurrency === undefined
      ? REPLAY_DEFAULTS.concurrency
      : number('--concurrency', values.concurrency, (n) => Number.isInteger(n) && n >= 1 && n <= 1024, 'a whole number from 1 to 1024');
  const rate = values.rate === undefined ? REPLAY_DEFAULTS.rate : number('--rate', values.rate, (n) => n >= 0 && Number.isFinite(n), 'a number of requests per second (0 = no cap)');
  const maxMismatchRate =
    values['max-mismatch-rate'] === undefined
      ? REPLAY_DEFAULTS.maxMismatchRate
      : number('--max-mismatch-rate', values['max-mismatch-rate'], (n) => n >= 0 && n <= 1, 'a fraction from 0 to 1 (0.05 = 5%)');
  let timeout: number = REPLAY_DEFAULTS.timeout;
  if (values.timeout !== undefined) {
    const ms = parseDuration(values.timeout);
    if (ms === undefined || ms < 1) throw new UsageError(`--timeout must be a duration such as 30s, 500ms or 1m, got ${JSON.stringify(values.timeout)}`);
    timeout = ms;
  }
  return {
    inputs: [...positionals],
    target: httpUrl('--target', values.target),
    config: values.config === undefined || values.config === '' ? null : values.config,
    concurrency: ordered ? 1 : concurrency,
    rate,
    ordered,
    headers: (values.header ?? []).map(parseHeaderFlag),
    secondary: values.secondary === undefined ? null : httpUrl('--secondary', values.secondary),
    maxMismatchRate,
    report: values.report === undefined || values.report === '' ? null : values.report,
    timeout,
  };
}
