// The gRPC demo's backend: the product catalogue (catalogue.ts's products and
// prices) as the gRPC service shop.v1.Catalog (config/demo/catalog.proto), over
// h2c with Node's own http2 and the hand-written wire of grpc-wire.ts.
//
//   GetItem(GetItemRequest{1: id}) returns Item{1: id, 2: name, 3: price_cents, 4: stock}
//   ListItems(ListItemsRequest{1: category}) returns stream Item
//
// v2 is the candidate with two planted regressions: the price rounding of the
// HTTP demo (sale prices in whole units), and one item lost in its data
// migration, which v2 answers NOT_FOUND where v1 answers it.
import http2 from 'node:http2';
import type { Http2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { GRPC_CODES } from '../http/grpc.js';
import { PRODUCTS, priceOf, type CatalogueVersion, type Product } from './catalogue.js';
import { decodeMessage, encodeGrpcMessage, encodeMessage, frame, stringField, unframe } from './grpc-wire.js';

export const SERVICE = 'shop.v1.Catalog';
export const GET_ITEM = `/${SERVICE}/GetItem`;
export const LIST_ITEMS = `/${SERVICE}/ListItems`;

/** The item v2's data migration lost: v2 answers NOT_FOUND for it. */
export const LOST_ID = '7';

/** A gRPC status by name (grpc/doc/statuscodes.md). */
export type GrpcCode = (typeof GRPC_CODES)[number];

/** A request body larger than this is refused: the demo's requests are a few bytes. */
const MAX_REQUEST_BYTES = 64 * 1024;

export interface GrpcCatalogueServer {
  readonly url: string;
  readonly version: CatalogueVersion;
  /** Calls answered, by method name (GetItem, ListItems, ...). */
  readonly calls: Readonly<Record<string, number>>;
  close(): Promise<void>;
}

/** An item's price in cents, as a version answers it. */
export function priceCents(p: Product, version: CatalogueVersion): number {
  return Math.round(priceOf(p, version) * 100);
}

/** The Item message of a product. */
export function itemMessage(p: Product, version: CatalogueVersion): Buffer {
  return encodeMessage([
    [1, String(p.id)],
    [2, p.name],
    [3, priceCents(p, version)],
    [4, p.stock],
  ]);
}

interface Answer {
  readonly code: GrpcCode;
  readonly message?: string;
  readonly messages?: readonly Buffer[];
}

/** A call's answer from its method and request message, as one version answers it. */
export function answer(version: CatalogueVersion, path: string, request: Buffer): Answer {
  if (path === GET_ITEM) {
    const id = stringField(decodeMessage(request), 1);
    // v2 answers the lost item as it answers an id that never existed.
    const product = version === 'v2' && id === LOST_ID ? undefined : PRODUCTS.find((p) => String(p.id) === id);
    if (product === undefined) return { code: 'NOT_FOUND', message: `no item ${JSON.stringify(id)}` };
    return { code: 'OK', messages: [itemMessage(product, version)] };
  }
  if (path === LIST_ITEMS) {
    const category = stringField(decodeMessage(request), 1);
    const items = PRODUCTS.filter((p) => category === '' || p.category === category);
    return { code: 'OK', messages: items.map((p) => itemMessage(p, version)) };
  }
  return { code: 'UNIMPLEMENTED', message: `unknown method ${path}` };
}

function respond(stream: ServerHttp2Stream, a: Answer): void {
  if (stream.destroyed) return;
  const head = { ':status': 200, 'content-type': 'application/grpc' };
  const trailers = { 'grpc-status': String(GRPC_CODES.indexOf(a.code)), ...(a.message !== undefined ? { 'grpc-message': encodeGrpcMessage(a.message) } : {}) };
  if (a.messages === undefined) {
    // Trailers-only: an error is one HEADERS frame that ends the stream, as gRPC servers send it.
    stream.respond({ ...head, ...trailers }, { endStream: true });
    return;
  }
  stream.respond(head, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers(trailers));
  for (const m of a.messages) stream.write(frame(m));
  stream.end();
}

function onStream(version: CatalogueVersion, calls: Record<string, number>, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', () => {}); // a client that goes away mid-answer: nothing to do
  const contentType = headers['content-type'] ?? '';
  if (headers[':method'] !== 'POST' || !/^application\/grpc([+;]|$)/.test(contentType)) {
    // Not gRPC at all (PROTOCOL-HTTP2.md: 415 for a wrong content type).
    stream.respond({ ':status': headers[':method'] !== 'POST' ? 405 : 415 }, { endStream: true });
    return;
  }
  const path = headers[':path'] ?? '';
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
  });
  stream.on('end', () => {
    if (size > MAX_REQUEST_BYTES) return respond(stream, { code: 'RESOURCE_EXHAUSTED', message: 'request too large' });
    let a: Answer;
    try {
      const messages = unframe(Buffer.concat(chunks));
      if (messages.length !== 1) throw new RangeError(`expected one request message, got ${messages.length}`);
      a = answer(version, path, messages[0] as Buffer);
    } catch (err) {
      a = { code: 'INVALID_ARGUMENT', message: (err as Error).message };
    }
    const method = path.slice(path.lastIndexOf('/') + 1);
    calls[method] = (calls[method] ?? 0) + 1;
    respond(stream, a);
  });
}

/** Starts one instance (h2c, prior knowledge) on 127.0.0.1, port 0. */
export async function startGrpcCatalogue(version: CatalogueVersion): Promise<GrpcCatalogueServer> {
  const calls: Record<string, number> = {};
  const sessions = new Set<Http2Session>();
  const server = http2.createServer();
  server.on('session', (s: Http2Session) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => {}); // a peer's protocol error ends its session only
  });
  server.on('stream', (stream, headers) => onStream(version, calls, stream, headers));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    version,
    calls,
    close: async () => {
      const closed = once(server, 'close');
      server.close();
      // Clients (umbra's pools) keep their sessions open: end them, or close would wait for them.
      for (const s of sessions) s.destroy();
      await closed;
    },
  };
}
