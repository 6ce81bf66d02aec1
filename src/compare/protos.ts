// gRPC messages read with their schema (compare.protos): the method's output
// type, found by the request path `/package.Service/Method`, names each field
// as written in the .proto and says what its value means. Pure: the types are
// rebuilt from the descriptors in the config (protobufjs Root.fromJSON), once
// per set, in whichever thread compares.
//
// Our own reader over the wire format rather than protobufjs's decode and
// toObject, for a comparison that is exact and never quieter than the bytes:
// - fields the schema does not know (a number added by dark, or removed from
//   the .proto) are kept, under their number as without a schema: protobufjs
//   drops them, and a field dark stopped sending would go unseen;
// - a field without presence (proto3 singular scalars and enums) at its default
//   is absent, as a proto3 encoder leaves it out: sent or not, it means the
//   same. Fields with presence (messages, `optional`, oneof members, proto2)
//   keep it: there, absent and default differ;
// - 64-bit integers are numbers, exact past 2^53 (BigNum), never Long objects
//   or strings; float and double are numbers, NaN and ±Infinity their names
//   ("NaN", "Infinity", "-Infinity") as in protobuf's JSON mapping;
// - enums by name (a number the enum does not list stays a number), bytes as
//   Bytes (base64), maps as objects keyed by their keys' text, repeated fields
//   as arrays (even of one), packed or not;
// - a field whose wire type does not fit its declaration is an unknown field,
//   as protobuf's own parsers treat it; a singular message sent twice is merged,
//   as the wire format says; of a oneof, the member sent last counts.
// The tests check the reader against protobufjs's own decoding.

import { createRequire } from 'node:module';
import type * as Pb from 'protobufjs';
import type { ProtoSchemas } from '../config/types.js';
import type { MessageReader } from './grpc.js';
import { BigNum, Bytes } from './json-parse.js';
import type { TreeValue } from './json-parse.js';
import type { Message, MessageFailure } from './protobuf.js';
import { MAX_FIELD_NUMBER, MAX_MESSAGE_DEPTH, WIRE_END_GROUP, WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN, WIRE_START_GROUP, WIRE_VARINT, WireReader, addField, bytesValue, readValue, signed64, unsigned64, utf8, zigzag64 } from './protobuf.js';

/**
 * protobufjs, loaded the first time a .proto is used: a process (or compare
 * worker) with no compare.protos never loads it, so its heap stays small.
 */
let loaded: typeof Pb | null = null;
const protobufjs = (): typeof Pb => (loaded ??= createRequire(import.meta.url)('protobufjs') as typeof Pb);

type Scalar = 'double' | 'float' | 'int32' | 'int64' | 'uint32' | 'uint64' | 'sint32' | 'sint64' | 'fixed32' | 'fixed64' | 'sfixed32' | 'sfixed64' | 'bool' | 'string' | 'bytes';
type Kind = Scalar | 'enum' | 'message';

const WIRE_OF: Readonly<Record<Kind, number>> = {
  double: WIRE_FIXED64,
  float: WIRE_FIXED32,
  int32: WIRE_VARINT,
  int64: WIRE_VARINT,
  uint32: WIRE_VARINT,
  uint64: WIRE_VARINT,
  sint32: WIRE_VARINT,
  sint64: WIRE_VARINT,
  fixed32: WIRE_FIXED32,
  fixed64: WIRE_FIXED64,
  sfixed32: WIRE_FIXED32,
  sfixed64: WIRE_FIXED64,
  bool: WIRE_VARINT,
  string: WIRE_LEN,
  bytes: WIRE_LEN,
  enum: WIRE_VARINT,
  message: WIRE_LEN,
};

interface FieldPlan {
  readonly name: string;
  readonly number: number;
  readonly kind: Kind;
  /** The wire type its values come in (a group: WIRE_START_GROUP). */
  readonly wire: number;
  readonly repeated: boolean;
  /** Absent and default differ (message, optional, oneof member, proto2). */
  readonly presence: boolean;
  /** Of a message kind: its type. */
  readonly type: Pb.Type | null;
  /** Of an enum kind: names by number. */
  readonly names: Readonly<Record<number, string>> | null;
  /** A map field: its key's kind (the value is described by kind/type/names). */
  readonly mapKey: Scalar | null;
  /** The oneof it belongs to (a proto3 `optional` is a oneof of one). */
  readonly oneof: string | null;
}

