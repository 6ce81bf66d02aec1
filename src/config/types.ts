// The validated, frozen configuration. Every duration is in milliseconds and
// every size in bytes by the time it reaches this shape.

export type { Method } from '../http/headers.js';
import type { INamespace } from 'protobufjs';
import type { Method } from '../http/headers.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface AdminConfig {
  readonly listen: ListenAddress;
  /** Empty string = no token. */
  readonly token: string;
  /**
   * Host names (no port; lower-case; IPv6 without brackets) that a token-less admin
   * accepts in the Host header besides loopback names.
   */
  readonly hosts: readonly string[];
}

/**
 * How umbra speaks to a backend (DESIGN §4): `auto` is HTTP/2 when a TLS server
 * offers it by ALPN (https) and HTTP/1.1 in clear text (http); `http1` never
 * HTTP/2; `h2c` HTTP/2 with prior knowledge in clear text; `h2` HTTP/2 over TLS.
 */
export type BackendProtocol = 'auto' | 'http1' | 'h2c' | 'h2';

export interface LiveConfig {
  readonly url: string;
  readonly protocol: BackendProtocol;
  /** ms of live-backend inactivity (connecting, waiting for headers, between body chunks) before 504. */
  readonly timeout: number;
}

export interface ForwardedConfig {
  /** false: umbra sets X-Forwarded-Host/-Proto itself; true: the client's values are kept (behind a trusted proxy). */
  readonly trust: boolean;
}

export type { HeaderEdits } from '../http/headers.js';
import type { HeaderEdits } from '../http/headers.js';

export interface DarkConfig {
  readonly url: string;
  readonly protocol: BackendProtocol;
  readonly timeout: number;
  readonly maxInFlight: number;
  /** 0 = no cap */
  readonly maxRps: number;
  readonly headers: HeaderEdits;
  /** The circuit breaker of the dark (and secondary) target (mirror/breaker.ts). */
  readonly breaker: BreakerConfig;
}

export interface BreakerConfig {
  /** Connection failures (connect, reset, protocol) in a row that open it; 0 = never. */
  readonly failures: number;
  /** ms it stays open the first time, before one probe request goes. */
  readonly cooldown: number;
  /** ms: each failed probe doubles the cooldown, up to this. */
  readonly maxCooldown: number;
}

export interface SecondaryConfig {
  readonly url: string;
  readonly protocol: BackendProtocol;
}

export type SampleKey =
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'query'; readonly name: string };

/** What orders shadow requests (`mirror.orderBy`): a sample key, or a route path parameter (`path:id`). */
export type OrderKey = SampleKey | { readonly kind: 'path'; readonly name: string };

export interface MirrorConfig {
  readonly sample: number;
  readonly sampleBy: SampleKey | null;
  /** Shadow requests sharing this key's value go to dark one at a time, in live-completion order; null = no ordering. */
  readonly orderBy: OrderKey | null;
  /** Shadow requests waiting per key value behind an earlier one; more are dropped (over_queue). */
  readonly maxQueuedPerKey: number;
  readonly methods: readonly Method[];
  readonly maxBodyBytes: number;
  readonly maxBufferedBytes: number;
  /** Where maxBufferedBytes came from: the file, a quarter of the container's memory limit, or the fixed default. */
  readonly maxBufferedBytesFrom: 'config' | 'cgroup' | 'default';
}

/** Every field path here is in canonical form (config/field-path.ts canonicalPath). */
export interface CompareConfig {
  readonly ignoreHeaders: readonly string[];
  readonly ignore: readonly string[];
  readonly unordered: readonly string[];
  readonly tolerance: number;
  /**
   * Arrays of objects paired by a member, order ignored (`compare.keyed`: array path -> member name).
   * On a route: the route's entries first, then the top-level ones for other paths.
   */
  readonly keyed: readonly KeyedArray[];
  /** Fields only the dark answer has, under these paths, are compatible additions, not mismatches. */
  readonly allowAdded: readonly string[];
  /**
   * Per-field numeric tolerances, over `tolerance` (`compare.tolerances`: path -> {absolute, relative}).
   * On a route: the route's entries first, then the top-level ones for other paths.
   */
  readonly tolerances: readonly FieldTolerance[];
  /**
   * gRPC message descriptors (`compare.protos`); absent when none are listed.
   * On a route: the top-level files, then the route's own.
   */
  readonly protos?: ProtoSchemas;
}

