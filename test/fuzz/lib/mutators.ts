/**
 * Mutations of valid inputs: byte level (bit flips, interesting bytes, truncation, splicing,
 * insertion, deletion, duplication, inflated length fields, huge declared lengths, deep nesting),
 * hostile values put inside an otherwise valid message (`__proto__`/`constructor`/`prototype` keys,
 * msgpack extension types, huge declared lengths, deep nesting, odd numbers and strings) and header
 * mutations (content-type, ids, names, dates, numbers, reply subject, sizes).
 */
import { type Codec, codecByName } from '../../../src/protocol/codec.ts';
import { encodeTask } from '../../../src/protocol/envelope.ts';
import { type Message, value } from './generators.ts';
import { type Rng, randomBytes } from './seed.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const utf8 = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const repeat = (b: Uint8Array, n: number): Uint8Array => concat(...Array.from({ length: n }, () => b));

/** Bytes worth trying: msgpack type bytes of every class, boundaries, the never-used 0xc1. */
const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd4, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff, 0x22, 0x5b, 0x5c, 0x7b, 0x7d];

/** Headers that declare a size (msgpack), whose following length bytes can be inflated. */
const LENGTH_BYTES: Record<number, number> = { 0xc4: 1, 0xc5: 2, 0xc6: 4, 0xc7: 1, 0xc8: 2, 0xc9: 4, 0xd9: 1, 0xda: 2, 0xdb: 4, 0xdc: 2, 0xdd: 4, 0xde: 2, 0xdf: 4 };

/** Huge declared lengths: the 5-byte array32, map32 and str32 headers, a 64 MiB bin32, the nested array16 chain of msgpackr PR #200. */
export const HUGE_DECLARED = {
  array32: hex('dd ffffffff'),
  array32mid: hex('dd 00100000'),
  map32: hex('df ffffffff'),
  str32: hex('db 7fffffff'),
  bin32_64MiB: hex('c6 04000000'),
  ext32: hex('c9 04000000 ff'),
  array16Chain: (n: number): Uint8Array => repeat(hex('dc ffff'), n),
};

/** msgpack extension values: record definitions (0x72), structured-clone refs (0x70), other msgpackr extensions, and timestamps (valid and odd). */
export const EXTENSIONS: Record<string, Uint8Array> = {
  recordDefinition: hex('d4 72 40'),
  recordDefinitionList: hex('92 d4 72 40 92 a1 78 a1 79 01 02 40 03 04'),
  recordExt8: hex('c7 05 72 94 a1 61 a1 62 a1 63'),
  structuredCloneRef: hex('d6 70 00000001'),
  structuredCloneRef1: hex('d4 70 00'),
  structuredCloneId: hex('d6 69 00000001 81 a1 61 01'),
  bundledStrings: hex('d4 62 00'),
  bigintExt: hex('d5 42 ffff'),
  errorExt: hex('d4 65 00'),
  regexpExt: hex('d4 78 00'),
  setExt: hex('d4 73 00'),
  typedArrayExt: hex('c7 05 74 01 02 03 04 05'),
  unknownExt: hex('d4 01 00'),
  timestamp32: hex('d6 ff 00000000'),
  timestamp64: hex('d7 ff ffffffff ffffffff'),
  timestamp96: hex('c7 0c ff 00000000 7fffffffffffffff'),
  timestampOdd: hex('d4 ff 00'),
  timestamp16: hex('d8 ff 00000000000000000000000000000000'),
  undefinedExt: hex('d4 00 00'),
};

const msgpackStr = (s: string): Uint8Array => codecByName('msgpack').encode(s);

/** Hostile msgpack values, each one complete value. */
export function hostileMsgpack(r: Rng): Uint8Array {
  const polluted = concat(hex('81'), msgpackStr('polluted'), hex('c3'));
  const k = r.int(0, 11);
  switch (k) {
    case 0: // {__proto__: {polluted: true}} with fixstr, str8 and str16 keys
      return concat(hex('81'), r.pick([hex('a9'), hex('d9 09'), hex('da 0009')]), utf8.encode('__proto__'), polluted);
    case 1: // {constructor: {prototype: {polluted: true}}}
      return concat(hex('81'), msgpackStr('constructor'), hex('81'), msgpackStr('prototype'), polluted);
    case 2:
      return r.pick(Object.values(EXTENSIONS));
    case 3:
      return concat(r.pick([HUGE_DECLARED.array32, HUGE_DECLARED.array32mid, HUGE_DECLARED.map32, HUGE_DECLARED.str32, HUGE_DECLARED.bin32_64MiB, HUGE_DECLARED.ext32]), randomBytes(r, r.int(0, 8)));
    case 4:
      return HUGE_DECLARED.array16Chain(r.int(2, 3000));
    case 5: // deep nesting: fixarray chains around nil
      return concat(repeat(hex('91'), r.int(32, 5000)), hex('c0'));
    case 6: // maps with non-string keys: array, map, nil, float, timestamp
      return concat(hex('81'), r.pick([hex('91 01'), hex('81 a1 61 01'), hex('c0'), hex('cb 7ff8000000000000'), EXTENSIONS.timestamp32 as Uint8Array]), hex('02'));
    case 7: // 64-bit integers beyond 2^53
      return r.pick([hex('cf ffffffffffffffff'), hex('d3 8000000000000000'), hex('cf 0020000000000001')]);
    case 8: // invalid UTF-8, lone surrogates
      return r.pick([hex('a3 fffefd'), hex('a3 eda080'), hex('a2 c080')]);
    case 9: // NaN, infinities
      return r.pick([hex('cb 7ff8000000000000'), hex('cb 7ff0000000000000'), hex('ca ff800000')]);
    case 10: // many keys named like Object.prototype members
      return concat(hex('84'), msgpackStr('toString'), hex('01'), msgpackStr('valueOf'), hex('02'), msgpackStr('hasOwnProperty'), hex('03'), msgpackStr('__defineGetter__'), hex('04'));
    default:
      return codecByName('msgpack').encode(value(r, 3, true));
  }
}

