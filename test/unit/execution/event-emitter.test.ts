/**
 * The worker's event batches: what a subscriber decodes from them (`app.events.subscribe`, the
 * dashboard, `celeriac events`) must be what was emitted, whatever the ids, names and fields hold.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CeleriacEvent, EventEmitter, decodeEventBatch } from '../../../src/execution/event-emitter.ts';

interface Sent {
  subject: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

function emitter(enabled = true): { events: EventEmitter; sent: Sent[]; decoded: () => CeleriacEvent[] } {
  const sent: Sent[] = [];
  const events = new EventEmitter({ notify: (subject, headers, body) => void sent.push({ subject, headers, body: body.slice() }) }, 'shop', 'w1@host', enabled);
  const decoded = (): CeleriacEvent[] => sent.flatMap((m) => decodeEventBatch(JSON.parse(new TextDecoder().decode(m.body)), m.headers.worker ?? ''));
  return { events, sent, decoded };
}

test('a batch decodes to the events emitted, in order, one message per subject', () => {
  const { events, sent, decoded } = emitter();
  const before = Date.now();
  events.emit('task-received', 'id-1', 'shop.add', { queue: 'celery', args: '[1,2]' });
  events.emit('worker-heartbeat', null, null, { active: 1 });
  events.emit('task-started', 'id-1', 'shop.add');
  events.emit('task-succeeded', 'id-1', 'shop.add');
  events.flush();
  assert.deepEqual(
    sent.map((m) => m.subject),
    ['shop.events.task', 'shop.events.worker'],
  );
  const got = decoded();
  for (const e of got) {
    assert.ok(e.at >= before && e.at <= Date.now(), `at ${e.at} is the emit time`);
    e.at = 0;
  }
  assert.deepEqual(got, [
    { type: 'task-received', at: 0, worker: 'w1@host', id: 'id-1', task: 'shop.add', queue: 'celery', args: '[1,2]' },
    { type: 'task-started', at: 0, worker: 'w1@host', id: 'id-1', task: 'shop.add' },
    { type: 'task-succeeded', at: 0, worker: 'w1@host', id: 'id-1', task: 'shop.add' },
    { type: 'worker-heartbeat', at: 0, worker: 'w1@host', active: 1 },
  ]);
});

test('ids and fields with quotes, backslashes, control characters and non-ASCII text survive', () => {
  const { events, decoded } = emitter();
  const id = 'order "7"\\\n\u0001 — ünïcødé 🥬';
  events.emit('task-failed', id, 'shop.pay', { error: 'Error: "card" declined — 💳\n' });
  events.flush();
  const [e] = decoded();
  assert.equal(e?.id, id);
  assert.equal(e?.error, 'Error: "card" declined — 💳\n');
});

test('printable ASCII with quotes and backslashes (an arguments preview) is escaped in place and survives', () => {
  const { events, decoded } = emitter();
  const args = JSON.stringify(['a"b', 'c\\d', 'C:\\path\\"x"', 42]);
  events.emit('task-received', 'id-q', 'shop.q"uote', { queue: 'q\\1', args });
  events.flush();
  const [e] = decoded();
  assert.equal(e?.task, 'shop.q"uote');
  assert.equal(e?.queue, 'q\\1');
  assert.equal(e?.args, args);
  assert.deepEqual(JSON.parse(e?.args as string), ['a"b', 'c\\d', 'C:\\path\\"x"', 42]);
});

test('a batch larger than the first buffer grows and stays valid JSON', () => {
  const { events, decoded } = emitter();
  const meta = 'm'.repeat(20_000);
  for (let i = 0; i < 5; i++) events.emit('task-progress', `id-${i}`, 'shop.big', { meta });
  events.flush();
  const got = decoded();
  assert.equal(got.length, 5);
  assert.deepEqual(
    got.map((e) => [e.id, (e.meta as string).length]),
    [0, 1, 2, 3, 4].map((i) => [`id-${i}`, 20_000]),
  );
});

test('512 buffered events are sent at once; the next batch starts empty', () => {
  const { events, sent, decoded } = emitter();
  for (let i = 0; i < 513; i++) events.emit('task-started', `id-${i}`, 'shop.add');
  assert.equal(sent.length, 1, 'the 512th event flushed the batch');
  events.flush();
  assert.equal(sent.length, 2);
  const got = decoded();
  assert.equal(got.length, 513);
  assert.equal(got[512]?.id, 'id-512');
});

test('an event whose fields JSON cannot hold is dropped alone; events off drops everything', () => {
  const { events, decoded } = emitter();
  const loop: Record<string, unknown> = {};
  loop.self = loop;
  events.emit('task-progress', 'id-1', 'shop.add', { meta: loop });
  events.emit('task-progress', 'id-2', 'shop.add', { meta: 10n });
  events.emit('task-succeeded', 'id-3', 'shop.add');
  events.flush();
  assert.deepEqual(
    decoded().map((e) => e.id),
    ['id-3'],
  );

  const off = emitter(false);
  off.events.emit('task-started', 'id-1', 'shop.add');
  off.events.flush();
  assert.equal(off.sent.length, 0);
});

test('fields are written as JSON.stringify writes them, whatever their values', () => {
  const { events, sent, decoded } = emitter();
  const cases: Record<string, unknown>[] = [
    { queue: 'celery', args: '[1,"two",{"x":3}]', trace: '0af7651916cd43dd8448eb211c80319c' },
    { retries: 0, delivery: 2, eta: null, countdownMs: 1_500.5, negative: -3, big: 2 ** 53 - 1, huge: 2 ** 60 },
    { nan: Number.NaN, inf: Number.POSITIVE_INFINITY, yes: true, no: false, nothing: undefined, fn: () => 1, sym: Symbol('s') },
    { meta: { step: 3, of: 10, note: 'ünïcødé "quoted" \\ \n 🥬' }, list: [1, undefined, 'x'], when: new Date(0) },
    { 'key "with" quotes\\': 'v', '': 'empty key', 7: 'integer-like key first' },
    {},
  ];
  for (const fields of cases) events.emit('task-progress', 'id', 'shop.add', fields);
  events.flush();
  JSON.parse(new TextDecoder().decode(sent[0]?.body)); // one valid JSON array
  const got = decoded().map(({ type: _t, at: _a, worker: _w, id: _i, task: _k, ...rest }) => rest);
  assert.deepEqual(
    got,
    cases.map((f) => JSON.parse(JSON.stringify(f)) as Record<string, unknown>),
  );
});

test('a field that fails half-way leaves the batch as it was before that event', () => {
  const { events, decoded } = emitter();
  events.emit('task-started', 'id-1', 'shop.add');
  // The string field is written before the BigInt is reached: the event's bytes must all go.
  events.emit('task-progress', 'id-2', 'shop.add', { note: 'x'.repeat(40_000), meta: 10n });
  events.emit('task-succeeded', 'id-1', 'shop.add');
  events.flush();
  assert.deepEqual(
    decoded().map((e) => [e.type, e.id]),
    [
      ['task-started', 'id-1'],
      ['task-succeeded', 'id-1'],
    ],
  );
});

test('each event carries its own time, also when times repeat and alternate', (t) => {
  const { events, decoded } = emitter();
  const times = [1_795_000_000_000, 1_795_000_000_000, 1_795_000_000_001, 1_795_000_000_000, 7, 1_795_000_000_999];
  let k = 0;
  t.mock.method(Date, 'now', () => times[k++] as number);
  for (let i = 0; i < times.length; i++) events.emit('task-started', `id-${i}`, 'shop.add');
  t.mock.restoreAll();
  events.flush();
  assert.deepEqual(
    decoded().map((e) => e.at),
    times,
  );
});
