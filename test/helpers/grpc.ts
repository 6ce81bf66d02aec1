// gRPC servers and clients for tests, with @grpc/grpc-js and no .proto: messages
// are raw protobuf bytes, written by hand with the two wire types tests need.
import * as grpc from '@grpc/grpc-js';

/** A protobuf message of string and varint fields, by field number. */
export function pb(fields: Record<number, string | number>): Buffer {
  const out: number[] = [];
  const varint = (n: number): void => {
    let v = n;
    while (v > 0x7f) {
      out.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
  };
  for (const [k, v] of Object.entries(fields)) {
    const no = Number(k);
    if (typeof v === 'number') {
      varint(no << 3);
      varint(v);
    } else {
      const bytes = Buffer.from(v, 'utf8');
      varint((no << 3) | 2);
      varint(bytes.length);
      out.push(...bytes);
    }
  }
  return Buffer.from(out);
}

const raw = { serialize: (b: Buffer): Buffer => b, deserialize: (b: Buffer): Buffer => b };

/** shop.v1.Catalog: GetItem (unary) and ListItems (server streaming), raw bytes both ways. */
export const CATALOG: grpc.ServiceDefinition = {
  GetItem: { path: '/shop.v1.Catalog/GetItem', requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  ListItems: { path: '/shop.v1.Catalog/ListItems', requestStream: false, responseStream: true, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
};

export interface Handlers {
  GetItem(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): void;
  ListItems(call: grpc.ServerWritableStream<Buffer, Buffer>): void;
}

export interface GrpcServer {
  readonly url: string;
  readonly port: number;
  /** Calls seen, by method name. */
  readonly calls: string[];
  close(): Promise<void>;
}

export async function startGrpcServer(handlers: Handlers): Promise<GrpcServer> {
  const server = new grpc.Server();
  const calls: string[] = [];
  server.addService(CATALOG, {
    GetItem: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls.push('GetItem');
      handlers.GetItem(call, cb);
    },
    ListItems: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      calls.push('ListItems');
      handlers.ListItems(call);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls,
    close: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
}

const Client = grpc.makeGenericClientConstructor(CATALOG, 'Catalog');

export interface UnaryResult {
  readonly error: grpc.ServiceError | null;
  readonly value: Buffer | undefined;
  readonly trailers: grpc.Metadata | null;
}

export interface CatalogClient {
  getItem(message: Buffer, opts?: { deadlineMs?: number; metadata?: Record<string, string> }): Promise<UnaryResult>;
  listItems(message: Buffer): Promise<{ error: grpc.ServiceError | null; values: Buffer[] }>;
  close(): void;
}

/** A grpc-js client of shop.v1.Catalog at host:port (h2c). */
export function catalogClient(target: string): CatalogClient {
  const client = new Client(target.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  return {
    getItem(message, opts = {}) {
      return new Promise((resolve) => {
        const md = new grpc.Metadata();
        for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
        const options: grpc.CallOptions = opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs };
        let trailers: grpc.Metadata | null = null;
        const call = (client['GetItem'] as (m: Buffer, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: Buffer) => void) => grpc.ClientUnaryCall)(message, md, options, (error, value) => {
          // The status (with its trailing metadata) arrives with or after the callback.
          setImmediate(() => resolve({ error, value, trailers }));
        });
        call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
      });
    },
    listItems(message) {
      return new Promise((resolve) => {
        const values: Buffer[] = [];
        const call = (client['ListItems'] as (m: Buffer) => grpc.ClientReadableStream<Buffer>)(message);
        call.on('data', (v: Buffer) => values.push(v));
        call.on('error', (error: grpc.ServiceError) => resolve({ error, values }));
        call.on('end', () => resolve({ error: null, values }));
      });
    },
    close: () => client.close(),
  };
}
