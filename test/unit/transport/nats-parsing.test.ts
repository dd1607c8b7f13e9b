/**
 * The worker's per-message parsing on NATS: the JetStream ack subject (delivery count, stream
 * sequence, when the broker stored the message) and the raw header block. Both run for every
 * delivered task, so they read in place; they must agree with the plain `split`/`trim` readings.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Msg } from '@nats-io/transport-node';
import { parseAckDelivery, parseAckSubject } from '../../../src/transport/nats/ack-subject.ts';
import { HeaderPairs, readHeaders } from '../../../src/transport/nats/pull-subscription.ts';

/** The straightforward reading the parser replaces. */
function reference(subject: string) {
  const t = subject.split('.');
  const o = t.length === 9 ? 2 : 4;
  if (t.length < 9 || t[0] !== '$JS' || t[1] !== 'ACK') return null;
  const ts = t[o + 5] as string;
  return {
    stream: t[o],
    consumer: t[o + 1],
    deliveryCount: Number(t[o + 2]),
    streamSequence: Number(t[o + 3]),
    consumerSequence: Number(t[o + 4]),
    timestampNs: ts,
    timestampMs: ts.length > 6 ? Number(ts.slice(0, -6)) : 0,
    pending: Number(t[o + 6]),
  };
}

test('a nats-server 2.9 ack subject (9 tokens)', () => {
  assert.deepEqual(parseAckSubject('$JS.ACK.shop-tasks.celery.3.1042.77.1795526124146695123.12'), {
    stream: 'shop-tasks',
    consumer: 'celery',
    deliveryCount: 3,
    streamSequence: 1042,
    consumerSequence: 77,
    timestampNs: '1795526124146695123',
    timestampMs: 1795526124146,
    pending: 12,
  });
});

test('the 2.10+ forms with domain and account hash (11 and 12 tokens)', () => {
  const eleven = parseAckSubject('$JS.ACK.hub.ACCHASH.shop-tasks.celery.1.5.6.1700000000123456789.0');
  const twelve = parseAckSubject('$JS.ACK.hub.ACCHASH.shop-tasks.celery.1.5.6.1700000000123456789.0.r4nd0m');
  for (const info of [eleven, twelve]) {
    assert.equal(info.stream, 'shop-tasks');
    assert.equal(info.consumer, 'celery');
    assert.equal(info.deliveryCount, 1);
    assert.equal(info.streamSequence, 5);
    assert.equal(info.consumerSequence, 6);
    assert.equal(info.timestampMs, 1700000000123);
    assert.equal(info.pending, 0);
  }
});

test('anything else reads as a first delivery of nothing; odd tokens as the plain reading does', () => {
  const none = { stream: '', consumer: '', deliveryCount: 1, streamSequence: 0, consumerSequence: 0, timestampNs: '0', timestampMs: 0, pending: 0 };
  for (const s of ['', 'reply.inbox', '$JS.ACK.s.c.1.2.3', '$JS.API.s.c.1.2.3.4.5', `$JS.ACK.${'a.'.repeat(20)}z`]) assert.deepEqual(parseAckSubject(s), none, s);
  const odd = parseAckSubject('$JS.ACK.s.c.x1.-2..123.+4');
  assert.deepEqual(odd, reference('$JS.ACK.s.c.x1.-2..123.+4'));
  assert.ok(Number.isNaN(odd.deliveryCount));
});

test('agrees with the plain split reading on many subjects', () => {
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const tok = () => (rnd(4) === 0 ? 'q-' + rnd(1e6).toString(36) : String(rnd(2 ** 31) * (rnd(3) === 0 ? 1e9 : 1)));
  for (let i = 0; i < 2000; i++) {
    const count = [9, 11, 12][rnd(3)] as number;
    const parts = ['$JS', 'ACK', ...Array.from({ length: count - 2 }, tok)];
    const s = parts.join('.');
    assert.deepEqual(parseAckSubject(s), reference(s), s);
  }
});

test('the worker\'s delivery reading agrees with the full one, streams alternating or not, odd subjects too', () => {
  const subjects = [
    '$JS.ACK.shop-tasks.celery.3.1042.77.1795526124146695123.12',
    '$JS.ACK.shop-tasks.celery.1.1043.78.1795526124146695999.11',
    '$JS.ACK.shop-tasks-hi.celery.1.7.8.1795526124146695123.0', // another stream, longer
    '$JS.ACK.shop-taskz.celery.1.7.8.1795526124146695123.0', // same length as the first, other name
    '$JS.ACK.shop-tasks.celery.2.1044.79.1795526124146695999.10',
    '$JS.ACK.hub.ACCHASH.shop-tasks.celery.1.5.6.1700000000123456789.0',
    '$JS.ACK.hub.ACCHASH.shop-tasks.celery.1.5.6.1700000000123456789.0.r4nd0m',
    '$JS.ACK.s.c.x1.-2..123.+4',
    '$JS.ACK.s.c.1.2.3.4',
    '',
    'reply.inbox',
    `$JS.ACK.${'a.'.repeat(20)}z`,
  ];
  for (const s of subjects) {
    const full = parseAckSubject(s);
    assert.deepEqual(
      parseAckDelivery(s),
      { stream: full.stream, sequence: full.streamSequence, deliveryCount: full.deliveryCount, redelivered: full.deliveryCount > 1, storedAt: full.timestampMs },
      s,
    );
  }
});

