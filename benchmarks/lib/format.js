// Number formatting shared by the scenarios and the report.

export const MiB = 1024 * 1024;

export function fmtRps(x) {
  return x === null || x === undefined ? 'n/a' : Math.round(x).toLocaleString('en-US');
}

export function fmtMs(x) {
  if (x === null || x === undefined) return 'n/a';
  if (x >= 100) return `${Math.round(x)} ms`;
  if (x >= 10) return `${x.toFixed(1)} ms`;
  return `${x.toFixed(2)} ms`;
}

export function fmtMiB(bytes) {
  return bytes === null || bytes === undefined ? 'n/a' : `${(bytes / MiB).toFixed(1)} MiB`;
}

export function fmtPct(x) {
  return x === null || x === undefined ? 'n/a' : `${Math.round(x)} %`;
}

export function fmtRatio(x) {
  return x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(2);
}

/** Failed requests (socket errors, timeouts, non-2xx answers) over all rounds of a configuration. */
export function failures(r) {
  return r.failedAllRounds ?? r.errors + r.timeouts + r.non2xx;
}

export function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null;
}

/** The median of `xs` (NaN for none). */
export function median(xs) {
  if (xs.length === 0) return NaN;
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 === 1 ? a[m] : (a[m - 1] + a[m]) / 2;
}

/**
 * Round i of `a` over round i of `b` for `field`, then the median over rounds
 * (finite ratios only): two configurations measured one right after the other, so
 * a burst of foreign load that hits one round moves one paired ratio, not the result.
 */
export function pairedMedian(a, b, field) {
  return median(pairedRatios(a, b, field));
}

/** Round i of `a` over round i of `b` for `field`, in round order; rounds without a finite ratio are left out. */
export function pairedRatios(a, b, field) {
  return (a ?? []).map((x, i) => ratio(x[field], b?.[i]?.[field])).filter((x) => Number.isFinite(x));
}

/** The `p` quantile (0-1) of sorted `s`, interpolated between neighbours. */
function quantile(s, p) {
  const at = (s.length - 1) * p;
  const lo = Math.floor(at);
  return lo + 1 < s.length ? s[lo] + (s[lo + 1] - s[lo]) * (at - lo) : s[lo];
}

/**
 * How far a goal's paired ratios spread over the run, for its verdict: how close
 * a miss or a pass is to the machine's own noise. '' for none.
 */
export function fmtPairedSpread(xs) {
  if (xs.length === 0) return '';
  const s = [...xs].sort((x, y) => x - y);
  const f = (x) => x.toFixed(2);
  return `${s.length} paired round${s.length === 1 ? "" : "s"} from ${f(s[0])} to ${f(s[s.length - 1])}, middle half ${f(quantile(s, 0.25))}-${f(quantile(s, 0.75))}`;
}

/** A goal ratio row; `ok` false (umbra did not mirror) reports no value. `note` goes beside the verdict. */
export function goal(name, value, op, target, ok, note) {
  const v = ok ? value : null;
  return { name, value: v, target: `${op} ${target}`, pass: v === null ? undefined : op === '≥' ? v >= target : v <= target, note: ok ? note || undefined : 'umbra did not mirror' };
}

export function fmtCores(x) {
  return x === null || x === undefined ? 'n/a' : x.toFixed(2);
}

/** "min–max" of the rounds' throughput, for the spread column. */
export function fmtSpread(r) {
  return r.rounds.length < 2 ? '—' : `${fmtRps(r.rpsMin)}–${fmtRps(r.rpsMax)}`;
}

/** A closed-loop round's usual columns: req/s, p50, p99, failed, CPU, peak RSS (VmHWM). */
export function loadCells(r) {
  return [fmtRps(r.rps), fmtMs(r.p50Ms), fmtMs(r.p99Ms), String(failures(r)), fmtPct(r.cpuPercent), fmtMiB(r.rssHwmBytes)];
}

/**
 * The h2 and grpc scenarios' ratios: umbra with mirroring off against direct (the
 * proxy hop), mirroring every request against direct, and against mirroring off.
 * `unit` names throughput (req/s, calls/s); `hop` and `cost` are the notes of the
 * first and last ratio; `mirrors` false when umbra did not mirror in the round.
 */
export function proxyRatios({ direct, off, mirrored, mirrors, unit, hop, cost }) {
  const measures = [
    [unit, 'rps'],
    ['p50 latency', 'p50Ms'],
    ['p99 latency', 'p99Ms'],
  ];
  const notMirrored = 'umbra did not mirror';
  return [
    ...measures.map(([what, k], i) => ({ name: `umbra mirroring off / direct, ${what}`, value: ratio(off[k], direct[k]), ...(i === 0 ? { note: hop } : {}) })),
    ...measures.map(([what, k]) => ({ name: `umbra mirror 100 % / direct, ${what}`, value: mirrors ? ratio(mirrored[k], direct[k]) : null, note: mirrors ? undefined : notMirrored })),
    { name: `umbra mirror 100 % / mirroring off, ${unit}`, value: mirrors ? ratio(mirrored.rps, off.rps) : null, note: mirrors ? cost : notMirrored },
  ];
}
