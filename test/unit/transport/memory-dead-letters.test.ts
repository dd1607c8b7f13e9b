/**
 * Failure handling of the memory transport: queue settings, the dead-letter store and the emulation of
 * JetStream's max deliveries (a message given back `maxDeliver` times is parked and handed to one
 * max-deliveries handler instead of being redelivered).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { isInvalidArgumentError } from '../../../src/errors.ts';
import type { EncodedTask } from '../../../src/protocol/envelope.ts';
import { resetMemoryBroker } from '../../../src/transport/memory/memory-broker.ts';
import { MemoryTransport, type MemoryTransportOptions } from '../../../src/transport/memory/memory-transport.ts';
import type { ExhaustedMessage, IncomingMessage } from '../../../src/transport/transport.ts';
import { deferred } from '../../../src/util/deferred.ts';

const utf8 = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const flush = () => new Promise<void>((r) => setImmediate(r));

const brokers: string[] = [];
const transports: MemoryTransport[] = [];

function open(url: string, options: MemoryTransportOptions = {}): MemoryTransport {
  const t = new MemoryTransport(url, options);
  transports.push(t);
  return t;
}

function fresh(options: MemoryTransportOptions = {}): { url: string; t: MemoryTransport } {
  const name = `dlq-${randomUUID()}`;
  brokers.push(name);
  const url = `memory://${name}`;
  return { url, t: open(url, options) };
}

function task(id: string): EncodedTask {
  return { id, headers: { id, task: 't', 'Nats-Msg-Id': id }, body: utf8.encode(`body-${id}`) };
}

/** Subscribe; each `next()` pulls one message and resolves with it. */
async function puller(t: MemoryTransport, queue = 'q') {
  const got: IncomingMessage[] = [];
  const sub = await t.subscribe(queue, (m) => got.push(m));
  return {
    sub,
    async next(): Promise<IncomingMessage | undefined> {
      const before = got.length;
      const n = await sub.pull(1);
      return n === 1 ? got[before] : undefined;
    },
  };
}

let keepAlive: NodeJS.Timeout | undefined;
before(() => {
  keepAlive = setInterval(() => {}, 60_000);
});
after(() => clearInterval(keepAlive));
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
  for (const b of brokers.splice(0)) resetMemoryBroker(b);
});

describe('MemoryTransport queue settings', { timeout: 10_000 }, () => {
  test('default: the ackWaitMs option and 10 deliveries', () => {
    const { t } = fresh({ ackWaitMs: 1234 });
    assert.deepEqual(t.queueSettings('any'), { ackWaitMs: 1234, maxDeliver: 10 });
    assert.deepEqual(fresh().t.queueSettings('any'), { ackWaitMs: 30_000, maxDeliver: 10 });
  });

  test('the queueSettings option decides per queue', () => {
    const { t } = fresh({ queueSettings: (q) => (q === 'video' ? { ackWaitMs: 300_000, maxDeliver: 3 } : { ackWaitMs: 5_000, maxDeliver: 7 }) });
    assert.deepEqual(t.queueSettings('video'), { ackWaitMs: 300_000, maxDeliver: 3 });
    assert.deepEqual(t.queueSettings('other'), { ackWaitMs: 5_000, maxDeliver: 7 });
  });

  test('maxDeadLetters must be a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new MemoryTransport('memory://x', { maxDeadLetters: bad }), (e: unknown) => isInvalidArgumentError(e) && /maxDeadLetters/.test(e.message));
    }
  });
});

