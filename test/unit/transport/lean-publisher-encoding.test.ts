/**
 * The publisher's per-message encoding and decoding on NATS: the header block written into a shared
 * slab, and the common PubAck read from its bytes. Both run for every publish, so they avoid
 * strings; they must give what the plain string forms give.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Msg } from '@nats-io/transport-node';
import { encodedHeaders, plainPubAck, replyId } from '../../../src/transport/nats/lean-publisher.ts';

const enc = new TextEncoder();

/** The plain form: the block as a string, as UTF-8. */
function reference(headers: Record<string, string>): Buffer {
  let s = 'NATS/1.0';
  for (const [k, v] of Object.entries(headers)) s += `\r\n${k}: ${v}`;
  return Buffer.from(`${s}\r\n\r\n`, 'utf8');
}

/** The bytes the client writes for a header block (what `encode()` hands it). */
const block = (h: Record<string, string>): Uint8Array => (encodedHeaders(h) as unknown as { encode(): Uint8Array }).encode();
const bytes = (h: Record<string, string>) => Buffer.from(block(h));

test('a header block is the NATS/1.0 block of its lines, ASCII or not', () => {
  const id = '0b6f4c9e-3f4e-4a8e-9f0e-3d2b6a1c5e7f';
  const celeriac = { task: 'shop.orders:place', id, origin: 'web-1@host:123', ignore_result: 'true', 'content-type': 'application/x-msgpack', 'Nats-Msg-Id': id };
  assert.deepEqual(bytes(celeriac), reference(celeriac));
  const unicode = { task: 'noop', 'x-note': 'café – 東京 🚀' };
  assert.deepEqual(bytes(unicode), reference(unicode));
  assert.deepEqual(bytes({}), Buffer.from('NATS/1.0\r\n\r\n'));
  // Larger than a slab's share: still right.
  const big = { task: 'noop', 'x-big': 'v'.repeat(20_000) };
  assert.deepEqual(bytes(big), reference(big));
});

test('blocks written earlier keep their bytes while later ones fill the slab and the next', () => {
  const blocks = Array.from({ length: 2_000 }, (_, i) => {
    const h = { task: 'noop', id: `task-${i}`, 'x-pad': 'p'.repeat(i % 97), ...(i % 13 === 0 ? { 'x-utf8': `é${i}` } : {}) };
    return { h, b: block(h) };
  });
  for (const { h, b } of blocks) assert.deepEqual(Buffer.from(b), reference(h));
});

test('a size hint from the encoder is only a hint: too small or too large, the bytes are the same', () => {
  const counted = (h: Record<string, string>) => Object.entries(h).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
  const hinted = (h: Record<string, string>, hint: number) => Buffer.from((encodedHeaders(h, hint) as unknown as { encode(): Uint8Array }).encode());
  for (let i = 0; i < 3_000; i++) {
    // Sizes that cross slab boundaries at every offset; every hint wrong in one of three ways.
    const h = { task: 'noop', id: `task-${i}`, 'x-pad': 'p'.repeat((i * 37) % 900) };
    const hint = [counted(h), 0, counted(h) * 2][i % 3] as number;
    assert.deepEqual(hinted(h, hint), reference(h), `block ${i} with hint ${hint}`);
  }
});

test('the common PubAck is read from its bytes; every other form is left to JSON.parse', () => {
  assert.deepEqual(plainPubAck(enc.encode('{"stream":"shop-tasks","seq":123456}')), { stream: 'shop-tasks', seq: 123456, duplicate: false });
  assert.deepEqual(plainPubAck(enc.encode('{"stream":"KV_shop-results","seq":0}')), { stream: 'KV_shop-results', seq: 0, duplicate: false });
  // nats-server 2.9's form: a space after the comma (test/integration/lean-publisher.test.ts reads one from a real server).
  assert.deepEqual(plainPubAck(enc.encode('{"stream":"shop-tasks", "seq":42}')), { stream: 'shop-tasks', seq: 42, duplicate: false });
  // Stream names alternate (tasks, results, events): each ack names its own.
  for (const name of ['app1-tasks', 'app2-tasks', 'app2-tasks', 'KV_app-results', 'app1-tasks']) {
    assert.equal(plainPubAck(enc.encode(`{"stream":"${name}","seq":1}`))?.stream, name);
  }
  for (const other of [
    '{"stream":"shop-tasks","seq":7,"duplicate":true}',
    '{"stream":"shop-tasks","domain":"hub","seq":7}',
    '{"stream":"shop-tasks","seq":7,"domain":"hub"}',
    '{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"shop-tasks","seq":0}',
    '{"stream":"sh\\"op","seq":7}',
    '{"stream":"shop-tasks","seq":}',
    '{"stream":"shop-tasks", "seq":}',
    '{"stream":"shop-tasks" ,"seq":7}',
    '{"stream":"shop-tasks"; "seq":7}',
    '{"stream":"shop-tasks", "duplicate":true, "seq":7}',
    '{"stream":"shop-tasks",',
    '{"stream":"shop-tasks", ',
    '{"stream":"shop-tasks","seq":7} ',
    '{"stream":"shop-tasks","seq":-7}',
    '{"stream":"shop-tasks"',
    '',
  ]) {
    assert.equal(plainPubAck(enc.encode(other)), null, other);
  }
});

test('the id at the end of a PubAck subject is read from its bytes, or from the subject string without them', () => {
  const inbox = '_CEL_PA.abc123';
  const withBytes = (subject: string) => ({ _msg: { subject: enc.encode(subject) }, get subject(): string { throw new Error('decoded the subject') } }) as unknown as Msg;
  const plain = (subject: string) => ({ subject }) as unknown as Msg;
  for (const make of [withBytes, plain]) {
    assert.equal(replyId(make(`${inbox}.1`), inbox.length + 1), 1);
    assert.equal(replyId(make(`${inbox}.9007199254740`), inbox.length + 1), 9_007_199_254_740);
    assert.ok(Number.isNaN(replyId(make(`${inbox}.12x`), inbox.length + 1)));
  }
  assert.ok(Number.isNaN(replyId(withBytes(`${inbox}.`), inbox.length + 1)), 'no digits');
});
