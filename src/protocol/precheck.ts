/**
 * Structural checks of untrusted bytes before a decoder sees them, and the clean-up of what a
 * decoder gives back (ADR 0014, docs/reliability.md "Decoder fuzzing"). One pass over the bytes,
 * no allocation besides a small depth stack: a few kilobytes of crafted msgpack can otherwise make
 * msgpackr allocate gigabytes (msgpackr PR #199/#200) and deep JSON decodes fine but overflows the
 * stack of whatever walks it later (`JSON.stringify`, `structuredClone`).
 * @module
 */
import { DecodeError } from '../errors.ts';

/** Deepest nesting of arrays and objects (msgpack maps) accepted in a decoded value, both codecs. */
export const MAX_DECODE_DEPTH = 64;

/** Fixed payload length after the type byte, per type byte (-1 = not fixed: container, string, ext or invalid). */
const FIXED = new Int8Array(256).fill(-1);
for (let t = 0x00; t <= 0x7f; t++) FIXED[t] = 0;
for (let t = 0xe0; t <= 0xff; t++) FIXED[t] = 0;
for (const [t, n] of [
  [0xc0, 0], [0xc2, 0], [0xc3, 0], [0xca, 4], [0xcb, 8], [0xcc, 1], [0xcd, 2], [0xce, 4], [0xcf, 8],
  [0xd0, 1], [0xd1, 2], [0xd2, 4], [0xd3, 8],
] as const) FIXED[t] = n;

/** Data length of the fixext types 0xd4..0xd8. */
const FIXEXT = [1, 2, 4, 8, 16] as const;

/**
 * Extension types the codec writes, and so the only ones it reads: 0x00 (`undefined`) and 0xff
 * (timestamp, a `Date`). Everything else, above all msgpackr's record definitions (0x72), which
 * msgpackr reads even with `useRecords: false`, and structured-clone references (0x70), is refused.
 */
function checkExtType(b: Uint8Array, at: number): void {
  if (at >= b.length) throw new DecodeError('msgpack payload is truncated');
  const type = b[at] as number;
  if (type !== 0x00 && type !== 0xff) {
    throw new DecodeError(`msgpack extension type 0x${type.toString(16)} at offset ${at} is not accepted (only timestamps)`);
  }
}

const u16 = (b: Uint8Array, i: number): number => ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
const u32 = (b: Uint8Array, i: number): number =>
  ((b[i] ?? 0) * 0x1000000 + (((b[i + 1] ?? 0) << 16) | ((b[i + 2] ?? 0) << 8) | (b[i + 3] ?? 0))) >>> 0;

/**
 * The depth stack of {@link precheckMsgpack}, shared: the check is synchronous and calls nothing
 * that could re-enter it, and a typed array made per call cost ~0.6 µs, ten times the check of a
 * small task body.
 */
const STACK = new Uint32Array(MAX_DECODE_DEPTH + 1);

/**
 * Reject a msgpack input before msgpackr sees it when it is not exactly one value, when a container
 * header declares more elements than bytes remain (every element takes at least one byte, so no
 * declared length can make the decoder allocate more than the input's size), when it nests deeper
 * than {@link MAX_DECODE_DEPTH}, or when it holds an extension type other than timestamps.
 * @throws DecodeError naming the offset or the rule broken.
 */
export function precheckMsgpack(b: Uint8Array): void {
  const n = b.length;
  const stack = STACK;
  let depth = 0;
  let i = 0;
  for (;;) {
    if (i >= n) throw new DecodeError('msgpack payload is truncated');
    const t = b[i++] as number;
    let count = -1; // elements of a container opened here
    const fixed = FIXED[t] as number;
    if (fixed >= 0) i += fixed;
    else if (t >= 0x80 && t <= 0x8f) count = (t & 0x0f) * 2;
    else if (t >= 0x90 && t <= 0x9f) count = t & 0x0f;
    else if (t >= 0xa0 && t <= 0xbf) i += t & 0x1f;
    else if (t === 0xc4 || t === 0xd9) i += 1 + (b[i] ?? 0);
    else if (t === 0xc5 || t === 0xda) i += 2 + u16(b, i);
    else if (t === 0xc6 || t === 0xdb) i += 4 + u32(b, i);
    else if (t >= 0xd4 && t <= 0xd8) {
      checkExtType(b, i);
      i += 1 + (FIXEXT[t - 0xd4] as number);
    } else if (t === 0xc7) {
      checkExtType(b, i + 1);
      i += 2 + (b[i] ?? 0);
    } else if (t === 0xc8) {
      checkExtType(b, i + 2);
      i += 3 + u16(b, i);
    } else if (t === 0xc9) {
      checkExtType(b, i + 4);
      i += 5 + u32(b, i);
    } else if (t === 0xdc) {
      count = u16(b, i);
      i += 2;
    } else if (t === 0xdd) {
      count = u32(b, i);
      i += 4;
    } else if (t === 0xde) {
      count = u16(b, i) * 2;
      i += 2;
    } else if (t === 0xdf) {
      count = u32(b, i) * 2;
      i += 4;
    } else throw new DecodeError(`msgpack payload has an invalid type byte 0x${t.toString(16)} at offset ${i - 1}`);
    if (i > n) throw new DecodeError('msgpack payload is truncated');
    if (count > 0) {
      if (count > n - i) throw new DecodeError(`msgpack container declares ${count} elements but only ${n - i} bytes remain`);
      if (depth >= MAX_DECODE_DEPTH) throw new DecodeError(`msgpack payload nests deeper than ${MAX_DECODE_DEPTH} levels`);
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

/**
 * Reject a JSON text that nests arrays/objects deeper than {@link MAX_DECODE_DEPTH} (V8's
 * `JSON.parse` itself accepts any depth). Brackets inside strings do not count. Syntax is left to
 * `JSON.parse`.
 * @returns whether the text may hold a `__proto__` key (it spells `__proto__` or has an escape in a
 * string), i.e. whether {@link renameProtoKeys} has anything to do.
 * @throws DecodeError
 */
export function precheckJson(b: Uint8Array): boolean {
  let depth = 0;
  let inString = false;
  let escapes = false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i] as number;
    if (inString) {
      if (c === 0x5c) {
        escapes = true;
        i++; // the escaped character cannot end the string
      } else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DECODE_DEPTH) throw new DecodeError(`JSON payload nests deeper than ${MAX_DECODE_DEPTH} levels`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return escapes || Buffer.from(b.buffer, b.byteOffset, b.length).includes(PROTO);
}

const PROTO = Buffer.from('__proto__');

/**
 * Rename every own `__proto__` key of a decoded JSON value to `__proto_`, in place, as msgpackr
 * does for msgpack: `JSON.parse` creates such keys as own data properties, which `Object.assign`,
 * `target[key] = value` copies and `for...in` merges would turn into a prototype change. Only called
 * on values that passed {@link precheckJson}, so the recursion is at most {@link MAX_DECODE_DEPTH} deep.
 */
export function renameProtoKeys(v: unknown): void {
  if (typeof v !== 'object' || v === null) return;
  if (Array.isArray(v)) {
    for (const x of v) renameProtoKeys(x);
    return;
  }
  const o = v as Record<string, unknown>;
  const own = Object.getOwnPropertyDescriptor(o, '__proto__');
  if (own) {
    delete o['__proto__'];
    o['__proto_'] = own.value;
  }
  for (const k of Object.keys(o)) renameProtoKeys(o[k]);
}
