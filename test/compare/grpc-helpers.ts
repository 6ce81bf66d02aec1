// Shared by the gRPC tests: frames and answers as a gRPC backend sends them.
import type { Answer } from '../../src/compare/index.js';

/** One length-prefixed message: flag, big-endian length, bytes. */
export function frame(data: Uint8Array, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** A unary gRPC answer: status 200, application/grpc, the frames, grpc-status trailers. */
export function grpcAnswer(body: Buffer, trailers: Record<string, string> = { 'grpc-status': '0' }, headers: Record<string, string> = {}): Answer {
  return { status: 200, headers: { 'content-type': 'application/grpc', ...headers }, body, trailers, truncated: false };
}