describe('MemoryTransport dead letters', { timeout: 10_000 }, () => {
  const h = (id: string) => ({ id, task: 't', 'dlq-reason': 'rejected' });

  test('add then list returns entries oldest first with queue, task id, headers, body and time', async () => {
    const { t } = fresh({ namespace: 'app' });
    const dlq = await t.deadLetters();
    const before = Date.now();
    await dlq.add('q1', 'd1', h('t1'), utf8.encode('one'));
    await dlq.add('q2', 'd2', h('t2'), utf8.encode('two'));
    await dlq.add('q1', 'd3', { task: 'no-id' }, utf8.encode('three'));
    const all = await dlq.list();
    assert.deepEqual(
      all.map((e) => [e.queue, e.taskId, text(e.body)]),
      [
        ['q1', 't1', 'one'],
        ['q2', 't2', 'two'],
        ['q1', '', 'three'],
      ],
    );
    assert.ok(all[0] && all[1] && all[0].seq < all[1].seq);
    assert.equal(all[0]?.headers['dlq-reason'], 'rejected');
    assert.equal(all[0]?.headers['Nats-Msg-Id'], 'd1');
    assert.ok((all[0]?.time.getTime() ?? 0) >= before);
    assert.deepEqual(
      (await dlq.list({ queue: 'q1' })).map((e) => e.taskId),
      ['t1', ''],
    );
    assert.deepEqual(
      (await dlq.list({ limit: 2 })).map((e) => e.taskId),
      ['t1', 't2'],
    );
  });

  test('count, remove and purge, overall and per queue', async () => {
    const { t } = fresh();
    const dlq = await t.deadLetters();
    for (const [q, id] of [['a', '1'], ['a', '2'], ['b', '3'], ['b', '4'], ['c', '5']] as const) await dlq.add(q, id, h(id), utf8.encode(id));
    assert.equal(await dlq.count(), 5);
    assert.equal(await dlq.count('a'), 2);
    assert.equal(await dlq.count('none'), 0);
    const first = (await dlq.list({ queue: 'a' }))[0];
    assert.ok(first);
    assert.equal(await dlq.remove(first.seq), true);
    assert.equal(await dlq.remove(first.seq), false, 'already removed');
    assert.equal(await dlq.remove(9999), false);
    assert.equal(await dlq.count('a'), 1);
    assert.equal(await dlq.purge('b'), 2);
    assert.equal(await dlq.count('b'), 0);
    assert.equal(await dlq.count(), 2);
    assert.equal(await dlq.purge(), 2);
    assert.equal(await dlq.count(), 0);
    assert.deepEqual(await dlq.list(), []);
  });

  test('the same dedupeId within two minutes is stored once; after the window it is stored again', async (ctx) => {
    ctx.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const { t } = fresh();
    const dlq = await t.deadLetters();
    await dlq.add('q', 'same', h('x'), utf8.encode('first'));
    await dlq.add('q', 'same', h('x'), utf8.encode('second'));
    assert.deepEqual((await dlq.list()).map((e) => text(e.body)), ['first']);
    ctx.mock.timers.tick(120_001);
    await dlq.add('q', 'same', h('x'), utf8.encode('third'));
    assert.deepEqual((await dlq.list()).map((e) => text(e.body)), ['first', 'third']);
  });

  test('beyond maxDeadLetters the oldest entries are dropped, with a warning', async () => {
    const warnings: string[] = [];
    const { t } = fresh({ maxDeadLetters: 2, onWarning: (w) => warnings.push(w) });
    const dlq = await t.deadLetters();
    for (const id of ['1', '2', '3']) await dlq.add('q', id, h(id), utf8.encode(id));
    assert.deepEqual((await dlq.list()).map((e) => e.taskId), ['2', '3']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /full/);
  });

  test('stores are shared per broker and namespace, separate across namespaces', async () => {
    const { url, t } = fresh({ namespace: 'a' });
    await (await t.deadLetters()).add('q', 'x', h('x'), utf8.encode('x'));
    assert.equal(await (await open(url, { namespace: 'a' }).deadLetters()).count(), 1);
    assert.equal(await (await open(url, { namespace: 'b' }).deadLetters()).count(), 0);
  });

  test('CR/LF in header values become spaces; Nats-* headers of the original are not kept', async () => {
    const { t } = fresh();
    const dlq = await t.deadLetters();
    await dlq.add('q', 'd', { id: 'i', 'dlq-error': 'line1\r\nline2', 'Nats-Expected-Stream': 'x' }, utf8.encode(''));
    const e = (await dlq.list())[0];
    assert.equal(e?.headers['dlq-error'], 'line1 line2');
    assert.equal(e?.headers['Nats-Expected-Stream'], undefined);
  });

  test('bad queue names, dedupe ids, header names and limits are refused', async () => {
    const { t } = fresh();
    const dlq = await t.deadLetters();
    await assert.rejects(dlq.add('a.b', 'd', {}, utf8.encode('')), isInvalidArgumentError);
    await assert.rejects(dlq.add('q', '', {}, utf8.encode('')), isInvalidArgumentError);
    await assert.rejects(dlq.add('q', 'd', { 'bad name': 'x' }, utf8.encode('')), isInvalidArgumentError);
    await assert.rejects(dlq.list({ limit: 0 }), isInvalidArgumentError);
    assert.equal(await dlq.count(), 0);
  });
});

