// The gRPC demo writes protobuf and gRPC framing by hand (src/demo/grpc-wire.ts).
// These tests hold it to the reference: @grpc/grpc-js calls the demo's server
// and reads its framing, status and trailers; the demo's client reads a
// grpc-js server's; and the bytes match test/helpers/grpc.ts's independent encoder.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { PRODUCTS } from '../../src/demo/catalogue.js';
import { connectGrpc } from '../../src/demo/grpc-client.js';
import { GET_ITEM, LIST_ITEMS, LOST_ID, itemMessage, priceCents, startGrpcCatalogue } from '../../src/demo/grpc-catalogue.js';
import { decodeMessage, encodeGrpcMessage, encodeMessage, frame, numberField, stringField, unframe } from '../../src/demo/grpc-wire.js';
import { catalogClient, pb, startGrpcServer } from '../helpers/grpc.js';

const product = (id: number): (typeof PRODUCTS)[number] => {
  const p = PRODUCTS.find((x) => x.id === id);
  if (p === undefined) throw new Error(`no product ${id}`);
  return p;
};

t.test('encodeMessage: the bytes of an independent encoder; varints of one to several bytes', (t) => {
  t.same(encodeMessage([[1, 'LMP-1'], [2, 1250]]), pb({ 1: 'LMP-1', 2: 1250 }));
  t.same(encodeMessage([[1, 'x'], [2, 'Espresso Cup'], [3, 5737], [4, 22]]), pb({ 1: 'x', 2: 'Espresso Cup', 3: 5737, 4: 22 }));
  t.same(encodeMessage([[3, 300]]), Buffer.from([0x18, 0xac, 0x02]), '300 is AC 02 (the protobuf docs\' example)');
  t.same(encodeMessage([[20, 1]]), Buffer.from([0xa0, 0x01, 0x01]), 'a field number past 15 takes a two-byte tag');
  t.same(encodeMessage([[1, 'é']]), Buffer.from([0x0a, 0x02, 0xc3, 0xa9]), 'a string\'s length counts UTF-8 bytes');
  t.same(encodeMessage([[1, ''], [2, 0], [3, 7]]), pb({ 3: 7 }), 'fields at their proto3 default are left out');
  t.throws(() => encodeMessage([[1, -1]]), RangeError);
  t.throws(() => encodeMessage([[1, 1.5]]), RangeError);
  t.end();
});

t.test('decodeMessage: what encodeMessage wrote, fixed-width fields skipped, damage refused', (t) => {
  const fields = decodeMessage(encodeMessage([[1, '48'], [2, 'Pro Sleeping Bag'], [3, 2 ** 40], [4, 5]]));
  t.equal(stringField(fields, 1), '48');
  t.equal(stringField(fields, 2), 'Pro Sleeping Bag');
  t.equal(numberField(fields, 3), 2 ** 40, 'a varint of six bytes');
  t.equal(numberField(fields, 4), 5);
  t.equal(stringField(fields, 9), '', 'an absent string reads as ""');
  t.equal(numberField(fields, 9), 0, 'an absent number reads as 0');
  // field 5 fixed64 and field 6 fixed32 between two varints.
  const mixed = Buffer.concat([pb({ 1: 1 }), Buffer.from([0x29, 1, 2, 3, 4, 5, 6, 7, 8, 0x35, 1, 2, 3, 4]), pb({ 2: 2 })]);
  t.same(decodeMessage(mixed).map((f) => [f.no, f.value]), [[1, 1], [2, 2]]);
  t.equal(numberField(decodeMessage(Buffer.concat([pb({ 1: 1 }), pb({ 1: 2 })])), 1), 2, 'the last of a repeated scalar wins');
  t.throws(() => decodeMessage(Buffer.from([0x0a, 0x05, 0x61])), /runs past the end/);
  t.throws(() => decodeMessage(Buffer.from([0x08, 0x80])), /bad varint/);
  t.throws(() => decodeMessage(Buffer.from([0x0b])), /wire type 3/);
  t.throws(() => decodeMessage(Buffer.from([0x00, 0x01])), /field number 0/);
  t.throws(() => stringField(decodeMessage(pb({ 1: 3 })), 1), /varint, not a string/);
  t.end();
});

t.test('frame and unframe: 1 byte flag, 4 bytes big-endian length; cut or compressed frames refused', (t) => {
  const m = Buffer.from('hello');
  t.same(frame(m), Buffer.from([0, 0, 0, 0, 5, ...m]));
  t.same(frame(Buffer.alloc(0)), Buffer.alloc(5), 'an empty message is five zero bytes');
  t.same(unframe(Buffer.concat([frame(m), frame(Buffer.alloc(0)), frame(Buffer.alloc(300, 1))])), [m, Buffer.alloc(0), Buffer.alloc(300, 1)]);
  t.same(unframe(Buffer.alloc(0)), [], 'no message at all');
  t.throws(() => unframe(Buffer.from([0, 0, 0])), /not a whole sequence of gRPC frames/, 'a cut prefix');
  t.throws(() => unframe(frame(m).subarray(0, 8)), /not a whole sequence of gRPC frames/, 'a cut message');
  t.throws(() => unframe(Buffer.from([1, 0, 0, 0, 0])), /compressed/);
  t.end();
});

t.test('grpc-message: percent-encoded outside printable ASCII and for %', (t) => {
  t.equal(encodeGrpcMessage('no item "7"'), 'no item "7"');
  t.equal(encodeGrpcMessage('50% off ü\n'), '50%25 off %C3%BC%0A');
  t.end();
});