/** `compare.protos`: the .proto files, read and parsed when the config was loaded. */
export interface ProtoSchemas {
  /** Absolute paths, in the order listed (top-level files first on a route). */
  readonly files: readonly string[];
  /**
   * Every message, enum and service of the files and their imports, as
   * protobufjs descriptors (Root#toJSON): plain data, so it crosses to the
   * compare workers with the rules, which rebuild the types from it.
   */
  readonly descriptors: INamespace;
}

export interface KeyedArray {
  readonly path: string;
  readonly member: string;
}

/** A number at `path` matches when within `absolute` or within `relative` (0 = that form unused). */
export interface FieldTolerance {
  readonly path: string;
  readonly absolute: number;
  readonly relative: number;
}

/** Capture (DESIGN §10): sampled exchanges written as JSON Lines. */
export interface CaptureConfig {
  /** Directory of the capture files (created when missing). */
  readonly dir: string;
  /** Share of requests recorded, independent of mirror.sample. */
  readonly sample: number;
  /** Route names recorded; null = every route. */
  readonly routes: readonly string[] | null;
  /** bytes: an exchange with a larger request or answer body is not recorded (counted as dropped). */
  readonly maxBodyBytes: number;
  /** bytes: a file is closed and a new one started past this size. */
  readonly maxFileBytes: number;
  /** bytes: past this total, the oldest files are deleted. */
  readonly maxTotalBytes: number;
  /** Files written gzip-compressed (.jsonl.gz) instead of plain .jsonl. */
  readonly gzip: boolean;
}

/** The divergence store (DESIGN §11): PostgreSQL shared by every instance. */
export interface StoreConfig {
  /** postgres://user@host:port/db (a secret: never logged as written; see redactUrl). */
  readonly url: string;
  /** ms: records older than this are deleted. */
  readonly retention: number;
  /** Records waiting to be written; more are dropped (umbra_store_writes_total{result="dropped"}). */
  readonly maxQueued: number;
}

export interface RedactConfig {
  readonly headers: readonly string[];
  readonly fields: readonly string[];
}

export type RouteMatch =
  | { readonly path: string; readonly methods: readonly Method[] | null }
  | { readonly prefix: string; readonly methods: readonly Method[] | null }
  /**
   * A gRPC call (`pkg.Service/Method`) or every call of a service
   * (`pkg.Service/*`): the path `/pkg.Service/Method` (or the prefix
   * `/pkg.Service/`), method POST.
   */
  | { readonly grpc: string; readonly methods: readonly Method[] };

/** TLS on the listener (`tls: {cert, key}`): PEM files, read at start and on reload. */
export interface TlsConfig {
  /** The paths as resolved (relative ones against the config file's directory). */
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM text. */
  readonly cert: string;
  readonly key: string;
}

/** HTTP/2 on the listener (`limits.http2`). */
export interface Http2Limits {
  /** Streams a client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
  /** bytes: the flow-control window umbra grants per stream (SETTINGS_INITIAL_WINDOW_SIZE). */
  readonly initialWindowSize: number;
  /**
   * Streams a client may reset (RST_STREAM) per second on one connection before
   * umbra answers GOAWAY (ENHANCE_YOUR_CALM) and closes it: the "rapid reset"
   * attack of CVE-2023-44487.
   */
  readonly maxResetsPerSecond: number;
}

