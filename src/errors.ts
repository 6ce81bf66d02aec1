// Every error umbra raises on purpose is an UmbraError with a stable `code`, so
// callers (the CLI's exit status, the admin API, hot reload) branch on the code
// and never on message text. The closed sets of reasons (mirror decisions,
// shadow errors, skips, refusals) live here too: metrics, logs and the API use
// these and no others.

export class UmbraError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One thing wrong with a configuration. `path` is the key path ("dark.timeout",
 *  "routes[0].match.path"), empty when the problem is not tied to a key (a YAML
 *  syntax error, an unreadable file); `line` is 1-based, null when unknown. */
export interface ConfigProblem {
  readonly path: string;
  readonly line: number | null;
  readonly message: string;
}

/** Formats one problem as `source:line: key.path: message`. */
export function formatProblem(source: string, problem: ConfigProblem): string {
  const where = problem.line === null ? source : `${source}:${problem.line}`;
  return problem.path === '' ? `${where}: ${problem.message}` : `${where}: ${problem.path}: ${problem.message}`;
}

/** A configuration (file, text or flags) that cannot be used. Carries every
 *  problem found, not just the first; `message` is one line per problem. */
export class ConfigError extends UmbraError {
  declare readonly code: 'UMBRA_CONFIG';
  readonly source: string;
  readonly problems: readonly ConfigProblem[];