/** Hostile JSON texts, each one complete value. */
export function hostileJson(r: Rng): string {
  const n = r.int(32, 20_000);
  return r.pick([
    '{"__proto__":{"polluted":true}}',
    '{"\\u005f_proto__":{"polluted":true}}',
    '{"__proto__":{"__proto__":{"polluted":true}}}',
    '{"__proto__":null}',
    '{"__proto__":[1,2]}',
    '[{"a":{"__proto__":{"polluted":true}}}]',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '{"toString":1,"valueOf":2,"hasOwnProperty":3}',
    '['.repeat(n) + ']'.repeat(n),
    '{"a":'.repeat(n) + '1' + '}'.repeat(n),
    '"' + '['.repeat(n) + '"',
    '1e999',
    '-1e999',
    '123456789012345678901234567890',
    '-0',
    '"\\ud800"',
    '"\\u0000"',
    '{"a":1,"a":2}',
    JSON.stringify('x'.repeat(r.int(0, 50_000))),
  ]);
}

/** A valid task message with `hole` (raw bytes, one complete value in the message's codec) in place of an argument, a kwarg or a chained signature's argument. */
export function withHole(r: Rng, codec: Codec, hole: Uint8Array): Message {
  const marker = `HOLE${r.int(1e6, 9e6)}`;
  const where = r.int(0, 3);
  const t = encodeTask(
    {
      task: 'fuzz.hole',
      id: `hole-${r.int(0, 1e9)}`,
      args: where === 0 ? [1, marker] : [1],
      kwargs: where === 1 ? { k: marker } : undefined,
      embed: where === 2 ? { chain: [{ task: 'next', args: [marker] }] } : where === 3 ? { callbacks: [{ task: 'cb', kwargs: { k: marker } }] } : undefined,
    },
    codec,
  );
  const needle = codec.encode(marker);
  const at = indexOf(t.body, needle);
  const body = at < 0 ? t.body : concat(t.body.subarray(0, at), hole, t.body.subarray(at + needle.length));
  return { headers: new Map(Object.entries(t.headers)), body };
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.length).indexOf(Buffer.from(needle.buffer, needle.byteOffset, needle.length));
}

/** One byte-level mutation of `b` (`other` is a second input, for splicing). */
export function mutateBytes(r: Rng, b: Uint8Array, other: Uint8Array, json: boolean): Uint8Array {
  const n = b.length;
  const pos = (): number => r.int(0, Math.max(0, n - 1));
  switch (r.int(0, 10)) {
    case 0: {
      const c = b.slice();
      for (let i = r.int(1, 8); i > 0 && n > 0; i--) {
        const at = pos();
        c[at] = (c[at] as number) ^ (1 << r.int(0, 7));
      }
      return c;
    }
    case 1: {
      const c = b.slice();
      if (n > 0) c[pos()] = r.pick(INTERESTING);
      return c;
    }
    case 2:
      return b.slice(0, r.int(0, Math.max(0, n - 1)));
    case 3:
      return concat(b.subarray(0, r.int(0, n)), other.subarray(r.int(0, other.length)));
    case 4: {
      const at = r.int(0, n);
      return concat(b.subarray(0, at), randomBytes(r, r.int(1, 16)), b.subarray(at));
    }
    case 5: {
      const at = pos();
      return concat(b.subarray(0, at), b.subarray(Math.min(n, at + r.int(1, 16))));
    }
    case 6: {
      const at = pos();
      const piece = b.subarray(at, Math.min(n, at + r.int(1, 64)));
      return concat(b.subarray(0, at), repeat(piece, r.int(2, 50)), b.subarray(at));
    }
    case 7:
      return json ? b : inflateLength(r, b);
    case 8: {
      const at = r.int(0, n);
      const huge = r.pick([HUGE_DECLARED.array32, HUGE_DECLARED.map32, HUGE_DECLARED.str32, HUGE_DECLARED.bin32_64MiB, HUGE_DECLARED.array16Chain(r.int(2, 50))]);
      return concat(b.subarray(0, at), huge, b.subarray(at));
    }
    case 9: {
      const depth = r.int(32, 3000);
      if (json) return concat(utf8.encode('['.repeat(depth)), b, utf8.encode(']'.repeat(depth)));
      return concat(repeat(Uint8Array.of(0x91), depth), b);
    }
    default:
      return json ? b : concat(b.subarray(0, pos()), r.pick(Object.values(EXTENSIONS)), b.subarray(pos()));
  }
}

