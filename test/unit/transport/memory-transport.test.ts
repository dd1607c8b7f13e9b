import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { isQueueFullError, isRevisionMismatchError } from '../../../src/errors.ts';
import type { EncodedTask } from '../../../src/protocol/envelope.ts';
import { resetMemoryBroker } from '../../../src/transport/memory/memory-broker.ts';
import { MemoryTransport, type MemoryTransportOptions } from '../../../src/transport/memory/memory-transport.ts';
import type { IncomingMessage, KvEntry } from '../../../src/transport/transport.ts';
import { deferred } from '../../../src/util/deferred.ts';

const utf8 = new TextEncoder();

/** Let pending microtasks and I/O callbacks run once. */
const flush = () => new Promise<void>((r) => setImmediate(r));

function task(id: string = randomUUID(), body: string = id): EncodedTask {
  return { id, headers: { id, task: 't', 'Nats-Msg-Id': id }, body: utf8.encode(body) };
}

const brokers: string[] = [];
const transports: MemoryTransport[] = [];

/** A transport on a broker of its own (brokers are process-global by name). */
function fresh(options: MemoryTransportOptions = {}): { url: string; t: MemoryTransport } {
  const name = `t-${randomUUID()}`;
  brokers.push(name);
  const url = `memory://${name}`;
  return { url, t: open(url, options) };
}

/** Another transport on the same broker. */
function open(url: string, options: MemoryTransportOptions = {}): MemoryTransport {
  const t = new MemoryTransport(url, options);
  transports.push(t);
  return t;
}

/** Subscribe and collect every delivered message. */
async function collect(t: MemoryTransport, queue = 'q') {
  const got: IncomingMessage[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  const sub = await t.subscribe(queue, (m) => {
    got.push(m);
    if (waiter && got.length >= waiter.n) waiter.resolve();
  });
  return {
    got,
    sub,
    /** Resolves once `n` messages in total have been delivered. */
    until(n: number): Promise<void> {
      if (got.length >= n) return Promise.resolve();
      const d = deferred();
      waiter = { n, resolve: d.resolve };
      return d.promise;
    },
  };
}

const ids = (ms: IncomingMessage[]) => ms.map((m) => m.header('id'));

// The memory transport unrefs its pull-expiry and nak-delay timers, so an awaited pull alone does not
// keep the event loop alive; this handle does, for the duration of the file.
let keepAlive: NodeJS.Timeout | undefined;
before(() => {
  keepAlive = setInterval(() => {}, 60_000);
});
after(() => clearInterval(keepAlive));

afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
  for (const b of brokers.splice(0)) resetMemoryBroker(b);
});

