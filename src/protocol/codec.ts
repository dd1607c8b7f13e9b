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

/** Fixed payload length after the type byte, per type byte (-1 = not fixed / container / invalid). */
const FIXED = new Int8Array(256).fill(-1);
for (let t = 0x00; t <= 0x7f; t++) FIXED[t] = 0;
for (let t = 0xe0; t <= 0xff; t++) FIXED[t] = 0;
for (const [t, n] of [
  [0xc0, 0], [0xc2, 0], [0xc3, 0], [0xca, 4], [0xcb, 8], [0xcc, 1], [0xcd, 2], [0xce, 4], [0xcf, 8],
  [0xd0, 1], [0xd1, 2], [0xd2, 4], [0xd3, 8], [0xd4, 2], [0xd5, 3], [0xd6, 5], [0xd7, 9], [0xd8, 17],
] as const) FIXED[t] = n;

/**
 * Reject msgpack inputs whose container headers declare more elements than bytes remain, or that
 * nest deeper than {@link MAX_DEPTH}, before msgpackr sees them (memory-exhaustion hazards).
 * One pass, no allocation besides a small depth stack.
 * @throws DecodeError
 */
export function precheckMsgpack(b: Uint8Array): void {
  const n = b.length;
  const stack = new Uint32Array(MAX_DEPTH + 1);
  let depth = 0;
  let i = 0;
  for (;;) {
    if (i >= n) throw new DecodeError('msgpack payload is truncated');
    const t = b[i++] as number;
    let count = -1; // elements of a container opened here
    const fixed = FIXED[t] as number;
    if (fixed >= 0) {
      i += fixed;
    } else if (t >= 0x80 && t <= 0x8f) count = (t & 0x0f) * 2;
    else if (t >= 0x90 && t <= 0x9f) count = t & 0x0f;
    else if (t >= 0xa0 && t <= 0xbf) i += t & 0x1f;
    else if (t === 0xc4 || t === 0xd9) i += 1 + (b[i] ?? 0);
    else if (t === 0xc5 || t === 0xda) i += 2 + (((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
    else if (t === 0xc6 || t === 0xdb) i += 4 + u32(b, i);
    else if (t === 0xc7) i += 2 + (b[i] ?? 0);
    else if (t === 0xc8) i += 3 + (((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
    else if (t === 0xc9) i += 5 + u32(b, i);
    else if (t === 0xdc) {
      count = ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
      i += 2;
    } else if (t === 0xdd) {
      count = u32(b, i);
      i += 4;
    } else if (t === 0xde) {
      count = (((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)) * 2;
      i += 2;
    } else if (t === 0xdf) {
      count = u32(b, i) * 2;
      i += 4;
    } else throw new DecodeError(`msgpack payload has an invalid type byte 0x${t.toString(16)} at offset ${i - 1}`);
    if (i > n) throw new DecodeError('msgpack payload is truncated');
    if (count > 0) {
      if (count > n - i) throw new DecodeError(`msgpack container declares ${count} elements but only ${n - i} bytes remain`);
      if (depth >= MAX_DEPTH) throw new DecodeError(`msgpack payload nests deeper than ${MAX_DEPTH} levels`);
      stack[++depth] = count;
      continue;
    }
    // a complete value: count it against the open containers
    while (depth > 0) {
      const left = (stack[depth] as number) - 1;
      if (left > 0) {
        stack[depth] = left;
        break;
      }
      depth--;
    }
    if (depth === 0) break;
  }
  if (i !== n) throw new DecodeError(`msgpack payload has ${n - i} trailing bytes`);
}

function u32(b: Uint8Array, i: number): number {
  return ((b[i] ?? 0) * 0x1000000 + (((b[i + 1] ?? 0) << 16) | ((b[i + 2] ?? 0) << 8) | (b[i + 3] ?? 0))) >>> 0;
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
  if (contentType === CONTENT_TYPE.msgpack) return msgpackCodec;
  if (contentType === CONTENT_TYPE.json) return jsonCodec;
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