/** Rewrite the length of a str/bin/array/map/ext header found in `b` (fix forms are widened to 16/32-bit ones). */
function inflateLength(r: Rng, b: Uint8Array): Uint8Array {
  const candidates: number[] = [];
  for (let i = 0; i < b.length; i++) {
    const t = b[i] as number;
    if (LENGTH_BYTES[t] !== undefined || (t >= 0x80 && t <= 0xbf)) candidates.push(i);
  }
  if (candidates.length === 0) return b;
  const at = r.pick(candidates);
  const t = b[at] as number;
  const width = LENGTH_BYTES[t];
  const remaining = b.length - at;
  const len = r.pick([0xffffffff, 0x7fffffff, 0x04000000, 0xffff, remaining, remaining + 1, remaining * 2]);
  if (width === undefined) {
    // fixmap/fixarray/fixstr -> map32/array32/str32 with an inflated length
    const wide = t < 0x90 ? 0xdf : t < 0xa0 ? 0xdd : 0xdb;
    return concat(b.subarray(0, at), Uint8Array.of(wide, len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff), b.subarray(at + 1));
  }
  const c = b.slice();
  for (let k = 0; k < width; k++) c[at + 1 + k] = (len >>> (8 * (width - 1 - k))) & 0xff;
  return c;
}

const ODD_HEADERS: Record<string, string[]> = {
  'content-type': ['application/json', 'application/x-msgpack', 'application/msgpack', 'APPLICATION/JSON', 'application/json; charset=utf-8', 'text/plain', '', ';', 'application/x-msgpack;' + 'x'.repeat(10_000)],
  id: ['', 'x'.repeat(201), 'x'.repeat(100_000), 'a b', '../..', '__proto__', '\u0000', 'ü'],
  task: ['', 'x'.repeat(201), 'a b', '__proto__', 'constructor', '\u0000', '.'],
  eta: ['garbage', '99999-01-01', '', '1e308', 'NaN', '2026-13-45T00:00:00Z', '+275760-09-13T00:00:00.001Z'],
  expires: ['garbage', '0', '-1', '2026-01-01T00:00:00Z'],
  retries: ['-1', '1e308', 'NaN', '0x10', ' 1', '9007199254740993', ''],
  priority: ['10', '-1', '5.5', '', 'Infinity'],
  timelimit: [',', 'a,b', '1e308,', '-1,2', ',,,,', 'NaN,NaN'],
  reply_to: ['evil.subject', '_celeriac.reply.' + 'x'.repeat(300), '_celeriac.reply.x y', '_celeriac.reply.'],
  idempotency_key: ['other', ''],
  ignore_result: ['TRUE', 'yes', ''],
  root_id: ['', 'x'.repeat(10_000)],
  parent_id: ['\u0000'],
  traceparent: ['garbage', '00-' + 'f'.repeat(10_000)],
  // computed: a literal `__proto__:` would set the prototype of ODD_HEADERS instead
  ['__proto__']: ['{"polluted":true}'],
  constructor: ['x'],
  toString: ['x'],
};

/** One header mutation, in place. */
export function mutateHeaders(r: Rng, h: Map<string, string>): void {
  switch (r.int(0, 4)) {
    case 0: {
      const names = [...h.keys()];
      if (names.length) h.delete(r.pick(names));
      return;
    }
    case 1:
    case 2: {
      const name = r.pick(Object.keys(ODD_HEADERS));
      h.set(name, r.pick(ODD_HEADERS[name] as string[]));
      return;
    }
    case 3: // many headers, or one huge one: past the header bound
      if (r.chance(0.5)) for (let i = r.int(1, 400); i > 0; i--) h.set(`x-h${i}`, 'v'.repeat(r.int(1, 100)));
      else h.set('x-big', 'v'.repeat(r.pick([1000, 17_000, 1_000_000])));
      return;
    default: {
      const id = h.get('id');
      if (id !== undefined) h.set('id', `${id}${r.pick(['x', '/', ' ', ''])}`);
    }
  }
}