interface TypePlan {
  readonly fields: readonly FieldPlan[];
  readonly byNumber: ReadonlyMap<number, FieldPlan>;
}

function kindOf(type: string, resolved: Pb.Type | Pb.Enum | null): Kind {
  if (resolved instanceof protobufjs().Type) return 'message';
  if (resolved instanceof protobufjs().Enum) return 'enum';
  return type as Scalar;
}

function planField(f: Pb.Field | Pb.MapField): FieldPlan {
  const resolved = f.resolvedType;
  const kind = kindOf(f.type, resolved);
  const map = f instanceof protobufjs().MapField;
  return {
    name: f.name,
    number: f.id,
    kind,
    wire: !map && f.delimited ? WIRE_START_GROUP : WIRE_OF[kind],
    repeated: f.repeated,
    presence: !f.repeated && !map && (kind === 'message' || f.hasPresence),
    type: resolved instanceof protobufjs().Type ? resolved : null,
    names: resolved instanceof protobufjs().Enum ? resolved.valuesById : null,
    mapKey: map ? (f.keyType as Scalar) : null,
    oneof: f.partOf?.name ?? null,
  };
}

/** What one message's known fields collected: repeated values, map entries, the last value, or a singular message's pieces. */
type Collected = TreeValue[] | Message | TreeValue | Buffer[];

/** A field occurrence read (`ok`), not as declared (`unknown`: read it as an unknown field), or a message inside that failed (`fail`). */
type Outcome = 'ok' | 'unknown' | 'fail';

/** The decoded types of one descriptor set, and which method answers with which. */
export class ProtoIndex {
  private readonly outputs = new Map<string, Pb.Type>();
  /** Method paths whose request or answer is a stream. */
  private readonly streaming = new Set<string>();
  private readonly plans = new Map<Pb.Type, TypePlan>();
  private readonly readers = new Map<Pb.Type, MessageReader>();
  /** Set by a read that failed because of depth; reset by each decode. */
  private tooDeep = false;
  private readonly root: Pb.Root;

  constructor(schemas: ProtoSchemas) {
    // fromJSON keeps references into its input and trims options while resolving:
    // the config's descriptors are frozen and shared, so it gets a copy.
    const root = protobufjs().Root.fromJSON(structuredClone<Pb.INamespace>(schemas.descriptors));
    root.resolveAll();
    this.root = root;
    const visit = (ns: Pb.NamespaceBase): void => {
      for (const obj of ns.nestedArray) {
        if (obj instanceof protobufjs().Service) {
          for (const m of obj.methodsArray) {
            const out = m.resolvedResponseType;
            const path = `/${obj.fullName.slice(1)}/${m.name}`;
            if (out !== null) this.outputs.set(path, out);
            if (m.requestStream === true || m.responseStream === true) this.streaming.add(path);
          }
        }
        if (obj instanceof protobufjs().Namespace || obj instanceof protobufjs().Type) visit(obj);
      }
    };
    visit(root);
  }

  /** The call at `path` streams its request or its answer (as the .proto declares it). */
  isStreaming(path: string): boolean {
    return this.streaming.has(path);
  }

  /** Method paths (`/package.Service/Method`) the set knows. */
  get methods(): string[] {
    return [...this.outputs.keys()];
  }

  /** The reader of the answers of the call at `path` (a query string ignored), or null when the set does not know it. */
  readerFor(path: string | undefined): MessageReader | null {
    if (path === undefined) return null;
    const q = path.indexOf('?');
    const type = this.outputs.get(q < 0 ? path : path.slice(0, q));
    return type === undefined ? null : this.readerOf(type);
  }

  /** The reader of messages of the type named `name` (`package.Message`). Throws when there is none. */
  readerOfType(name: string): MessageReader {
    return this.readerOf(this.root.lookupType(name));
  }

  private readerOf(type: Pb.Type): MessageReader {
    let r = this.readers.get(type);
    if (r === undefined) {
      r = (message: Buffer) => this.decode(message, type);
      this.readers.set(type, r);
    }
    return r;
  }

