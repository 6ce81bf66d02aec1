// The admin API's verdict answer (DESIGN §12) as the gate reads it. The server
// may be another umbra version than this CLI, so the JSON is checked here rather
// than trusted as observe/verdict.ts's type: the verdict word and the route
// names must be there; a number that is missing or not a number reads as null
// (no data), and the summary shows it as "n/a".

export const VERDICTS = ['pass', 'fail', 'inconclusive'] as const;
export type VerdictWord = (typeof VERDICTS)[number];

export interface RouteAnswer {
  readonly route: string;
  readonly verdict: VerdictWord;
  readonly comparisons: number | null;
  readonly minComparisons: number | null;
  readonly mismatches: number | null;
  readonly mismatchRate: number | null;
  readonly mismatchRateUpper: number | null;
  readonly maxMismatchRate: number | null;
  readonly errors: number | null;
  readonly mirrored: number | null;
  readonly errorRate: number | null;
  readonly maxErrorRate: number | null;
  readonly latencyRatio: number | null;
  readonly maxLatencyRatio: number | null;
  readonly reasons: readonly string[];
}

export interface VerdictAnswer {
  readonly verdict: VerdictWord;
  readonly window: string | null;
  readonly since: string | null;
  /** The answer was for all routes (`{verdict, routes}`), not one. */
  readonly all: boolean;
  readonly routes: readonly RouteAnswer[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const isVerdict = (v: unknown): v is VerdictWord => (VERDICTS as readonly unknown[]).includes(v);

function routeAnswer(v: unknown, where: string): RouteAnswer | string {
  if (!isObject(v)) return `${where} is not an object`;
  if (typeof v.route !== 'string') return `${where} has no "route" name`;
  if (!isVerdict(v.verdict)) return `${where} has no "verdict" of pass, fail or inconclusive`;
  const latency = isObject(v.latency) ? v.latency : {};
  return {
    route: v.route,
    verdict: v.verdict,
    comparisons: num(v.comparisons),
    minComparisons: num(v.minComparisons),
    mismatches: num(v.mismatches),
    mismatchRate: num(v.mismatchRate),
    mismatchRateUpper: num(v.mismatchRateUpper),
    maxMismatchRate: num(v.maxMismatchRate),
    errors: num(v.errors),
    mirrored: num(v.mirrored),
    errorRate: num(v.errorRate),
    maxErrorRate: num(v.maxErrorRate),
    latencyRatio: num(latency.ratio),
    maxLatencyRatio: num(latency.maxRatio),
    reasons: Array.isArray(v.reasons) ? v.reasons.filter((r): r is string => typeof r === 'string') : [],
  };
}

/** The answer of `GET /api/verdict`, or a sentence saying why it is not one. */
export function readVerdictAnswer(body: unknown): VerdictAnswer | string {
  if (!isObject(body)) return 'the answer is not a JSON object';
  if (Array.isArray(body.routes)) {
    if (!isVerdict(body.verdict)) return 'the answer has no "verdict" of pass, fail or inconclusive';
    const routes: RouteAnswer[] = [];
    for (const [i, r] of body.routes.entries()) {
      const route = routeAnswer(r, `routes[${i}]`);
      if (typeof route === 'string') return route;
      routes.push(route);
    }
    return { verdict: body.verdict, window: str(body.window), since: str(body.since), all: true, routes };
  }
  const route = routeAnswer(body, 'the answer');
  if (typeof route === 'string') return route;
  return { verdict: route.verdict, window: str(body.window), since: str(body.since), all: false, routes: [route] };
}