describe('MemoryTransport queues', () => {
  test('publish then pull delivers the message with its headers and body', async () => {
    const { t } = fresh();
    await t.connect();
    const m = task('id-1', 'hello');
    await t.publish('q', m);
    const c = await collect(t);
    assert.equal(await c.sub.pull(1), 1);
    assert.equal(c.got.length, 1);
    const got = c.got[0] as IncomingMessage;
    assert.equal(got.queue, 'q');
    assert.equal(got.header('id'), 'id-1');
    assert.equal(got.header('missing'), undefined);
    assert.deepEqual([...got.headerNames()].sort(), ['Nats-Msg-Id', 'id', 'task']);
    assert.equal(new TextDecoder().decode(got.body), 'hello');
    const { storedAt, ...delivery } = got.delivery;
    assert.deepEqual(delivery, { stream: 'q', sequence: 1, deliveryCount: 1, redelivered: false });
    assert.ok(typeof storedAt === 'number' && Math.abs(storedAt - Date.now()) < 5000, 'storedAt: when it was published');
  });

  test('queues are separate', async () => {
    const { t } = fresh({ pullExpiresMs: 20 });
    await t.publish('a', task('in-a'));
    const c = await collect(t, 'b');
    assert.equal(await c.sub.pull(1), 0);
    assert.equal(c.got.length, 0);
  });

  test('delivers in FIFO order', async () => {
    const { t } = fresh();
    for (const id of ['m1', 'm2', 'm3']) await t.publish('q', task(id));
    const c = await collect(t);
    assert.equal(await c.sub.pull(3), 3);
    assert.deepEqual(ids(c.got), ['m1', 'm2', 'm3']);
    assert.deepEqual(
      c.got.map((m) => m.delivery.sequence),
      [1, 2, 3],
    );
  });

  test('pull(n) never delivers more than n', async () => {
    const { t } = fresh();
    for (let i = 0; i < 5; i++) await t.publish('q', task(`m${i}`));
    const c = await collect(t);
    assert.equal(await c.sub.pull(2), 2);
    await flush();
    assert.deepEqual(ids(c.got), ['m0', 'm1']);
    assert.equal(await c.sub.pull(3), 3);
    assert.deepEqual(ids(c.got), ['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  test('a pull waits for a later publish', async () => {
    const { t } = fresh();
    const c = await collect(t);
    let settled = false;
    const p = c.sub.pull(1).then((n) => {
      settled = true;
      return n;
    });
    await flush();
    assert.equal(settled, false);
    assert.equal(c.got.length, 0);
    await t.publish('q', task('late'));
    assert.equal(await p, 1);
    assert.deepEqual(ids(c.got), ['late']);
  });

  test('a publish from another transport on the same broker reaches the subscriber', async () => {
    const { url, t } = fresh();
    const c = await collect(t);
    const p = c.sub.pull(1);
    await open(url).publish('q', task('other'));
    assert.equal(await p, 1);
  });

  test('an unfilled pull expires with what it got', async () => {
    const { t } = fresh({ pullExpiresMs: 20 });
    await t.publish('q', task('only'));
    const c = await collect(t);
    assert.equal(await c.sub.pull(5), 1);
    assert.equal(await c.sub.pull(5), 0);
  });

  test('pull(0) delivers nothing', async () => {
    const { t } = fresh();
    await t.publish('q', task());
    const c = await collect(t);
    assert.equal(await c.sub.pull(0), 0);
    assert.equal(c.got.length, 0);
  });

  test('nak() redelivers at once, with deliveryCount 2 and redelivered', async () => {
    const { t } = fresh();
    await t.publish('q', task('again'));
    const c = await collect(t);
    await c.sub.pull(1);
    (c.got[0] as IncomingMessage).nak();
    assert.equal(await c.sub.pull(1), 1);
    const second = c.got[1] as IncomingMessage;
    assert.equal(second.header('id'), 'again');
    assert.equal(second.delivery.deliveryCount, 2);
    assert.equal(second.delivery.redelivered, true);
    assert.equal(second.delivery.sequence, (c.got[0] as IncomingMessage).delivery.sequence);
  });

  test('nak(delay) redelivers only after the delay', async () => {
    const delayMs = 150;
    const { url, t } = fresh();
    await t.publish('q', task('later'));
    const c = await collect(t);
    await c.sub.pull(1);
    const nakAt = performance.now();
    (c.got[0] as IncomingMessage).nak(delayMs);
    // A transport whose pulls expire long before the delay ends: its pull must come back empty.
    const early = await collect(open(url, { pullExpiresMs: 20 }));
    assert.equal(await early.sub.pull(1), 0);
    assert.equal(early.got.length, 0);
    // The default transport's pull waits and gets it once the delay is over.
    assert.equal(await c.sub.pull(1), 1);
    assert.ok(performance.now() - nakAt >= delayMs - 2, 'not redelivered before the delay');
    assert.equal((c.got[1] as IncomingMessage).delivery.deliveryCount, 2);
  });

  test('ack removes the message for good', async () => {
    const { url, t } = fresh();
    await t.publish('q', task('done'));
    const c = await collect(t);
    await c.sub.pull(1);
    (c.got[0] as IncomingMessage).ack();
    await c.sub.close();
    const after = await collect(open(url, { pullExpiresMs: 20 }));
    assert.equal(await after.sub.pull(1), 0);
  });

  test('term never redelivers, even when the subscription closes', async () => {
    const { url, t } = fresh();
    await t.publish('q', task('poison'));
    const c = await collect(t);
    await c.sub.pull(1);
    (c.got[0] as IncomingMessage).term();
    await c.sub.close();
    const after = await collect(open(url, { pullExpiresMs: 20 }));
    assert.equal(await after.sub.pull(1), 0);
  });

  test('a message settles once: nak after ack does nothing', async () => {
    const { url, t } = fresh();
    await t.publish('q', task('once'));
    const c = await collect(t);
    await c.sub.pull(1);
    const m = c.got[0] as IncomingMessage;
    m.ack();
    m.nak();
    m.term();
    const after = await collect(open(url, { pullExpiresMs: 20 }));
    assert.equal(await after.sub.pull(1), 0);
  });

  test('closing a subscription gives unsettled messages back after AckWait', async () => {
    const { url, t } = fresh({ ackWaitMs: 50 });
    for (const id of ['u1', 'u2', 'u3']) await t.publish('q', task(id));
    const c = await collect(t);
    await c.sub.pull(3);
    (c.got[1] as IncomingMessage).ack();
    await c.sub.close();
    const after = await collect(open(url, { pullExpiresMs: 20 }));
    assert.equal(await after.sub.pull(2), 0, 'still held right after close (a running task may ack it)');
    const later = await collect(open(url));
    assert.equal(await later.sub.pull(2), 2);
    after.got.push(...later.got);
    assert.deepEqual(ids(after.got).sort(), ['u1', 'u3']);
    assert.ok(after.got.every((m) => m.delivery.deliveryCount === 2 && m.delivery.redelivered));
  });

  test('a message acked after its subscription closed is not delivered again', async () => {
    const { url, t } = fresh({ ackWaitMs: 30 });
    await t.publish('q', task('late-ack'));
    const c = await collect(t);
    await c.sub.pull(1);
    await c.sub.close();
    (c.got[0] as IncomingMessage).ack();
    await new Promise((r) => setTimeout(r, 60)); // past AckWait: the timer finds it settled
    const after = await collect(open(url, { pullExpiresMs: 20 }));
    assert.equal(await after.sub.pull(1), 0);
  });

  test('closing a subscription ends its outstanding pulls; later pulls get nothing', async () => {
    const { t } = fresh();
    const c = await collect(t);
    const p = c.sub.pull(5);
    await c.sub.close();
    assert.equal(await p, 0);
    await t.publish('q', task('after-close'));
    assert.equal(await c.sub.pull(1), 0);
    assert.equal(c.got.length, 0);
  });

  test('closing the transport closes its subscriptions', async () => {
    const { url, t } = fresh({ ackWaitMs: 20 });
    await t.publish('q', task('held'));
    const c = await collect(t);
    await c.sub.pull(1);
    const waiting = c.sub.pull(1);
    await t.close();
    assert.equal(await waiting, 0);
    const after = await collect(open(url));
    assert.equal(await after.sub.pull(1), 1);
    assert.deepEqual(ids(after.got), ['held']);
  });

  test('a task id published twice within the window is stored once', async () => {
    const { t } = fresh({ pullExpiresMs: 20 });
    await t.publish('q', task('same', 'first'));
    await t.publish('q', task('same', 'second'));
    await t.publish('q', task('different'));
    const c = await collect(t);
    assert.equal(await c.sub.pull(5), 2);
    assert.deepEqual(ids(c.got), ['same', 'different']);
    assert.equal(new TextDecoder().decode((c.got[0] as IncomingMessage).body), 'first');
  });

  test('a full queue refuses publishes with QueueFullError naming the queue', async () => {
    const { t } = fresh({ maxMessages: 2 });
    await t.publish('orders', task('a'));
    await t.publish('orders', task('b'));
    await assert.rejects(t.publish('orders', task('c')), (err: unknown) => {
      assert.ok(isQueueFullError(err));
      assert.equal(err.code, 'E_QUEUE_FULL');
      assert.match(err.message, /queue "orders" is full \(2 messages\)/);
      return true;
    });
    // other queues are not affected
    await t.publish('other', task('d'));
  });

  test('a refused task can be published again once there is room', async () => {
    const { t } = fresh({ maxMessages: 1 });
    await t.publish('q', task('a'));
    await assert.rejects(t.publish('q', task('b')), (err: unknown) => isQueueFullError(err));
    const c = await collect(t);
    await c.sub.pull(1);
    (c.got[0] as IncomingMessage).ack();
    await t.publish('q', task('b'));
    assert.equal(await c.sub.pull(1), 1);
    assert.deepEqual(ids(c.got), ['a', 'b']);
  });
});

describe('MemoryKeyValueStore', () => {
  const v = (s: string) => utf8.encode(s);
  const text = (e: KvEntry | null) => (e ? new TextDecoder().decode(e.value) : null);

  test('put returns increasing revisions; get returns the last value', async () => {
    const { t } = fresh();
    const kv = await t.openKv('results', { ttlMs: 0 });
    assert.equal(kv.bucket, 'results');
    assert.equal(await kv.get('k'), null);
    const r1 = await kv.put('k', v('one'));
    const r2 = await kv.put('k', v('two'));
    assert.ok(r2 > r1);
    const e = await kv.get('k');
    assert.deepEqual({ ...e, value: text(e) }, { key: 'k', value: 'two', revision: r2, operation: 'PUT' });
  });

  test('buckets opened twice on one broker share entries; other buckets do not', async () => {
    const { url, t } = fresh();
    await (await t.openKv('b1', { ttlMs: 0 })).put('k', v('x'));
    assert.equal(text(await (await open(url).openKv('b1', { ttlMs: 0 })).get('k')), 'x');
    assert.equal(await (await t.openKv('b2', { ttlMs: 0 })).get('k'), null);
  });

  test('expectRevision 0 means the key must not exist', async () => {
    const { t } = fresh();
    const kv = await t.openKv('b', { ttlMs: 0 });
    const r1 = await kv.put('k', v('first'), { expectRevision: 0 });
    await assert.rejects(kv.put('k', v('second'), { expectRevision: 0 }), (err: unknown) => {
      assert.ok(isRevisionMismatchError(err));
      assert.equal(err.code, 'E_REVISION_MISMATCH');
      assert.equal(err.key, 'k');
      assert.match(err.message, new RegExp(`wrong last sequence: ${r1} \\(expected 0\\)`));
      return true;
    });
    assert.equal(text(await kv.get('k')), 'first');
  });

  test('expectRevision must match the last revision', async () => {
    const { t } = fresh();
    const kv = await t.openKv('b', { ttlMs: 0 });
    const r1 = await kv.put('k', v('1'));
    const r2 = await kv.put('k', v('2'), { expectRevision: r1 });
    await assert.rejects(kv.put('k', v('stale'), { expectRevision: r1 }), (err: unknown) => isRevisionMismatchError(err));
    await assert.rejects(kv.put('other', v('x'), { expectRevision: r2 }), (err: unknown) => isRevisionMismatchError(err));
    assert.ok((await kv.put('k', v('3'), { expectRevision: r2 })) > r2);
    assert.equal(text(await kv.get('k')), '3');
  });

  test('watchKey sees every later update of its key, in order, until unsubscribed', async () => {
    const { t } = fresh();
    const kv = await t.openKv('b', { ttlMs: 0 });
    await kv.put('k', v('before'));
    const seen: Array<[string | null, string, number]> = [];
    const three = deferred();
    const off = kv.watchKey('k', (e) => {
      seen.push([text(e), e.operation, e.revision]);
      if (seen.length === 3) three.resolve();
    });
    const r1 = await kv.put('k', v('a'));
    await kv.put('other', v('ignored'));
    const r2 = await kv.put('k', v('b'));
    await kv.delete('k');
    await three.promise;
    assert.deepEqual(seen.slice(0, 2), [
      ['a', 'PUT', r1],
      ['b', 'PUT', r2],
    ]);
    assert.equal(seen[2]?.[1], 'DEL');
    off();
    await kv.put('k', v('after'));
    await flush();
    assert.equal(seen.length, 3);
  });

  test('delete leaves a DEL entry with an empty value; deleting a missing key is a no-op', async () => {
    const { t } = fresh();
    const kv = await t.openKv('b', { ttlMs: 0 });
    const r1 = await kv.put('k', v('x'));
    await kv.delete('k');
    const e = await kv.get('k');
    assert.ok(e);
    assert.equal(e.operation, 'DEL');
    assert.equal(e.value.length, 0);
    assert.ok(e.revision > r1);
    await kv.delete('never');
    assert.equal(await kv.get('never'), null);
  });

  test('after a delete, a conditional write names the delete marker revision', async () => {
    const { t } = fresh();
    const kv = await t.openKv('b', { ttlMs: 0 });
    await kv.put('k', v('x'));
    await kv.delete('k');
    const del = (await kv.get('k'))?.revision as number;
    await assert.rejects(kv.put('k', v('y'), { expectRevision: 0 }), (err: unknown) => isRevisionMismatchError(err));
    await kv.put('k', v('y'), { expectRevision: del });
    assert.equal(text(await kv.get('k')), 'y');
  });
});

test('queueStats counts waiting, in-flight and redelivered messages and consumers; purgeQueue empties a queue', async () => {
  const t = new MemoryTransport(`memory://qs-${Math.random().toString(36).slice(2)}`, { namespace: 'qs' });
  const task = (id: string) => ({ id, headers: { id, 'Nats-Msg-Id': id }, body: new Uint8Array([1]) });
  for (const id of ['a', 'b', 'c']) await t.publish('q', task(id));
  assert.deepEqual(await t.queueStats('q'), [{ queue: 'q', depth: 3, inFlight: 0, redelivered: 0, waitingPulls: 0, hasConsumer: false }]);
  const got: Array<{ nak(ms?: number): void; ack(): void }> = [];
  const sub = await t.subscribe('q', (m) => got.push(m));
  assert.equal(await sub.pull(2, { noWait: true }), 2);
  assert.deepEqual(await t.queueStats(), [{ queue: 'q', depth: 1, inFlight: 2, redelivered: 0, waitingPulls: 0, hasConsumer: true }]);
  got[0]?.nak();
  assert.equal(await sub.pull(2, { noWait: true }), 2, 'the nak-ed one and the last one');
  assert.deepEqual((await t.queueStats('q'))[0], { queue: 'q', depth: 0, inFlight: 3, redelivered: 1, waitingPulls: 0, hasConsumer: true });
  for (const m of got.slice(1)) m.ack();
  assert.equal((await t.queueStats('q'))[0]?.inFlight, 0);
  for (const id of ['d', 'e']) await t.publish('q', task(id));
  assert.equal(await t.purgeQueue('q'), 2);
  assert.equal((await t.queueStats('q'))[0]?.depth, 0);
  assert.equal(await t.purgeQueue('never-used'), 0);
  await sub.close();
  assert.equal((await t.queueStats('q'))[0]?.hasConsumer, false);
  await t.close();
});