t.test('grpc-js calls the demo\'s server: messages, status, grpc-message and trailers as it reads them', async (t) => {
  const [v1, v2] = await Promise.all([startGrpcCatalogue('v1'), startGrpcCatalogue('v2')]);
  const c1 = catalogClient(v1.url);
  const c2 = catalogClient(v2.url);
  t.teardown(async () => {
    c1.close();
    c2.close();
    await Promise.all([v1.close(), v2.close()]);
  });

  const item4 = await c1.getItem(encodeMessage([[1, '4']]));
  t.equal(item4.error, null, 'OK: grpc-status 0 read from the trailers');
  t.ok(item4.trailers !== null, 'the trailers arrived (grpc-js reports them with the status)');
  t.same(item4.value, itemMessage(product(4), 'v1'), 'one message, unframed by grpc-js');
  const fields = decodeMessage(item4.value ?? Buffer.alloc(0));
  t.same([stringField(fields, 1), stringField(fields, 2), numberField(fields, 3), numberField(fields, 4)], ['4', product(4).name, 5737, product(4).stock]);

  const sale = await c2.getItem(encodeMessage([[1, '4']]));
  t.equal(numberField(decodeMessage(sale.value ?? Buffer.alloc(0)), 3), 5700, 'v2 rounds the sale price to whole units');

  const lost = await c2.getItem(encodeMessage([[1, LOST_ID]]));
  t.equal(lost.error?.code, grpc.status.NOT_FOUND, 'v2 has lost the item: NOT_FOUND, a trailers-only answer');
  t.equal(lost.error?.details, `no item "${LOST_ID}"`);
  t.equal((await c1.getItem(encodeMessage([[1, LOST_ID]]))).error, null, 'v1 still has it');

  const odd = await c1.getItem(encodeMessage([[1, '50% ü']]));
  t.equal(odd.error?.code, grpc.status.NOT_FOUND);
  t.equal(odd.error?.details, 'no item "50% ü"', 'a percent-encoded grpc-message, decoded by grpc-js');

  const list = await c1.listItems(encodeMessage([[1, 'outdoor']]));
  t.equal(list.error, null, 'a server stream ends with grpc-status 0');
  t.same(list.values, PRODUCTS.filter((p) => p.category === 'outdoor').map((p) => itemMessage(p, 'v1')), 'every message, in order');
  t.same((await c1.listItems(encodeMessage([]))).values.length, PRODUCTS.length, '"" lists every item');
  t.same(v1.calls, { GetItem: 3, ListItems: 2 }, 'calls counted by method');
});

t.test('the demo\'s server refuses what is not a unary gRPC call', async (t) => {
  const v1 = await startGrpcCatalogue('v1');
  t.teardown(() => v1.close());
  const client = await connectGrpc(v1.url);
  t.teardown(() => client.close());
  const unknown = await client.call('/shop.v1.Catalog/DeleteItem', encodeMessage([[1, '4']]));
  t.equal(unknown.code, 'UNIMPLEMENTED');
  t.same(unknown.messages, []);
  const bad = await client.call(GET_ITEM, Buffer.from([0x0a, 0x09, 0x61]));
  t.equal(bad.code, 'INVALID_ARGUMENT', 'a damaged request message');
  t.match(bad.message, /runs past the end/);
});

t.test('the demo\'s client reads a grpc-js server: messages, status, grpc-message, trailers', async (t) => {
  const server = await startGrpcServer({
    GetItem(call, cb) {
      const id = stringField(decodeMessage(call.request), 1);
      if (id === 'missing') return cb({ code: grpc.status.NOT_FOUND, details: 'gone: 100% ü' });
      const md = new grpc.Metadata();
      md.set('x-catalog-version', 'v1');
      cb(null, encodeMessage([[1, id], [3, 1250]]), md);
    },
    ListItems(call) {
      for (let i = 1; i <= 3; i++) call.write(encodeMessage([[1, `item-${i}`]]));
      call.end();
    },
  });
  t.teardown(() => server.close());
  const client = await connectGrpc(server.url);
  t.teardown(() => client.close());

  const ok = await client.call(GET_ITEM, encodeMessage([[1, 'LMP-1']]));
  t.equal(ok.status, 0);
  t.equal(ok.code, 'OK');
  t.same(ok.messages, [pb({ 1: 'LMP-1', 3: 1250 })]);
  t.equal(ok.trailers?.['x-catalog-version'], 'v1', 'trailing metadata');
  t.equal(ok.headers['content-type'], 'application/grpc+proto');

  const missing = await client.call(GET_ITEM, encodeMessage([[1, 'missing']]));
  t.equal(missing.status, 5);
  t.equal(missing.code, 'NOT_FOUND');
  t.equal(missing.message, 'gone: 100% ü', 'grpc-js\'s percent-encoding, decoded');
  t.same(missing.messages, []);

  const list = await client.call(LIST_ITEMS, encodeMessage([]));
  t.equal(list.code, 'OK');
  t.same(list.messages.map((m) => stringField(decodeMessage(m), 1)), ['item-1', 'item-2', 'item-3']);
});

t.test('prices in cents: v1 to the cent, v2 whole units on sale only', (t) => {
  for (const p of PRODUCTS) {
    t.ok(Number.isInteger(priceCents(p, 'v1')), `product ${p.id}: whole cents`);
    if (p.discount === 0) t.equal(priceCents(p, 'v2'), priceCents(p, 'v1'));
    else t.equal(priceCents(p, 'v2') % 100, 0, `product ${p.id}: v2 whole units`);
  }
  t.end();
});
