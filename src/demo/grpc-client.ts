// The gRPC demo's client: calls over one h2c connection (prior knowledge) with
// Node's own http2, the request framed and the answer unframed by grpc-wire.ts.
import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { grpcMessageText } from '../compare/compare.js';
import { grpcCodeName, grpcStatusOf } from '../http/grpc.js';
import { frame, unframe } from './grpc-wire.js';

export interface GrpcReply {
  /** grpc-status (from the trailers, or the headers of a trailers-only answer); null when none came. */
  readonly status: number | null;
  /** Its name: OK, NOT_FOUND, ... (OTHER for none or an unknown number). */
  readonly code: string;
  /** grpc-message, decoded ("" when none). */
  readonly message: string;
  readonly messages: readonly Buffer[];
  readonly headers: IncomingHttpHeaders;
  readonly trailers: IncomingHttpHeaders | null;
}

export interface GrpcClient {
  /** One call: `path` is /pkg.Service/Method, `request` the message (unframed). */
  call(path: string, request: Buffer, timeoutMs?: number): Promise<GrpcReply>;
  close(): Promise<void>;
}

/** A client of the gRPC server at `url` (http://host:port). */
export async function connectGrpc(url: string): Promise<GrpcClient> {
  const session: ClientHttp2Session = http2.connect(url);
  // Failures reach each call through its stream; the session's own error must not go unheard.
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return {
    call: (path, request, timeoutMs = 10_000) =>
      new Promise<GrpcReply>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
        stream.setTimeout(timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
        let httpStatus: number | undefined;
        let headers: IncomingHttpHeaders = {};
        let trailers: IncomingHttpHeaders | null = null;
        const chunks: Buffer[] = [];
        stream.on('response', (h) => {
          httpStatus = h[':status'];
          headers = h;
        });
        stream.on('trailers', (t: IncomingHttpHeaders) => {
          trailers = t;
        });
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', reject);
        stream.on('close', () => {
          if (httpStatus !== 200) return reject(new Error(`${path}: HTTP status ${httpStatus ?? 'none (stream closed)'}`));
          try {
            const status = grpcStatusOf(headers, trailers);
            const raw = trailers?.['grpc-message'] ?? headers['grpc-message'];
            resolve({
              status,
              code: grpcCodeName(status),
              message: typeof raw === 'string' ? grpcMessageText(raw) : '',
              messages: unframe(Buffer.concat(chunks)),
              headers,
              trailers,
            });
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
        stream.end(frame(request));
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (session.closed || session.destroyed) return resolve();
        session.close(() => resolve());
      }),
  };
}