/** A delivered message whose raw header block is `block` (what readHeaders reads when the client exposes it). */
function rawMessage(block: string): Msg {
  const bytes = Buffer.from(block + 'body', 'utf8');
  return { _msg: { hdr: Buffer.byteLength(block, 'utf8') }, _rdata: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), headers: undefined } as unknown as Msg;
}

test('header lines: values trimmed as String.trim does, the first of a repeated name kept', () => {
  const lines: Array<[string, string]> = [
    ['task', 'shop.add'],
    ['id', 'x'],
    ['pad', '   spaced out \t '],
    ['tight', 'v'],
    ['empty', ''],
    ['uni', '\u00a0ünï\u3000'],
    ['inner', 'a: b: c'],
    ['dup', 'first'],
    ['dup', 'second'],
  ];
  const block = 'NATS/1.0\r\n' + lines.map(([k, v], i) => (i === 1 || i === 3 ? `${k}:${v}` : `${k}: ${v}`)).join('\r\n') + '\r\n\r\n';
  const got = readHeaders(rawMessage(block));
  const want = new Map<string, string>();
  for (const [k, v] of lines) if (!want.has(k)) want.set(k, v.trim());
  assert.deepEqual([...got], [...want]);
  assert.equal(got.get('uni'), 'ünï');
  assert.equal(got.get('pad'), 'spaced out');
});

test('header values of known names are right from message to message (values reused only when they match)', () => {
  const blocks: Array<Array<[string, string]>> = [
    [['task', 'shop.add'], ['origin', '1@a'], ['content-type', 'application/json']],
    [['task', 'shop.sub'], ['origin', '1@a'], ['content-type', 'application/x-msgpack']], // same length, other text
    [['task', 'shop.add'], ['origin', '  1@a  '], ['content-type', 'application/json']],
    [['task', 'shop.ad'], ['tasks', 'not the task'], ['task2', 'nor this'], ['origin', '1@a\t']],
    [['task', 'ünï'], ['task', 'second'], ['id', 'x-1']],
    [['task', 'shop.add'], ['id', 'x-2']],
  ];
  for (const lines of blocks) {
    const block = 'NATS/1.0\r\n' + lines.map(([k, v]) => `${k}: ${v}`).join('\r\n') + '\r\n\r\n';
    const want = new Map<string, string>();
    for (const [k, v] of lines) if (!want.has(k)) want.set(k, v.trim());
    assert.deepEqual([...readHeaders(rawMessage(block))], [...want]);
  }
});

test('a block of many headers: every one read, the first of a repeated name kept, before and after the lookup index starts', () => {
  const lines: Array<[string, string]> = [];
  for (let i = 0; i < 3_000; i++) lines.push([`x-${i % 2_000}`, `v${i}`]); // names 0..999 appear twice
  lines.splice(5, 0, ['x-3', 'early duplicate'], ['task', 'shop.add']);
  const block = 'NATS/1.0\r\n' + lines.map(([k, v]) => `${k}: ${v}`).join('\r\n') + '\r\n\r\n';
  const want = new Map<string, string>();
  for (const [k, v] of lines) if (!want.has(k)) want.set(k, v);
  const got = readHeaders(rawMessage(block));
  assert.equal(got.size, 2_001);
  assert.deepEqual([...got], [...want]);
  assert.equal(got.get('x-3'), 'v3');
  assert.equal(got.get('x-1999'), 'v1999');
});

test('HeaderPairs: first value per name, the same answers with or without its index', () => {
  for (const count of [3, 16, 17, 200]) {
    const h = new HeaderPairs();
    for (let i = 0; i < count; i++) h.add(`n${i}`, `first ${i}`);
    for (let i = 0; i < count; i++) h.add(`n${i}`, `second ${i}`);
    assert.equal(h.names.length, count);
    for (let i = 0; i < count; i++) assert.equal(h.get(`n${i}`), `first ${i}`);
    assert.equal(h.get('absent'), undefined);
  }
});