describe('MemoryTransport max deliveries', { timeout: 10_000 }, () => {
  test('a message nak-ed on its last delivery is not redelivered but handed to the handler', async () => {
    const { t } = fresh({ queueSettings: () => ({ ackWaitMs: 30_000, maxDeliver: 2 }), pullExpiresMs: 20 });
    const handed = deferred<ExhaustedMessage>();
    let calls = 0;
    t.onMaxDeliveries(async (m) => {
      calls++;
      handed.resolve(m);
    });
    await t.publish('q', task('poison'));
    const p = await puller(t);
    const d1 = await p.next();
    assert.equal(d1?.delivery.deliveryCount, 1);
    d1?.nak();
    const d2 = await p.next();
    assert.equal(d2?.delivery.deliveryCount, 2);
    d2?.nak();
    const m = await handed.promise;
    assert.equal(m.queue, 'q');
    assert.equal(m.deliveries, 2);
    assert.equal(m.sequence, d1?.delivery.sequence);
    assert.equal(m.headers['id'], 'poison');
    assert.equal(text(m.body), 'body-poison');
    assert.equal(await p.next(), undefined, 'not redelivered');
    await flush();
    assert.equal(calls, 1);
  });

  test('an exhausted message stays in its queue (depth) until remove()', async () => {
    const { t } = fresh({ queueSettings: () => ({ ackWaitMs: 30_000, maxDeliver: 1 }), maxMessages: 1, pullExpiresMs: 20 });
    const handed = deferred<ExhaustedMessage>();
    t.onMaxDeliveries(async (m) => handed.resolve(m));
    await t.publish('q', task('a'));
    const p = await puller(t);
    (await p.next())?.nak();
    const m = await handed.promise;
    await assert.rejects(t.publish('q', task('b')), /full/, 'the parked message still counts');
    await m.remove();
    await t.publish('q', task('b'));
    assert.equal((await p.next())?.header('id'), 'b');
  });

  test('with no handler the message is parked and handed to the first handler registered', async () => {
    const { t } = fresh({ queueSettings: () => ({ ackWaitMs: 30_000, maxDeliver: 1 }), pullExpiresMs: 20 });
    await t.publish('q', task('wait'));
    const p = await puller(t);
    (await p.next())?.nak();
    assert.equal(await p.next(), undefined);
    const handed = deferred<ExhaustedMessage>();
    t.onMaxDeliveries(async (m) => handed.resolve(m));
    assert.equal((await handed.promise).headers['id'], 'wait');
  });

  test('an unsettled message returned after ackWait on its last delivery goes to the handler', async () => {
    const { url, t } = fresh({ queueSettings: () => ({ ackWaitMs: 20, maxDeliver: 1 }) });
    const handed = deferred<ExhaustedMessage>();
    open(url).onMaxDeliveries(async (m) => handed.resolve(m));
    await t.publish('q', task('held'));
    const p = await puller(t);
    assert.equal((await p.next())?.header('id'), 'held');
    await p.sub.close(); // never settled: returned after AckWait
    const m = await handed.promise;
    assert.equal(m.headers['id'], 'held');
    assert.equal(m.deliveries, 1);
  });

  test('each exhausted message goes to one handler only; a stopped handler gets nothing', async () => {
    const { url, t } = fresh({ queueSettings: () => ({ ackWaitMs: 30_000, maxDeliver: 1 }), pullExpiresMs: 20 });
    const seen: string[][] = [[], []];
    const waiters: Array<{ n: number; resolve: () => void }> = [];
    const total = () => (seen[0]?.length ?? 0) + (seen[1]?.length ?? 0);
    const record = (i: number) => async (m: ExhaustedMessage) => {
      (seen[i] as string[]).push(m.headers['id'] ?? '');
      for (const w of waiters) if (total() >= w.n) w.resolve();
    };
    const reached = (n: number) => {
      const d = deferred();
      waiters.push({ n, resolve: d.resolve });
      if (total() >= n) d.resolve();
      return d.promise;
    };
    const stop0 = t.onMaxDeliveries(record(0));
    open(url).onMaxDeliveries(record(1));
    for (const id of ['a', 'b', 'c', 'd']) await t.publish('q', task(id));
    const p = await puller(t);
    for (let i = 0; i < 4; i++) (await p.next())?.nak();
    await reached(4);
    assert.deepEqual([...(seen[0] ?? []), ...(seen[1] ?? [])].sort(), ['a', 'b', 'c', 'd']);
    assert.ok((seen[0]?.length ?? 0) > 0 && (seen[1]?.length ?? 0) > 0, 'shared between the handlers');
    stop0();
    const n0 = seen[0]?.length;
    for (const id of ['e', 'f']) await t.publish('q', task(id));
    for (let i = 0; i < 2; i++) (await p.next())?.nak();
    await reached(6);
    await flush();
    assert.equal(seen[0]?.length, n0, 'the stopped handler got nothing');
    assert.deepEqual(seen[1]?.slice(-2), ['e', 'f']);
  });

  test('a handler that throws is reported to onWarning and the message stays parked', async () => {
    const warned = deferred<string>();
    const { t } = fresh({ queueSettings: () => ({ ackWaitMs: 30_000, maxDeliver: 1 }), maxMessages: 1, pullExpiresMs: 20, onWarning: (w) => warned.resolve(w) });
    t.onMaxDeliveries(async () => {
      throw new Error('dlq down');
    });
    await t.publish('q', task('x'));
    const p = await puller(t);
    (await p.next())?.nak();
    assert.match(await warned.promise, /dlq down/);
    await assert.rejects(t.publish('q', task('y')), /full/);
  });

  test('messages below maxDeliver are redelivered as before', async () => {
    const handed: ExhaustedMessage[] = [];
    const { t } = fresh({ queueSettings: () => ({ ackWaitMs: 30_000, maxDeliver: 3 }), pullExpiresMs: 20 });
    t.onMaxDeliveries(async (m) => {
      handed.push(m);
    });
    await t.publish('q', task('r'));
    const p = await puller(t);
    (await p.next())?.nak();
    (await p.next())?.nak();
    const third = await p.next();
    assert.equal(third?.delivery.deliveryCount, 3);
    third?.ack();
    await flush();
    assert.equal(handed.length, 0);
  });
});
