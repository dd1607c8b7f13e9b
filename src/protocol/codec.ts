import { Packr, Unpackr } from 'msgpackr';
import { DecodeError, InvalidArgumentError } from '../errors.ts';
import { precheckJson, precheckMsgpack, renameProtoKeys } from './precheck.ts';

export { precheckMsgpack } from './precheck.ts';

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
  /**
   * Decode untrusted bytes: structure checked first (nesting, declared lengths, extension types),
   * own `__proto__` keys renamed to `__proto_`.
   * @throws DecodeError and nothing else, whatever the bytes (test/fuzz).
   */
  decode(bytes: Uint8Array): unknown;
}

// Untrusted bytes: no records/structured clone/extension types (reliability notes §3.3). msgpackr
// still reads record definitions (ext 0x72) with `useRecords: false`: precheckMsgpack refuses them.
const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, encodeUndefinedAsNil: false });
const unpackr = new Unpackr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  mapsAsObjects: true,
  int64AsType: 'string',
});

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
    const mayHaveProtoKey = precheckJson(bytes);
    let v: unknown;
    try {
      v = JSON.parse(dec.decode(bytes));
    } catch (err) {
      throw new DecodeError(`invalid JSON payload: ${(err as Error).message}`, { cause: err });
    }
    if (mayHaveProtoKey) renameProtoKeys(v);
    return v;
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
