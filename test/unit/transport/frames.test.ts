/**
 * The protocol frames the publisher writes itself (`HPUB`/`PUB`): byte for byte what the NATS
 * protocol says, and a refusal (-1) for any subject that could corrupt the stream.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FRAME_OVERHEAD, writeFrame } from '../../../src/transport/nats/frames.ts';

const enc = new TextEncoder();
const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

function frame(subject: string, reply: string, id: number, headers: string | undefined, body: string): string | -1 {
  const h = headers === undefined ? undefined : enc.encode(headers);
  const d = enc.encode(body);
  const r = enc.encode(reply);
  const b = new Uint8Array(FRAME_OVERHEAD + subject.length + r.length + (h?.length ?? 0) + d.length);
  const end = writeFrame(b, 0, subject, r, id, h, d);
  return end < 0 ? -1 : text(b.subarray(0, end));
}

test('a frame with headers is HPUB <subject> <reply> <header bytes> <total bytes>, then both, then CRLF', () => {
  const h = 'NATS/1.0\r\nid: abc\r\n\r\n';
  assert.equal(frame('app-tasks.default', '_CEL_PA.x.', 42, h, 'body!'), `HPUB app-tasks.default _CEL_PA.x.42 ${h.length} ${h.length + 5}\r\n${h}body!\r\n`);
});

test('a frame without headers is PUB <subject> <reply> <bytes>, and an empty body is 0 bytes', () => {
  assert.equal(frame('$JS.API.DIRECT.GET.s', 'in.', 7, undefined, '{"seq":1}'), 'PUB $JS.API.DIRECT.GET.s in.7 9\r\n{"seq":1}\r\n');
  assert.equal(frame('s', 'in.', 0, undefined, ''), 'PUB s in.0 0\r\n\r\n');
});

test('lengths count bytes, not characters, and large ids and sizes are written whole', () => {
  const body = 'café 東京';
  const bytes = enc.encode(body).length;
  assert.equal(frame('s', 'r.', 9_007_199_254_740_991, undefined, body), `PUB s r.9007199254740991 ${bytes}\r\n${Buffer.from(enc.encode(body)).toString('latin1')}\r\n`);
  const big = 'x'.repeat(1_048_576);
  const out = frame('s', 'r.', 1, 'NATS/1.0\r\n\r\n', big);
  assert.ok(typeof out === 'string' && out.startsWith('HPUB s r.1 12 1048588\r\n'));
});

test('an empty subject, or one with a space, a control character or a non-ASCII character, is refused, not written', () => {
  for (const s of ['', 'a b', 'a\tb', 'a\r\nPUB x 0', 'caf\u00e9']) {
    assert.equal(frame(s, 'r.', 1, undefined, 'x'), -1, JSON.stringify(s));
  }
});

test('frames written one after another into one buffer stay separate', () => {
  const r = enc.encode('r.');
  const b = new Uint8Array(3 * (FRAME_OVERHEAD + 10 + 2 + 3));
  let at = 0;
  for (let i = 0; i < 3; i++) at = writeFrame(b, at, `s.${i}`, r, i, undefined, enc.encode(`m${i}`));
  assert.equal(text(b.subarray(0, at)), 'PUB s.0 r.0 2\r\nm0\r\nPUB s.1 r.1 2\r\nm1\r\nPUB s.2 r.2 2\r\nm2\r\n');
});
