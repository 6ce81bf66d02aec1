// Every error umbra raises on purpose is an UmbraError with a stable `code`, so
// callers (the CLI's exit status, the admin API, hot reload) branch on the code
// and never on message text.

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
  declare readonly code: 'UMBRA_COMPARE_WORKER' | 'UMBRA_COMPARE_TIMEOUT' | 'UMBRA_COMPARE_CLOSED';
  constructor(code: 'UMBRA_COMPARE_WORKER' | 'UMBRA_COMPARE_TIMEOUT' | 'UMBRA_COMPARE_CLOSED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A field path (`$.a.b`, `$..x`, `$.items[*]`) that cannot be parsed. */
export class PathSyntaxError extends UmbraError {
  declare readonly code: 'UMBRA_BAD_FIELD_PATH';
  readonly path: string;
  constructor(path: string, detail: string) {
    super('UMBRA_BAD_FIELD_PATH', `bad field path ${JSON.stringify(path)}: ${detail}`);
    this.path = path;
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

/** A command line that cannot be used (exit status 2). */
export class UsageError extends UmbraError {
  declare readonly code: 'UMBRA_USAGE';
  constructor(message: string) {
    super('UMBRA_USAGE', message);
  }
}

/** System error codes that mean "could not reach the backend at all". */
export const CONNECT_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);
