/**
 * The delayed-tasks store of the memory transport: `publishDelayed` (deduplicated by `Nats-Msg-Id`,
 * bounded by `maxMessages`) and `delayed()` with follow / fetch / remove / list / count, per namespace.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { isInvalidArgumentError, isQueueFullError } from '../../../src/errors.ts';
import type { EncodedTask } from '../../../src/protocol/envelope.ts';
import { resetMemoryBroker } from '../../../src/transport/memory/memory-broker.ts';
import { MemoryTransport, type MemoryTransportOptions } from '../../../src/transport/memory/memory-transport.ts';
import type { DelayedEntry } from '../../../src/transport/transport.ts';

const utf8 = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);
/** Let pending microtasks and I/O callbacks run once. */
const flush = () => new Promise<void>((r) => setImmediate(r));

const ETA = Date.parse('2030-01-02T03:04:05.678Z');

/** A delayed task; `eta: null` leaves the header out. */
function task(id: string = randomUUID(), eta: string | null = new Date(ETA).toISOString()): EncodedTask {
  const headers: Record<string, string> = { id, task: 't', 'Nats-Msg-Id': id };
  if (eta !== null) headers['eta'] = eta;
  return { id, headers, body: utf8.encode(`body-${id}`) };
}

const brokers: string[] = [];
const transports: MemoryTransport[] = [];

function open(url: string, options: MemoryTransportOptions = {}): MemoryTransport {
  const t = new MemoryTransport(url, options);
  transports.push(t);
  return t;
}

function fresh(options: MemoryTransportOptions = {}): { url: string; t: MemoryTransport } {
  const name = `delayed-${randomUUID()}`;
  brokers.push(name);
  const url = `memory://${name}`;
  return { url, t: open(url, options) };
}

afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
  for (const b of brokers.splice(0)) resetMemoryBroker(b);
});

