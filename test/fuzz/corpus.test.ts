/**
 * The regression corpus (test/fuzz/corpus/known-bad.ts) and the size bounds checked before any
 * decoding: each known-bad input gives a DecodeError in well under 100 ms, through the codec, through
 * `decodeSniffed` and as the body of a task message.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDecodeError } from '../../src/errors.ts';
import { decodeSniffed } from '../../src/protocol/codec.ts';
import { MAX_CONTROL_REQUEST_BYTES, decodeControlRequest } from '../../src/protocol/control.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type DecodeLimits, MAX_DECODED_HEADER_BYTES, decodeTask, encodeTask } from '../../src/protocol/envelope.ts';
import { KNOWN_BAD } from './corpus/known-bad.ts';
import { json, msgpack } from './lib/generators.ts';
import { MAX_CASE_MS } from './lib/harness.ts';

/** Assert that `fn` throws a DecodeError matching `re` within {@link MAX_CASE_MS}. */
function rejectsQuickly(fn: () => unknown, re: RegExp): void {
  const start = performance.now();
  assert.throws(fn, (err: unknown) => {
    assert.ok(isDecodeError(err), `expected a DecodeError, got ${String(err)}`);
    assert.match(err.message, re);
    return true;
  });
  const ms = performance.now() - start;
  assert.ok(ms < MAX_CASE_MS, `took ${ms.toFixed(1)} ms`);
}

function task(body: Uint8Array, contentType: string, extra: Record<string, string> = {}, limits?: DecodeLimits): () => unknown {
  const h = new Map(Object.entries({ task: 'corpus.task', id: 'corpus-1', 'content-type': contentType, ...extra }));
  return () => decodeTask((k) => h.get(k), h.keys(), body, limits);
}

describe('known-bad inputs give a DecodeError quickly', () => {
  for (const bad of KNOWN_BAD) {
    test(`${bad.codec}: ${bad.name}`, () => {
      const codec = bad.codec === 'msgpack' ? msgpack : json;
      rejectsQuickly(() => codec.decode(bad.bytes), bad.expect);
      if (bad.bytes[0] !== 0x7b) rejectsQuickly(() => decodeSniffed(bad.bytes), bad.codec === 'msgpack' ? bad.expect : /./);
      rejectsQuickly(task(bad.bytes, codec.contentType), bad.expect);
    });
  }

  test('a refused record definition leaves no record behind: 0x40 then decodes as the integer 64', () => {
    assert.throws(() => msgpack.decode(Uint8Array.of(0x92, 0xd4, 0x72, 0x40, 0x40)), isDecodeError);
    assert.equal(msgpack.decode(Uint8Array.of(0x40)), 64);
    assert.deepEqual(msgpack.decode(Uint8Array.of(0x92, 0x40, 0x40)), [64, 64]);
  });

  test('timestamps, the one extension the codec writes, still decode', () => {
    const when = new Date('2026-11-24T05:00:00.123Z');
    const out = msgpack.decode(msgpack.encode([when, undefined])) as unknown[];
    assert.ok(out[0] instanceof Date && out[0].getTime() === when.getTime());
    assert.equal(out[1], undefined);
  });
});

describe('sizes are checked before decoding', () => {
  test('a task body over maxPayloadBytes is rejected by its size, not parsed', () => {
    // Garbage that would take a parser a while to reject; the size check must come first.
    const body = new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES + 1).fill(0x91);
    rejectsQuickly(task(body, 'application/x-msgpack'), /body of 1048577 bytes exceeds maxPayloadBytes \(1048576\)/);
  });

  test('the bound follows the app: maxBodyBytes of 1000 rejects a valid 1001-byte body, accepts a 1000-byte one', () => {
    const empty = encodeTask({ task: 'corpus.task', id: 'corpus-1', args: [''] }, json).body.length;
    const make = (n: number) => encodeTask({ task: 'corpus.task', id: 'corpus-1', args: ['x'.repeat(n - empty)] }, json).body;
    assert.equal(make(1000).length, 1000);
    assert.equal((task(make(1000), 'application/json', {}, { maxBodyBytes: 1000 })() as { args: string[] }).args[0]?.length, 1000 - empty);
    rejectsQuickly(task(make(1001), 'application/json', {}, { maxBodyBytes: 1000 }), /exceeds maxPayloadBytes \(1000\)/);
  });

  test('headers over 16 KiB in total are rejected, many small ones or one large one', () => {
    const body = msgpack.encode([[], {}, null]);
    const many: Record<string, string> = {};
    for (let i = 0; i < 400; i++) many[`x-h${i}`] = 'v'.repeat(40);
    rejectsQuickly(task(body, 'application/x-msgpack', many), new RegExp(`headers exceed ${MAX_DECODED_HEADER_BYTES} bytes`));
    rejectsQuickly(task(body, 'application/x-msgpack', { 'x-big': 'v'.repeat(1_000_000) }), /headers exceed/);
    // just under the bound: decodes
    const under = task(body, 'application/x-msgpack', { 'x-big': 'v'.repeat(MAX_DECODED_HEADER_BYTES - 200) })() as { headers: Record<string, string> };
    assert.equal(under.headers['x-big']?.length, MAX_DECODED_HEADER_BYTES - 200);
  });

  test('a control request over 64 KiB is rejected by its size', () => {
    const body = new TextEncoder().encode(JSON.stringify({ command: 'ping', arguments: { pad: 'x'.repeat(MAX_CONTROL_REQUEST_BYTES) } }));
    rejectsQuickly(() => decodeControlRequest(body), /exceeds 65536/);
  });

  test('a deeply nested control request is rejected', () => {
    const body = new TextEncoder().encode(`{"command":"ping","arguments":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}`);
    rejectsQuickly(() => decodeControlRequest(body), /nests deeper than 64/);
  });
});
