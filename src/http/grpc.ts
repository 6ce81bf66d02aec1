// gRPC over HTTP/2, as far as the proxy and the mirror need it: which calls are
// gRPC, their status (a trailer, or a header in a trailers-only answer), their
// deadline (grpc-timeout), and the framing of a request body (a unary call
// sends exactly one message). The messages themselves are the comparison
// engine's (compare/grpc.ts).

/** gRPC status codes by number (grpc/doc/statuscodes.md): the label values of umbra_grpc_responses_total. */
export const GRPC_CODES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** A code's name; a number outside the table (or nonsense) is `OTHER`, so label values stay a closed set. */
export function grpcCodeName(status: number | null): string {
  return status !== null && Number.isInteger(status) && status >= 0 && status < GRPC_CODES.length ? (GRPC_CODES[status] as string) : 'OTHER';
}

/** A request is gRPC when its content type says so (application/grpc, application/grpc+proto, ...). */
export function isGrpcContentType(contentType: string | string[] | undefined): boolean {
  const v = Array.isArray(contentType) ? contentType[0] : contentType;
  return v !== undefined && v.length >= 16 && v.slice(0, 16).toLowerCase() === 'application/grpc' && (v.length === 16 || v[16] === '+' || v[16] === ';');
}

/** grpc-status from trailers, else from headers (a trailers-only answer); null when neither has one. */
export function grpcStatusOf(
  headers: Readonly<Record<string, string | string[] | undefined>> | null,
  trailers: Readonly<Record<string, string | string[] | undefined>> | null | undefined,
): number | null {
  const v = trailers?.['grpc-status'] ?? headers?.['grpc-status'];
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || !/^\d{1,3}$/.test(s.trim())) return null;
  return Number(s.trim());
}

const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * The deadline a gRPC client sent (`grpc-timeout: 250m`, PROTOCOL-HTTP2.md:
 * up to 8 digits and a unit H, M, S, m, u or n) in ms, or null when absent or
 * malformed.
 */
export function grpcTimeoutMs(value: string | string[] | undefined): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return null;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v.trim());
  if (m === null) return null;
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

/**
 * How many length-prefixed messages a gRPC body holds (1 byte flag, 4 bytes
 * big-endian length, then the message), or -1 when the framing does not add up.
 */
export function grpcMessageCount(body: Buffer | null): number {
  if (body === null) return 0;
  let at = 0;
  let n = 0;
  while (at < body.length) {
    if (body.length - at < 5) return -1;
    const len = body.readUInt32BE(at + 1);
    at += 5 + len;
    if (at > body.length) return -1;
    n++;
  }
  return n;
}
