// shop.v1.Catalog/GetItem for the grpc scenario, shared by its backend
// (lib/grpc-backend.js) and its load generator (lib/grpc-load.js): the service
// definition for @grpc/grpc-js with raw Buffer (de)serializers, so neither side
// needs a .proto, and the request and answer messages as protobuf bytes written
// by hand (as test/helpers/grpc.ts does).

export const METHOD = 'shop.v1.Catalog/GetItem';

const raw = (b) => b;

export const CATALOG = {
  GetItem: {
    path: `/${METHOD}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
};

/** A protobuf message of string and varint fields, by field number. */
export function pb(fields) {
  const out = [];
  const varint = (n) => {
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
      for (const b of bytes) out.push(b);
    }
  }
  return Buffer.from(out);
}

/** GetItem's request: field 1, the item id. */
export const REQUEST = pb({ 1: 'SKU-000042' });

// The answer, about 1 KB like the JSON document of the HTTP scenarios: id, price
// in cents, name, and a description that pads it out. Built once: a live and a
// dark backend answer byte for byte alike, so umbra's comparisons match.
const head = { 1: 'SKU-000042', 2: 1250, 3: 'Item number 42' };
const base = pb(head).length;
export const ANSWER = pb({ ...head, 4: 'x'.repeat(Math.max(0, 1024 - base - 3)) });