/** When a route's dark launch is ready (DESIGN §12): the release verdict's window and bounds. */
export interface GateConfig {
  /** ms the verdict looks back on (whole minutes are counted: at most 6 h). */
  readonly window: number;
  /** Fewer comparisons in the window: inconclusive. */
  readonly minComparisons: number;
  /** Mismatches / comparisons (noise is not a mismatch). */
  readonly maxMismatchRate: number;
  /** Dark failures (5xx where live was not, timeouts, resets, refused connections) / mirrored. */
  readonly maxErrorRate: number;
  /** Dark p99 / live p99 ... */
  readonly maxLatencyRatio: number;
  /** ... not judged while dark p99 is below this (ms). */
  readonly latencyFloor: number;
}

/** The automatic release dial (DESIGN §12): the route's sample moves up the steps while its gate passes. */
export interface RampConfig {
  /** Sample fractions, ascending, each in (0, 1]. */
  readonly steps: readonly number[];
  /** ms the gate must pass, at a step, before the next one. */
  readonly hold: number;
  /** On a failing gate: `pause` stops the route's mirroring; `hold` stays at the step. */
  readonly onFail: 'pause' | 'hold';
}

/** A route with the top-level mirror/compare/gate/ramp defaults already merged in. */
export interface RouteConfig {
  readonly name: string;
  readonly match: RouteMatch | null; // null only for "default"
  readonly mirror: MirrorConfig;
  readonly compare: CompareConfig;
  readonly gate: GateConfig;
  /** null: no ramp; the sample is the dial's alone. */
  readonly ramp: RampConfig | null;
  /** Who answers for this dark launch ('' when unset). */
  readonly owner: string;
  /** The date (YYYY-MM-DD) the dark launch should be released or removed by; null when unset. */
  readonly expires: string | null;
}

export interface Limits {
  /** ms: inbound header timeout (slowloris) */
  readonly headersTimeout: number;
  /** ms: inbound whole-request timeout */
  readonly requestTimeout: number;
  /** bytes: inbound header size limit (431 above it) */
  readonly maxHeaderBytes: number;
  /** inbound header fields per request (431 above it) */
  readonly maxHeaderCount: number;
  /** ms: how long SIGTERM waits for in-flight requests */
  readonly drainTimeout: number;
  /** bytes: cap on the decompressed size of a body being compared */
  readonly maxDecodedBytes: number;
  /** Past 1 MiB, a decoded layer may be at most this many times its encoded size; 0 = no ratio limit. */
  readonly maxDecodeRatio: number;
  /** divergence samples kept per route for /api/divergences */
  readonly samplesPerRoute: number;
  /** large comparisons waiting for the worker; over it they are skipped (reason busy) */
  readonly compareQueue: number;
  /** bytes: V8 heap (old generation) of each compare worker; a job that needs more ends its worker (skip compare_heap) */
  readonly compareHeap: number;
  /** info lines about mismatches per second; the rest are counted in the next line */
  readonly mismatchLogsPerSecond: number;
  readonly http2: Http2Limits;
}

export interface Config {
  /** Where it came from, for messages: a file path or "flags". */
  readonly source: string;
  /** The service beside which umbra runs ('' when unset): in divergence records and log lines, never a metric label. */
  readonly service: string;
  /** This umbra instance (the pod's name; the host name by default): in divergence records and log lines. */
  readonly instance: string;
  readonly listen: ListenAddress;
  /** null = clear text (HTTP/1.1 and h2c on the same port). */
  readonly tls: TlsConfig | null;
  readonly admin: AdminConfig;
  readonly live: LiveConfig;
  readonly forwarded: ForwardedConfig;
  readonly dark: DarkConfig | null;
  readonly secondary: SecondaryConfig | null;
  readonly mirror: MirrorConfig;
  readonly compare: CompareConfig;
  readonly redact: RedactConfig;
  /** null = capture off. */
  readonly capture: CaptureConfig | null;
  /** null = samples in memory, per process (the default). */
  readonly store: StoreConfig | null;
  /** Release verdict defaults (routes carry theirs merged). */
  readonly gate: GateConfig;
  /** The top-level ramp, null for none (routes carry theirs merged). */
  readonly ramp: RampConfig | null;
  readonly limits: Limits;
  readonly log: { readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  /** Declared routes in order, then "default" last. */
  readonly routes: readonly RouteConfig[];
}
