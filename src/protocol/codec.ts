import { Packr, Unpackr } from 'msgpackr';
import { DecodeError, InvalidArgumentError } from '../errors.ts';

/** Serializer names accepted by `createApp({ serializer })`. */
export type SerializerName = 'msgpack' | 'json';

/** Content types on the wire. */
export const CONTENT_TYPE = {
  msgpack: 'application/x-msgpack',
  json: 'application/json',
} as const;

/** A codec turns values into bytes and back. */
export interface Codec {
  readonly name: SerializerName;
  readonly contentType: string;
  encode(value: unknown): Uint8Array;
  /** @throws DecodeError */
  decode(bytes: Uint8Array): unknown;
}

// Untrusted bytes: no records/structured clone/extension types (reliability notes §3.3).
const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, encodeUndefinedAsNil: false });
const unpackr = new Unpackr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  mapsAsObjects: true,
  int64AsType: 'string',
});

const MAX_DEPTH = 64;

/**
 * Reject msgpack inputs whose container headers declare more elements than bytes remain, or that
 * nest deeper than {@link MAX_DEPTH}, before msgpackr sees them (memory-exhaustion hazards).
 */
export function precheckMsgpack(b: Uint8Array): void {
  let i = 0;
  const n = b.length;
  // stack of remaining element counts per open container
  const stack: number[] = [];
  const need = (k: number) => {
    if (i + k > n) throw new DecodeError('msgpack payload is truncated');
  };
  const rd = (k: number): number => {
    need(k);
    let v = 0;
    for (let j = 0; j < k; j++) v = v * 256 + (b[i + j] as number);
    i += k;
    return v;
  };
  const open = (count: number) => {
    if (count > n - i) throw new DecodeError(`msgpack container declares ${count} elements but only ${n - i} bytes remain`);
    if (stack.length >= MAX_DEPTH) throw new DecodeError(`msgpack payload nests deeper than ${MAX_DEPTH} levels`);
    if (count > 0) stack.push(count);
    else done();
  };
  const done = () => {
    while (stack.length > 0) {
      const top = (stack[stack.length - 1] as number) - 1;
      if (top > 0) {
        stack[stack.length - 1] = top;
        return;
      }
      stack.pop();
    }
  };
  do {
    need(1);
    const t = b[i++] as number;
    if (t <= 0x7f || t >= 0xe0) done();
    else if (t >= 0x80 && t <= 0x8f) open((t & 0x0f) * 2);
    else if (t >= 0x90 && t <= 0x9f) open(t & 0x0f);
    else if (t >= 0xa0 && t <= 0xbf) { need(t & 0x1f); i += t & 0x1f; done(); }
    else if (t === 0xc0 || t === 0xc2 || t === 0xc3) done();
    else if (t === 0xc4 || t === 0xd9) { const l = rd(1); need(l); i += l; done(); }
    else if (t === 0xc5 || t === 0xda) { const l = rd(2); need(l); i += l; done(); }
    else if (t === 0xc6 || t === 0xdb) { const l = rd(4); need(l); i += l; done(); }
    else if (t === 0xca) { need(4); i += 4; done(); }
    else if (t === 0xcb || t === 0xcf || t === 0xd3) { need(8); i += 8; done(); }
    else if (t === 0xcc || t === 0xd0) { need(1); i += 1; done(); }
    else if (t === 0xcd || t === 0xd1) { need(2); i += 2; done(); }
    else if (t === 0xce || t === 0xd2) { need(4); i += 4; done(); }
    else if (t === 0xdc) open(rd(2));
    else if (t === 0xdd) open(rd(4));
    else if (t === 0xde) open(rd(2) * 2);
    else if (t === 0xdf) open(rd(4) * 2);
    else if (t === 0xd4) { need(2); i += 2; done(); }
    else if (t === 0xd5) { need(3); i += 3; done(); }
    else if (t === 0xd6) { need(5); i += 5; done(); }
    else if (t === 0xd7) { need(9); i += 9; done(); }
    else if (t === 0xd8) { need(17); i += 17; done(); }
    else if (t === 0xc7) { const l = rd(1); need(l + 1); i += l + 1; done(); }
    else if (t === 0xc8) { const l = rd(2); need(l + 1); i += l + 1; done(); }
    else if (t === 0xc9) { const l = rd(4); need(l + 1); i += l + 1; done(); }
    else throw new DecodeError(`msgpack payload has an invalid type byte 0x${t.toString(16)} at offset ${i - 1}`);
  } while (stack.length > 0);
  if (i !== n) throw new DecodeError(`msgpack payload has ${n - i} trailing bytes`);
}

const msgpackCodec: Codec = {
  name: 'msgpack',
  contentType: CONTENT_TYPE.msgpack,
  encode: (v) => packr.pack(v),
  decode(bytes) {
    precheckMsgpack(bytes);
    try {
      return unpackr.unpack(bytes);
    } catch (err) {
      throw new DecodeError(`invalid msgpack payload: ${(err as Error).message}`, { cause: err });
    }
  },
};

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

const jsonCodec: Codec = {
  name: 'json',
  contentType: CONTENT_TYPE.json,
  encode: (v) => enc.encode(JSON.stringify(v)),
  decode(bytes) {
    try {
      return JSON.parse(dec.decode(bytes));
    } catch (err) {
      throw new DecodeError(`invalid JSON payload: ${(err as Error).message}`, { cause: err });
    }
  },
};

/** The codec for a serializer name. @throws InvalidArgumentError */
export function codecByName(name: string): Codec {
  if (name === 'msgpack') return msgpackCodec;
  if (name === 'json') return jsonCodec;
  throw new InvalidArgumentError(`serializer must be 'msgpack' or 'json', got ${JSON.stringify(name)}`);
}

/** The codec for a content-type header (parameters like `; charset=utf-8` are ignored). @throws DecodeError */
export function codecByContentType(contentType: string | undefined): Codec {
  const base = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (base === CONTENT_TYPE.msgpack || base === 'application/msgpack') return msgpackCodec;
  if (base === CONTENT_TYPE.json) return jsonCodec;
  throw new DecodeError(
    `unsupported content-type ${JSON.stringify(contentType ?? '')}; use '${CONTENT_TYPE.msgpack}' or '${CONTENT_TYPE.json}'`,
  );
}

/**
 * Decode a stored value whose codec is not named: JSON documents start with `{` (0x7b), which in
 * msgpack would be a bare positive integer — never a valid Celeriac record.
 */
export function decodeSniffed(bytes: Uint8Array): unknown {
  return bytes[0] === 0x7b ? jsonCodec.decode(bytes) : msgpackCodec.decode(bytes);
}