  /** One message of `type`, or why it is not one. */
  decode(message: Buffer, type: Pb.Type): Message | MessageFailure {
    this.tooDeep = false;
    const r = new WireReader(message);
    const m = this.message(r, message.length, this.plan(type), 1, 0);
    return m ?? (this.tooDeep || r.tooDeep ? 'too_deep' : 'invalid');
  }

  private plan(type: Pb.Type): TypePlan {
    let p = this.plans.get(type);
    if (p === undefined) {
      const fields = type.fieldsArray.map(planField);
      p = { fields, byNumber: new Map(fields.map((f) => [f.number, f])) };
      this.plans.set(type, p);
    }
    return p;
  }

  /** A nested message in bytes of its own, at nesting level `depth`; null when it does not parse or is too deep. */
  private nested(bytes: Buffer, type: Pb.Type, depth: number): Message | null {
    if (depth > MAX_MESSAGE_DEPTH) {
      this.tooDeep = true;
      return null;
    }
    const r = new WireReader(bytes);
    const m = this.message(r, bytes.length, this.plan(type), depth, 0);
    if (r.tooDeep) this.tooDeep = true;
    return m;
  }

  /** A message's fields up to `end` (or its group's end tag), at nesting level `depth`; null when the bytes do not parse. */
  private message(r: WireReader, end: number, plan: TypePlan, depth: number, group: number): Message | null {
    const values = new Map<FieldPlan, Collected>();
    const order = new Map<FieldPlan, number>();
    const unknown: [number, TreeValue][] = [];
    let ended = group === 0;
    let seq = 0;
    while (r.pos < end) {
      if (!r.varint(end) || r.hi !== 0) return null;
      const field = r.lo >>> 3;
      const wire = r.lo & 7;
      if (wire === WIRE_END_GROUP) {
        if (group === 0 || field !== group) return null;
        ended = true;
        break;
      }
      if (field === 0 || field > MAX_FIELD_NUMBER) return null;
      const fp = plan.byNumber.get(field);
      if (fp !== undefined) {
        const start = r.pos;
        const outcome = this.field(r, end, fp, wire, depth, values);
        if (outcome === 'fail') return null;
        if (outcome === 'ok') {
          order.set(fp, seq++);
          continue;
        }
        r.pos = start;
      }
      const v = readValue(r, wire, field, end, depth);
      if (v === null) return null;
      unknown.push([field, v]);
    }
    if (!ended) return null;
    return this.build(plan, values, order, unknown, depth);
  }

  /** One occurrence of a known field (its tag read) into `values`. */
  private field(r: WireReader, end: number, fp: FieldPlan, wire: number, depth: number, values: Map<FieldPlan, Collected>): Outcome {
    if (fp.mapKey !== null) {
      if (wire !== WIRE_LEN) return 'unknown';
      const n = r.length(end);
      if (n < 0) return 'unknown';
      const bytes = r.buf.subarray(r.pos, r.pos + n);
      r.pos += n;
      const entry = this.mapEntry(bytes, fp, depth);
      if (entry === 'fail') return 'fail';
      if (entry === null) return 'unknown';
      let m = values.get(fp) as Message | undefined;
      if (m === undefined) values.set(fp, (m = Object.create(null) as Message));
      m[entry[0]] = entry[1];
      return 'ok';
    }
    if (fp.repeated && wire === WIRE_LEN && fp.wire !== WIRE_LEN && fp.wire !== WIRE_START_GROUP) {
      // Packed: the element values one after the other.
      const n = r.length(end);
      if (n < 0) return 'unknown';
      const stop = r.pos + n;
      const list: TreeValue[] = [];
      while (r.pos < stop) {
        const v = readScalar(r, stop, fp.kind as Exclude<Kind, 'message'>, fp.names);
        if (v === undefined) return 'unknown';
        list.push(v);
      }
      const had = values.get(fp) as TreeValue[] | undefined;
      if (had === undefined) values.set(fp, list);
      else had.push(...list);
      return 'ok';
    }
    if (wire !== fp.wire) return 'unknown';
    let v: TreeValue | undefined;
    if (fp.kind !== 'message') {
      v = readScalar(r, end, fp.kind, fp.names);
      if (v === undefined) return 'unknown';
    } else if (wire === WIRE_START_GROUP) {
      if (depth >= MAX_MESSAGE_DEPTH) {
        this.tooDeep = true;
        return 'fail';
      }
      const m = this.message(r, end, this.plan(fp.type as Pb.Type), depth + 1, fp.number);
      if (m === null) return 'fail';
      v = m;
    } else {
      const n = r.length(end);
      if (n < 0) return 'unknown';
      const piece = r.buf.subarray(r.pos, r.pos + n);
      r.pos += n;
      if (!fp.repeated) {
        // A singular message sent more than once is merged: its pieces are read as one, at the end.
        const pieces = values.get(fp) as Buffer[] | undefined;
        if (pieces === undefined) values.set(fp, [piece]);
        else pieces.push(piece);
        return 'ok';
      }
      const m = this.nested(piece, fp.type as Pb.Type, depth + 1);
      if (m === null) return 'fail';
      v = m;
    }
    if (fp.repeated) {
      const had = values.get(fp) as TreeValue[] | undefined;
      if (had === undefined) values.set(fp, [v]);
      else had.push(v);
    } else values.set(fp, v);
    return 'ok';
  }