  constructor(source: string, problems: readonly ConfigProblem[], options?: ErrorOptions) {
    super('UMBRA_CONFIG', problems.map((p) => formatProblem(source, p)).join('\n'), options);
    this.source = source;
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}

/** The comparison worker's queue is full; the comparison is skipped (reason busy). */
export class CompareBusyError extends UmbraError {
  declare readonly code: 'UMBRA_COMPARE_BUSY';
  constructor() {
    super('UMBRA_COMPARE_BUSY', 'compare queue is full');
  }
}

/** A comparison worker failed, timed out, or the pool was closed. */
export class ComparePoolError extends UmbraError {
  declare readonly code: 'UMBRA_COMPARE_WORKER' | 'UMBRA_COMPARE_TIMEOUT' | 'UMBRA_COMPARE_CLOSED' | 'UMBRA_COMPARE_OVER_MEMORY' | 'UMBRA_COMPARE_HEAP';
  constructor(code: 'UMBRA_COMPARE_WORKER' | 'UMBRA_COMPARE_TIMEOUT' | 'UMBRA_COMPARE_CLOSED' | 'UMBRA_COMPARE_OVER_MEMORY' | 'UMBRA_COMPARE_HEAP', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A field path (`$.a.b`, `$..x`, `$.items[*]`) that cannot be parsed. */
export class PathSyntaxError extends UmbraError {
  declare readonly code: 'UMBRA_BAD_FIELD_PATH';
  readonly path: string;
  /** 0-based offset in `path` of what is wrong; null when it is the path as a whole. */
  readonly at: number | null;
  /** What is wrong (and, when one is clear, the fix), without the path. */
  readonly detail: string;
  constructor(path: string, detail: string, at: number | null = null) {
    const where = at === null ? '' : ` at character ${at + 1}`;
    super('UMBRA_BAD_FIELD_PATH', `bad field path ${JSON.stringify(path)}${where}: ${detail}`);
    this.path = path;
    this.at = at;
    this.detail = detail;
  }
}

/** An admin request body that is too large or not JSON. */
export class AdminBodyError extends UmbraError {
  declare readonly code: 'UMBRA_ADMIN_BODY';
  readonly status: number;
  constructor(status: number, message: string) {
    super('UMBRA_ADMIN_BODY', message);
    this.status = status;
  }
}

/** A body that should be JSON and does not parse (a `type` difference, never a crash). */
export class JsonSyntaxError extends UmbraError {
  declare readonly code: 'UMBRA_JSON_SYNTAX';
  constructor(message: string) {
    super('UMBRA_JSON_SYNTAX', message);
  }
}

/** The demo could not run (its config is missing, a backend answered wrong). */
export class DemoError extends UmbraError {
  declare readonly code: 'UMBRA_DEMO';
  constructor(message: string) {
    super('UMBRA_DEMO', message);
  }
}

/** A broken invariant inside umbra (a bug, not bad input): validation should have made it impossible. */
export class InternalError extends UmbraError {
  declare readonly code: 'UMBRA_INTERNAL';
  constructor(message: string) {
    super('UMBRA_INTERNAL', message);
  }
}

/** A command line that cannot be used (exit status 2). */
export class UsageError extends UmbraError {
  declare readonly code: 'UMBRA_USAGE';
  constructor(message: string) {
    super('UMBRA_USAGE', message);
  }
}

/** The live backend failed; the client gets 502 (504 for a timeout) with `{error}`. */
export class LiveError extends UmbraError {
  declare readonly code: 'UMBRA_LIVE_CONNECT' | 'UMBRA_LIVE_TIMEOUT' | 'UMBRA_LIVE_RESET' | 'UMBRA_LIVE_PROTOCOL';
  readonly reason: UpstreamFailure;
  constructor(reason: UpstreamFailure, options?: ErrorOptions) {
    super(LIVE_CODES[reason], LIVE_MESSAGES[reason], options);
    this.reason = reason;
  }
  get status(): number {
    return this.reason === 'timeout' ? 504 : 502;
  }
}

/** A shadow request (dark or secondary) failed; counted, never seen by the client. */
export class ShadowError extends UmbraError {
  declare readonly code: 'UMBRA_SHADOW';
  readonly reason: ShadowErrorReason;
  constructor(reason: ShadowErrorReason, message: string, options?: ErrorOptions) {
    super('UMBRA_SHADOW', message, options);
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------
// Reasons: one closed set of codes each, used by metrics labels, log lines and
// the admin API alike. Nothing outside these lists is ever a label value.

/** Mirror decisions (umbra_mirror_decisions_total{decision}); all but `mirrored` drop the shadow. */
export const DECISIONS = [
  'mirrored',
  'not_sampled',
  'method_excluded',
  'body_too_large',
  'over_in_flight',
  'over_rate',
  'over_memory',
  'over_queue',
  'paused',
  'streaming',
  'dark_down',
] as const;
export type Decision = (typeof DECISIONS)[number];
export type DropDecision = Exclude<Decision, 'mirrored'>;

/** Why a shadow request failed (umbra_shadow_errors_total{reason}). */
export const SHADOW_ERROR_REASONS = ['timeout', 'connect', 'reset', 'protocol', 'too_large'] as const;
export type ShadowErrorReason = (typeof SHADOW_ERROR_REASONS)[number];

/** Why a live exchange did not complete (umbra_live_errors_total{reason}). */
export const LIVE_FAILURES = ['connect', 'timeout', 'reset', 'protocol', 'client_abort'] as const;
export type LiveFailure = (typeof LIVE_FAILURES)[number];
export type UpstreamFailure = Exclude<LiveFailure, 'client_abort'>;

const LIVE_CODES = {
  connect: 'UMBRA_LIVE_CONNECT',
  timeout: 'UMBRA_LIVE_TIMEOUT',
  reset: 'UMBRA_LIVE_RESET',
  protocol: 'UMBRA_LIVE_PROTOCOL',
} as const satisfies Record<UpstreamFailure, string>;

const LIVE_MESSAGES: Record<UpstreamFailure, string> = {
  connect: 'live backend unreachable',
  timeout: 'live backend timed out',
  reset: 'live backend closed the connection',
  protocol: 'live backend sent an invalid answer',
};

/** Why the comparison engine itself gave up on a pair. */
export const ENGINE_SKIP_REASONS = ['too_large', 'decode_error', 'decode_too_large', 'decode_too_deep', 'over_memory', 'busy', 'compare_heap', 'compare_error'] as const;
export type EngineSkipReason = (typeof ENGINE_SKIP_REASONS)[number];

/**
 * Why a mirrored exchange was not compared (umbra_comparison_skips_total{reason}):
 * the engine's reasons, the live side's failure, or the dark side's.
 */
export const SKIP_REASONS = [
  ...ENGINE_SKIP_REASONS,
  // A gRPC call whose live answer held more than one message (server streaming): its dark copy was sent, not compared.
  'streaming',
  ...LIVE_FAILURES.map((r) => `live_${r}` as const),
  ...SHADOW_ERROR_REASONS.map((r) => `dark_${r}` as const),
  'dark_over_memory',
  // The dark request was aborted by the kill switch (or its route's pause) before it answered.
  'dark_paused',
] as const;
export type SkipReason = EngineSkipReason | 'streaming' | `live_${LiveFailure}` | `dark_${ShadowErrorReason}` | 'dark_over_memory' | 'dark_paused';

/** Inbound requests umbra refuses itself (umbra_client_errors_total{reason}). */
export const REFUSALS = {
  malformed: { status: 400, text: 'Bad Request', message: 'malformed request' },
  header_too_large: { status: 431, text: 'Request Header Fields Too Large', message: 'request header section too large' },
  too_many_headers: { status: 431, text: 'Request Header Fields Too Large', message: 'too many header fields' },
  timeout: { status: 408, text: 'Request Timeout', message: 'request not received in time' },
  draining: { status: 503, text: 'Service Unavailable', message: 'shutting down' },
  /** HTTP/2: a client that resets streams faster than limits.http2.maxResetsPerSecond loses its connection (GOAWAY). */
  rapid_reset: { status: 429, text: 'Too Many Requests', message: 'too many streams reset' },
} as const satisfies Record<string, { status: number; text: string; message: string }>;
export type Refusal = keyof typeof REFUSALS;

/** System error codes that mean "could not reach the backend at all". */
export const CONNECT_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

/**
 * A file `umbra replay` cannot use, found before anything is sent: a capture
 * file or directory that is missing or unreadable, a directory without capture
 * files, a --report file that cannot be written (exit status 2).
 */
export class ReplayFileError extends UmbraError {
  declare readonly code: 'UMBRA_REPLAY_FILE';
  constructor(message: string, options?: ErrorOptions) {
    super('UMBRA_REPLAY_FILE', message, options);
  }
}
