// The gRPC backend of the grpc scenario, run as its own process (fork it):
//
//   node benchmarks/lib/grpc-backend.js
//
// A @grpc/grpc-js server (h2c) of shop.v1.Catalog/GetItem that answers every call
// with the same ~1 KB message (lib/grpc-catalog.js) on the next turn of its event
// loop (setImmediate), so calls that arrive together are open together and `peak`
// shows how many a client, or umbra, really has in flight. It listens on 127.0.0.1,
// port 0, sends {port} to its parent over IPC and answers 'count' with {count, peak}:
// calls received so far, and the most calls open at once since the last 'count'.

import * as grpc from '@grpc/grpc-js';
import { ANSWER, CATALOG } from './grpc-catalog.js';

let calls = 0;
let open = 0;
let peak = 0;
const server = new grpc.Server();
server.addService(CATALOG, {
  GetItem: (_call, callback) => {
    calls++;
    open++;
    if (open > peak) peak = open;
    setImmediate(() => {
      open--;
      callback(null, ANSWER);
    });
  },
});

server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`grpc-backend: ${err.message}\n`);
    process.exit(1);
  }
  process.send?.({ port, bytes: ANSWER.length, mode: 'grpc' });
});

process.on('message', (m) => {
  if (m === 'count') {
    process.send?.({ count: calls, peak });
    peak = open;
  }
});

const shutdown = () => {
  server.forceShutdown();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.on('disconnect', shutdown);