  /** A map entry: [key text, value]; null when it does not parse; 'fail' when its message value does not. */
  private mapEntry(bytes: Buffer, fp: FieldPlan, depth: number): [string, TreeValue] | null | 'fail' {
    const r = new WireReader(bytes);
    const end = bytes.length;
    const keyKind = fp.mapKey as Scalar;
    let key: TreeValue | undefined;
    let value: TreeValue | undefined;
    let valueBytes: Buffer | undefined;
    while (r.pos < end) {
      if (!r.varint(end) || r.hi !== 0) return null;
      const field = r.lo >>> 3;
      const wire = r.lo & 7;
      if (field === 1 && wire === WIRE_OF[keyKind]) {
        key = readScalar(r, end, keyKind, null);
        if (key === undefined) return null;
      } else if (field === 2 && fp.kind === 'message' && wire === WIRE_LEN) {
        const n = r.length(end);
        if (n < 0) return null;
        valueBytes = bytes.subarray(r.pos, r.pos + n);
        r.pos += n;
      } else if (field === 2 && fp.kind !== 'message' && wire === WIRE_OF[fp.kind]) {
        value = readScalar(r, end, fp.kind, fp.names);
        if (value === undefined) return null;
      } else if (!r.skip(wire, field, end, depth + 1)) return null;
    }
    if (fp.kind === 'message') {
      const m = this.nested(valueBytes ?? Buffer.alloc(0), fp.type as Pb.Type, depth + 1);
      if (m === null) return 'fail';
      value = m;
    }
    const k = key ?? defaultOf(keyKind, null);
    return [keyText(k), value ?? defaultOf(fp.kind, fp.names)];
  }

  /** The message as compared: declared fields in declaration order (defaults without presence left out), then unknown ones by number. */
  private build(plan: TypePlan, values: ReadonlyMap<FieldPlan, Collected>, order: ReadonlyMap<FieldPlan, number>, unknown: readonly [number, TreeValue][], depth: number): Message | null {
    // Of a oneof, the member sent last counts.
    const lastOfOneof = new Map<string, FieldPlan>();
    for (const fp of plan.fields) {
      if (fp.oneof === null || !values.has(fp)) continue;
      const had = lastOfOneof.get(fp.oneof);
      if (had === undefined || (order.get(fp) ?? 0) > (order.get(had) ?? 0)) lastOfOneof.set(fp.oneof, fp);
    }
    // Field names are data: no prototype, so a field named __proto__ is a field.
    const out = Object.create(null) as Message;
    for (const fp of plan.fields) {
      const collected = values.get(fp);
      if (collected === undefined) continue;
      if (fp.oneof !== null && lastOfOneof.get(fp.oneof) !== fp) continue;
      let v = collected as TreeValue;
      if (fp.kind === 'message' && !fp.repeated && fp.mapKey === null && fp.wire === WIRE_LEN) {
        const pieces = collected as Buffer[];
        const m = this.nested(pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces), fp.type as Pb.Type, depth + 1);
        if (m === null) return null;
        v = m;
      }
      if (!fp.presence && !fp.repeated && fp.mapKey === null && isDefault(v, fp)) continue;
      out[fp.name] = v;
    }
    for (const [field, v] of unknown) addField(out, field, v);
    return out;
  }
}

