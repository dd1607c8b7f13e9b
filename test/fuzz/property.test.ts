/**
 * Property tests of the decoders (fast-check): what the encoders write always decodes back, and any
 * bytes either decode or throw a DecodeError. Seeded from `CELERIAC_FUZZ_SEED` like the mutation
 * fuzzer; ten times the runs with `CELERIAC_CHAOS_FULL=1`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isDecodeError } from '../../src/errors.ts';
import { type Codec, decodeSniffed } from '../../src/protocol/codec.ts';
import { decodeControlReply, decodeControlRequest } from '../../src/protocol/control.ts';
import { decodeTask, encodeTask } from '../../src/protocol/envelope.ts';
import { H } from '../../src/protocol/headers.ts';
import { json, msgpack } from './lib/generators.ts';
import { inspectValue } from './lib/harness.ts';
import { fullTier, fuzzSeed } from './lib/seed.ts';

const seed = fuzzSeed('property');
const runs = (fast: number): fc.Parameters<unknown> => ({ seed, numRuns: fullTier() ? fast * 10 : fast });

/** The value a decoder gives back for `v`: own `__proto__` keys renamed to `__proto_`, -0 as 0 (both codecs). */
function renamed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(renamed);
  if (Object.is(v, -0)) return 0;
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k === '__proto__' ? '__proto_' : k] = renamed((v as Record<string, unknown>)[k]);
  return out;
}

/** True when some object holds both `__proto__` and `__proto_` (the rename would collide). */
function collides(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (!Array.isArray(v) && Object.hasOwn(v, '__proto__') && Object.hasOwn(v, '__proto_')) return true;
  return Object.values(v).some(collides);
}

/** Returns or throws a DecodeError: anything else fails the property. */
function decodesOrRejects(fn: () => unknown): void {
  try {
    const v = fn();
    assert.equal(inspectValue(v), null);
  } catch (err) {
    if (!isDecodeError(err)) throw err;
  }
}

const jsonArgs = fc.array(fc.jsonValue({ maxDepth: 6 }), { maxLength: 6 });
const jsonKwargs = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 5 }), { maxKeys: 6 });

describe('round trip', () => {
  for (const codec of [msgpack, json] as Codec[]) {
    test(`${codec.name}: JSON-safe args and kwargs come back equal through encodeTask -> decodeTask`, () => {
      fc.assert(
        fc.property(jsonArgs, jsonKwargs, fc.uuid(), (args, kwargs, id) => {
          fc.pre(!collides(args) && !collides(kwargs));
          const t = encodeTask({ task: 'prop.roundtrip', id, args, kwargs }, codec);
          const headers = new Map(Object.entries(t.headers));
          const m = decodeTask((k) => headers.get(k), headers.keys(), t.body);
          assert.deepEqual(m.args, renamed(args));
          assert.deepEqual(m.kwargs, renamed(kwargs));
          assert.equal(m.id, id);
          assert.equal(m.contentType, codec.contentType);
        }),
        runs(1000),
      );
    });
  }

  test('msgpack: whatever the encoder writes (Dates, byte arrays, undefined, odd numbers) passes the precheck', () => {
    fc.assert(
      fc.property(fc.anything({ withDate: true, withTypedArray: false, maxDepth: 8 }), (v) => {
        let bytes: Uint8Array;
        try {
          bytes = msgpack.encode(v);
        } catch {
          return; // not encodable (e.g. a symbol): nothing to decode
        }
        msgpack.decode(bytes);
      }),
      runs(2000),
    );
  });
});

describe('arbitrary bytes decode or throw DecodeError', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    // bytes that start like a container, so the parsers get past the first byte
    fc.tuple(fc.constantFrom(0x7b, 0x5b, 0x91, 0x93, 0xdc, 0xdd, 0x81, 0xde, 0xc7, 0xd4), fc.uint8Array({ maxLength: 300 })).map(([b, rest]) => Uint8Array.of(b, ...rest)),
    fc.jsonValue({ maxDepth: 4 }).chain((v) => fc.constant(new TextEncoder().encode(JSON.stringify(v)))),
  );
  for (const [name, fn] of [
    ['msgpack.decode', (b: Uint8Array) => msgpack.decode(b)],
    ['json.decode', (b: Uint8Array) => json.decode(b)],
    ['decodeSniffed', (b: Uint8Array) => decodeSniffed(b)],
    ['decodeControlRequest', (b: Uint8Array) => decodeControlRequest(b)],
  ] as const) {
    test(name, () => {
      fc.assert(fc.property(bytes, (b) => decodesOrRejects(() => fn(b))), runs(3000));
    });
  }

  test('decodeControlReply never throws', () => {
    fc.assert(fc.property(bytes, (b) => void decodeControlReply(b)), runs(3000));
  });

  test('decodeTask with arbitrary headers and body', () => {
    const name = fc.oneof(fc.constantFrom(...Object.values(H), '__proto__', 'constructor'), fc.string({ maxLength: 20 }));
    const val = fc.oneof(fc.constantFrom('application/json', 'application/x-msgpack', 'math.add', '_celeriac.reply.x', '2026-01-01T00:00:00Z'), fc.string({ maxLength: 40 }));
    const headers = fc.dictionary(name, val, { maxKeys: 12 });
    const body = fc.oneof(bytes, jsonArgs.map((a) => msgpack.encode([a, {}, null])), jsonArgs.map((a) => json.encode([a, {}, null])));
    fc.assert(
      fc.property(headers, body, (h, b) => {
        const m = new Map(Object.entries(h));
        decodesOrRejects(() => decodeTask((k) => m.get(k), m.keys(), b));
      }),
      runs(3000),
    );
  });
});
