/**
 * The protocol frames the publisher writes itself (`HPUB`/`PUB`): byte for byte what the NATS
 * protocol says, and a refusal (-1) for any subject that could corrupt the stream.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FRAME_CHUNK_BYTES, FRAME_OVERHEAD, FrameBatch, frameBytes, writeFrame } from '../../../src/transport/nats/frames.ts';

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

test('a turn of frames is handed over in chunks of at most 256 KiB, in order, a large frame whole', () => {
  const sent: Uint8Array[] = [];
  const sink = { sendCommand: (b: Uint8Array) => void sent.push(b.slice()), outMsgs: 0, outBytes: 0 };
  const r = enc.encode('r.');
  const small = new Uint8Array(1000).fill(120);
  const large = new Uint8Array(FRAME_CHUNK_BYTES + 10).fill(121);
  const parts = [...Array.from({ length: 300 }, () => small), large, small, small];
  const frames = new FrameBatch(sink, parts.reduce((n, b) => n + frameBytes('s', r, undefined, b), 0));
  parts.forEach((b, i) => assert.equal(frames.add('s', r, i, undefined, b), true));
  frames.flush();
  assert.ok(sent.length >= 3, `${sent.length} chunks`);
  for (const c of sent) assert.ok(c.length <= FRAME_CHUNK_BYTES || c.length >= large.length, `a chunk of ${c.length} bytes`);
  // Concatenated, the chunks are exactly the frames in order.
  const all = Buffer.concat(sent).toString('latin1');
  const expected = parts.map((b, i) => `PUB s r.${i} ${b.length}\r\n${Buffer.from(b).toString('latin1')}\r\n`).join('');
  assert.equal(all, expected);
  assert.equal(sink.outMsgs, parts.length);
  assert.equal(sink.outBytes, all.length);
});

test('a frame the batch refuses writes nothing; flush() hands over only what came before it', () => {
  const sent: string[] = [];
  const sink = { sendCommand: (b: Uint8Array) => void sent.push(Buffer.from(b).toString('latin1')) };
  const body = enc.encode('x');
  const frames = new FrameBatch(sink, 3 * frameBytes('a.b', null, undefined, body));
  assert.equal(frames.add('a.b', null, 0, undefined, body), true);
  assert.equal(frames.add('a b', null, 0, undefined, body), false);
  frames.flush();
  assert.equal(frames.add('c.d', null, 0, undefined, body), true);
  frames.flush();
  frames.flush(); // nothing new: nothing sent
  assert.deepEqual(sent, ['PUB a.b 1\r\nx\r\n', 'PUB c.d 1\r\nx\r\n']);
});