/** One scalar of `kind` at the reader (its tag read); undefined when the bytes do not hold one. */
function readScalar(r: WireReader, end: number, kind: Exclude<Kind, 'message'>, names: Readonly<Record<number, string>> | null): TreeValue | undefined {
  switch (kind) {
    case 'int32':
      return r.varint(end) ? r.lo | 0 : undefined;
    case 'uint32':
      return r.varint(end) ? r.lo : undefined;
    case 'sint32':
      return r.varint(end) ? (r.lo >>> 1) ^ -(r.lo & 1) : undefined;
    case 'int64':
      return r.varint(end) ? signed64(r.lo, r.hi) : undefined;
    case 'uint64':
      return r.varint(end) ? unsigned64(r.lo, r.hi) : undefined;
    case 'sint64':
      return r.varint(end) ? zigzag64(r.lo, r.hi) : undefined;
    case 'bool':
      return r.varint(end) ? r.lo !== 0 || r.hi !== 0 : undefined;
    case 'enum': {
      if (!r.varint(end)) return undefined;
      const n = r.lo | 0;
      return names?.[n] ?? n;
    }
    case 'fixed32':
      return r.fixed32(end) ? r.lo : undefined;
    case 'sfixed32':
      return r.fixed32(end) ? r.lo | 0 : undefined;
    case 'float':
      return r.fixed32(end) ? finite(r.buf.readFloatLE(r.pos - 4)) : undefined;
    case 'fixed64':
      return r.fixed64(end) ? unsigned64(r.lo, r.hi) : undefined;
    case 'sfixed64':
      return r.fixed64(end) ? signed64(r.lo, r.hi) : undefined;
    case 'double':
      return r.fixed64(end) ? finite(r.buf.readDoubleLE(r.pos - 8)) : undefined;
    case 'string':
    case 'bytes': {
      const n = r.length(end);
      if (n < 0) return undefined;
      const at = r.pos;
      r.pos += n;
      // A string that is not UTF-8 is its bytes: never equal to a string.
      return (kind === 'string' ? utf8(r.buf, at, at + n) : null) ?? bytesValue(r.buf, at, at + n);
    }
  }
}

/** A map key as the object key it becomes: its text (`true`, `-1`, `18446744073709551615`). */
function keyText(k: TreeValue): string {
  if (k instanceof BigNum) return k.raw;
  return typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean' ? String(k) : '';
}

/** NaN and ±Infinity by name (protobuf's JSON mapping): a number that compares equal to itself. */
function finite(n: number): number | string {
  return Number.isFinite(n) ? n : String(n);
}

/** The value a field without presence has when it is not sent. */
function defaultOf(kind: Kind, names: Readonly<Record<number, string>> | null): TreeValue {
  switch (kind) {
    case 'bool':
      return false;
    case 'string':
      return '';
    case 'bytes':
      return bytesValue(Buffer.alloc(0));
    case 'message':
      return Object.create(null) as Message;
    case 'enum':
      return names?.[0] ?? 0;
    default:
      return 0;
  }
}

function isDefault(v: TreeValue, fp: FieldPlan): boolean {
  if (fp.kind === 'enum') return v === 0 || (fp.names !== null && v === fp.names[0]);
  if (typeof v === 'number') return v === 0;
  if (v === false || v === '') return true;
  return v instanceof Bytes && v.base64 === '';
}

const indexes = new WeakMap<object, ProtoIndex>();

/** The index of a descriptor set, built once per set (routes that add no file share the top-level one). */
export function protoIndex(schemas: ProtoSchemas): ProtoIndex {
  let index = indexes.get(schemas.descriptors);
  if (index === undefined) {
    index = new ProtoIndex(schemas);
    indexes.set(schemas.descriptors, index);
  }
  return index;
}