describe('MemoryTransport delayed tasks', { timeout: 10_000 }, () => {
  test('follow delivers the stored entries oldest first, then new ones, with queue, eta and taskId', async () => {
    const { t } = fresh();
    await t.publishDelayed('emails', task('a'));
    await t.publishDelayed('reports', task('b', 'not a date'));
    const store = await t.delayed();
    const got: DelayedEntry[] = [];
    let resets = 0;
    const stop = store.follow(
      (e) => got.push(e),
      () => resets++,
    );
    assert.equal(got.length, 0, 'entries are delivered asynchronously, after follow() returned');
    await t.publishDelayed('emails', task('c', null));
    await flush();
    assert.deepEqual(got, [
      { seq: 1, queue: 'emails', eta: ETA, taskId: 'a' },
      { seq: 2, queue: 'reports', eta: 0, taskId: 'b' },
      { seq: 3, queue: 'emails', eta: 0, taskId: 'c' },
    ]);
    await t.publishDelayed('emails', { id: 'x', headers: { 'Nats-Msg-Id': 'x' }, body: new Uint8Array(0) });
    await flush();
    assert.deepEqual(got[3], { seq: 4, queue: 'emails', eta: 0, taskId: '' });
    stop();
    await t.publishDelayed('emails', task('d'));
    await flush();
    assert.equal(got.length, 4, 'nothing after stop');
    assert.equal(resets, 0);
  });

  test('an entry removed before the follower caught up is not delivered; two followers each see every entry', async () => {
    const { t } = fresh();
    await t.publishDelayed('q', task('a'));
    await t.publishDelayed('q', task('b'));
    const store = await t.delayed();
    const one: number[] = [];
    const two: number[] = [];
    store.follow((e) => one.push(e.seq), () => {});
    store.follow((e) => two.push(e.seq), () => {});
    assert.equal(await store.remove(1), true);
    await flush();
    await t.publishDelayed('q', task('c'));
    await flush();
    assert.deepEqual(one, [2, 3]);
    assert.deepEqual(two, [2, 3]);
  });

  test('an onEntry that throws is reported and the follower goes on', async () => {
    const warnings: string[] = [];
    const { t } = fresh({ onWarning: (m) => warnings.push(m) });
    await t.publishDelayed('q', task('a'));
    await t.publishDelayed('q', task('b'));
    const got: string[] = [];
    (await t.delayed()).follow((e) => {
      if (e.taskId === 'a') throw new Error('boom');
      got.push(e.taskId);
    }, () => {});
    await flush();
    assert.deepEqual(got, ['b']);
    assert.match(warnings.join('\n'), /boom/);
  });

  test('a Nats-Msg-Id seen in the last two minutes is stored once; a task without one is never deduplicated', async (ctx) => {
    const { t } = fresh();
    await t.publishDelayed('q', task('same'));
    await t.publishDelayed('q', task('same'));
    const store = await t.delayed();
    assert.equal(await store.count(), 1);
    const noId: EncodedTask = { id: 'n', headers: { id: 'n' }, body: new Uint8Array(0) };
    await t.publishDelayed('q', noId);
    await t.publishDelayed('q', noId);
    assert.equal(await store.count(), 3);
    const now = Date.now();
    ctx.mock.method(Date, 'now', () => now + 120_001);
    await t.publishDelayed('q', task('same'));
    assert.equal(await store.count(), 4, 'the window has passed');
  });

  test('maxMessages bounds the store: a full store refuses with QueueFullError, a duplicate is still accepted', async () => {
    const { t } = fresh({ maxMessages: 2 });
    await t.publishDelayed('q', task('a'));
    await t.publishDelayed('q', task('b'));
    await assert.rejects(t.publishDelayed('q', task('c')), (e: unknown) => isQueueFullError(e));
    await t.publishDelayed('q', task('a'));
    const store = await t.delayed();
    assert.equal(await store.remove(1), true);
    await t.publishDelayed('q', task('c'));
    assert.deepEqual((await store.list()).map((e) => e.taskId), ['b', 'c']);
  });

  test('fetch returns the stored message or null; remove is true once, then false', async () => {
    const { t } = fresh();
    const a = task('a');
    await t.publishDelayed('emails', a);
    const store = await t.delayed();
    const m = await store.fetch(1);
    assert.ok(m);
    assert.equal(m.seq, 1);
    assert.equal(m.queue, 'emails');
    assert.deepEqual(m.headers, a.headers);
    assert.equal(text(m.body), 'body-a');
    assert.equal(await store.fetch(2), null);
    assert.equal(await store.remove(1), true);
    assert.equal(await store.remove(1), false);
    assert.equal(await store.fetch(1), null);
    assert.equal(await store.remove(99), false);
    assert.equal(await store.count(), 0);
  });

  test('list is oldest first and bounded by limit (1000 by default); count is the number stored', async () => {
    const { t } = fresh();
    for (let i = 0; i < 1005; i++) await t.publishDelayed(i % 2 ? 'odd' : 'even', task(`t${i}`));
    const store = await t.delayed();
    assert.equal(await store.count(), 1005);
    const all = await store.list();
    assert.equal(all.length, 1000);
    assert.deepEqual(all.slice(0, 2), [
      { seq: 1, queue: 'even', eta: ETA, taskId: 't0' },
      { seq: 2, queue: 'odd', eta: ETA, taskId: 't1' },
    ]);
    assert.deepEqual((await store.list(3)).map((e) => e.seq), [1, 2, 3]);
    for (const bad of [0, -1, 1.5]) await assert.rejects(store.list(bad), (e: unknown) => isInvalidArgumentError(e));
  });

  test('the store is per namespace and shared by transports of one namespace on one broker', async () => {
    const { url, t } = fresh({ namespace: 'app1' });
    const same = open(url, { namespace: 'app1' });
    const other = open(url, { namespace: 'app2' });
    await t.publishDelayed('q', task('a'));
    assert.equal(await (await same.delayed()).count(), 1);
    assert.equal(await (await other.delayed()).count(), 0);
    const seen: string[] = [];
    (await same.delayed()).follow((e) => seen.push(e.taskId), () => {});
    await flush();
    await t.publishDelayed('q', task('b'));
    await other.publishDelayed('q', task('z'));
    await flush();
    assert.deepEqual(seen, ['a', 'b']);
  });

  test('a queue name that is not a token is refused', async () => {
    const { t } = fresh();
    await assert.rejects(t.publishDelayed('a.b', task()), (e: unknown) => isInvalidArgumentError(e));
    assert.equal(await (await t.delayed()).count(), 0);
  });

  test('close() stops the followers started through the transport', async () => {
    const { url, t } = fresh();
    const producer = open(url);
    const got: string[] = [];
    (await t.delayed()).follow((e) => got.push(e.taskId), () => {});
    await producer.publishDelayed('q', task('a'));
    await flush();
    await t.close();
    await producer.publishDelayed('q', task('b'));
    await flush();
    assert.deepEqual(got, ['a']);
  });
});
