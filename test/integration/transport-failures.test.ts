/**
 * Failure-handling primitives of the NATS transport against a real nats-server: per-queue consumer
 * settings (ack wait, max deliveries), the dead-letter stream, the MAX_DELIVERIES advisory backstop,
 * and whole-bucket KV reads and watches.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { AckPolicy, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { isInvalidArgumentError } from '../../src/errors.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { NatsTransport, type NatsTransportOptions } from '../../src/transport/nats/nats-transport.ts';
import type { ExhaustedMessage, IncomingMessage, KvEntry, QueueSettings } from '../../src/transport/transport.ts';
import { deferred } from '../../src/util/deferred.ts';

const utf8 = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const NS = 1_000_000;

let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
const transports: NatsTransport[] = [];

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});

after(async () => {
  for (const t of transports.splice(0)) await t.close();
  await nc.close();
  await server.stop();
});

/** A unique app name per test: its own task stream, dead-letter stream and consumers. */
const appName = () => `it${randomUUID().slice(0, 8)}`;

function transport(app: string, o: Partial<NatsTransportOptions> = {}): NatsTransport {
  const t = new NatsTransport(server.url, {
    app,
    maxQueueMessages: 10_000,
    maxQueueBytes: 64 * 1024 * 1024,
    maxPayloadBytes: 512 * 1024,
    duplicateWindowMs: 120_000,
    queueSettings: () => ({ ackWaitMs: 30_000, maxDeliver: 10 }),
    maxDeadLetters: 1000,
    maxAckPending: 1000,
    publishTimeoutMs: 10_000,
    pullExpiresMs: 5_000,
    ...o,
  });
  transports.push(t);
  return t;
}

async function consumerNames(stream: string): Promise<string[]> {
  const out: string[] = [];
  for await (const c of jsm.consumers.list(stream)) out.push(c.name);
  return out;
}

describe('per-queue consumer settings', { timeout: 30_000 }, () => {
  test('the durable consumer gets ack_wait and max_deliver from queueSettings, and is updated when they change', async () => {
    const app = appName();
    const settings: Record<string, QueueSettings> = { slow: { ackWaitMs: 300_000, maxDeliver: 3 }, fast: { ackWaitMs: 2_000, maxDeliver: 4 } };
    const t1 = transport(app, { queueSettings: (q) => settings[q] as QueueSettings });
    assert.deepEqual(t1.queueSettings('slow'), { ackWaitMs: 300_000, maxDeliver: 3 });
    await (await t1.subscribe('slow', () => {})).close();
    await (await t1.subscribe('fast', () => {})).close();
    const slow = (await jsm.consumers.info(`${app}-tasks`, 'slow')).config;
    assert.equal(slow.ack_wait, 300_000 * NS);
    assert.equal(slow.max_deliver, 3);
    assert.equal(slow.ack_policy, AckPolicy.Explicit);
    const fast = (await jsm.consumers.info(`${app}-tasks`, 'fast')).config;
    assert.equal(fast.ack_wait, 2_000 * NS);
    assert.equal(fast.max_deliver, 4);

    // Another process starts with new settings for `slow`: the existing consumer is brought in line.
    const t2 = transport(app, { queueSettings: () => ({ ackWaitMs: 60_000, maxDeliver: 5 }) });
    await (await t2.subscribe('slow', () => {})).close();
    const updated = (await jsm.consumers.info(`${app}-tasks`, 'slow')).config;
    assert.equal(updated.ack_wait, 60_000 * NS);
    assert.equal(updated.max_deliver, 5);
  });

  test('settings that are not positive integers are refused before anything is created', async () => {
    const app = appName();
    const t = transport(app, { queueSettings: () => ({ ackWaitMs: 1000, maxDeliver: 0 }) });
    await assert.rejects(t.subscribe('q', () => {}), (e: unknown) => isInvalidArgumentError(e) && /maxDeliver/.test(e.message));
    assert.deepEqual(await consumerNames(`${app}-tasks`), []);
  });
});

describe('dead-letter stream', { timeout: 30_000 }, () => {
  test('is created on first use: <app>-dlq, <app>.dlq.>, limits, file, discard old, max_msgs, duplicate window', async () => {
    const app = appName();
    const t = transport(app, { maxDeadLetters: 777, duplicateWindowMs: 90_000 });
    await t.connect();
    await assert.rejects(jsm.streams.info(`${app}-dlq`), 'not before first use');
    await t.deadLetters();
    const c = (await jsm.streams.info(`${app}-dlq`)).config;
    assert.deepEqual(c.subjects, [`${app}.dlq.>`]);
    assert.equal(c.retention, 'limits');
    assert.equal(c.storage, 'file');
    assert.equal(c.discard, 'old');
    assert.equal(c.max_msgs, 777);
    assert.equal(c.duplicate_window, 90_000 * NS);
  });

  test('add, list (oldest first, per queue, limited), count, remove and purge', async () => {
    const app = appName();
    const dlq = await transport(app).deadLetters();
    const before = Date.now() - 1000;
    await dlq.add('a', 'd1', { id: 't1', task: 'x', 'dlq-reason': 'max-deliveries' }, utf8.encode('one'));
    await dlq.add('b', 'd2', { id: 't2', 'dlq-error': 'bad\r\nthing' }, utf8.encode('two'));
    await dlq.add('a', 'd3', { task: 'no-id' }, utf8.encode('three'));

    const all = await dlq.list();
    assert.deepEqual(
      all.map((e) => [e.queue, e.taskId, text(e.body)]),
      [
        ['a', 't1', 'one'],
        ['b', 't2', 'two'],
        ['a', '', 'three'],
      ],
    );
    assert.deepEqual(all.map((e) => e.seq), [1, 2, 3]);
    assert.equal(all[0]?.headers['dlq-reason'], 'max-deliveries');
    assert.equal(all[0]?.headers['Nats-Msg-Id'], 'd1');
    assert.equal(all[1]?.headers['dlq-error'], 'bad thing');
    assert.ok(all.every((e) => e.time.getTime() >= before && e.time.getTime() <= Date.now() + 1000));
    assert.deepEqual((await dlq.list({ queue: 'a' })).map((e) => text(e.body)), ['one', 'three']);
    assert.deepEqual((await dlq.list({ limit: 2 })).map((e) => text(e.body)), ['one', 'two']);
    assert.deepEqual(await dlq.list({ queue: 'none' }), []);
    assert.deepEqual(await consumerNames(`${app}-dlq`), [], 'listing leaves no consumer behind');

    assert.equal(await dlq.count(), 3);
    assert.equal(await dlq.count('a'), 2);
    assert.equal(await dlq.count('none'), 0);
    assert.equal(await dlq.remove(1), true);
    assert.equal(await dlq.remove(1), false, 'already removed');
    assert.equal(await dlq.remove(999), false);
    assert.equal(await dlq.count('a'), 1);
    await dlq.add('b', 'd4', { id: 't4' }, utf8.encode('four'));
    assert.equal(await dlq.purge('b'), 2);
    assert.equal(await dlq.count('b'), 0);
    assert.deepEqual((await dlq.list()).map((e) => text(e.body)), ['three']);
    assert.equal(await dlq.purge(), 1);
    assert.equal(await dlq.count(), 0);
  });

  test('the same dedupeId is stored once, also when added from two processes', async () => {
    const app = appName();
    const d1 = await transport(app).deadLetters();
    const d2 = await transport(app).deadLetters();
    await Promise.all([d1.add('q', 'same', { id: 'x' }, utf8.encode('w')), d2.add('q', 'same', { id: 'x' }, utf8.encode('b'))]);
    await d1.add('q', 'same', { id: 'x' }, utf8.encode('again'));
    assert.equal(await d1.count(), 1);
    await d1.add('q', 'other', { id: 'x' }, utf8.encode('new'));
    assert.equal(await d2.count('q'), 2);
  });

  test('beyond maxDeadLetters the oldest entries are dropped', async () => {
    const app = appName();
    const dlq = await transport(app, { maxDeadLetters: 2 }).deadLetters();
    for (const id of ['1', '2', '3']) await dlq.add('q', `d${id}`, { id }, utf8.encode(id));
    assert.deepEqual((await dlq.list()).map((e) => e.taskId), ['2', '3']);
  });
});

describe('max-deliveries backstop', { timeout: 60_000 }, () => {
  test('a message pulled maxDeliver times without an ack reaches one handler with its deliveries; remove() deletes it', async () => {
    const app = appName();
    const settings = () => ({ ackWaitMs: 1000, maxDeliver: 2 });
    const backstopA = transport(app, { queueSettings: settings });
    const backstopB = transport(app, { queueSettings: settings });
    const calls: string[] = [];
    const handled = deferred<ExhaustedMessage>();
    const done = deferred();
    const handler = (who: string) => async (m: ExhaustedMessage) => {
      calls.push(who);
      const dlq = await backstopA.deadLetters();
      await dlq.add(m.queue, `${m.headers['id']}:dlq`, { ...m.headers, 'dlq-reason': 'max-deliveries' }, m.body);
      await m.remove();
      handled.resolve(m);
      done.resolve();
    };
    backstopA.onMaxDeliveries(handler('A'));
    backstopB.onMaxDeliveries(handler('B'));
    await backstopA.connect();
    await backstopB.connect();
    // The backstops subscribe once connected: make sure their interest reached the server.
    await backstopA.connection?.flush();
    await backstopB.connection?.flush();

    const worker = transport(app, { queueSettings: settings, pullExpiresMs: 3_000 });
    await worker.publish('poison', { id: 'p1', headers: { id: 'p1', task: 'boom', 'Nats-Msg-Id': 'p1' }, body: utf8.encode('payload') });
    const got: IncomingMessage[] = [];
    const sub = await worker.subscribe('poison', (m) => got.push(m));
    assert.equal(await sub.pull(1), 1);
    assert.equal(got[0]?.delivery.deliveryCount, 1);
    // Not acked: redelivered after the 1 s ack wait, once.
    while (got.length < 2) await sub.pull(1);
    assert.equal(got[1]?.delivery.deliveryCount, 2);
    const seq = got[1]?.delivery.sequence as number;
    // No third delivery: the server raises the advisory instead (a waiting pull lets 2.9 notice).
    const third = sub.pull(1);
    const m = await handled.promise;
    assert.equal(await third, 0, 'not delivered a third time');
    await sub.close();

    assert.equal(m.queue, 'poison');
    assert.equal(m.sequence, seq);
    assert.equal(m.deliveries, 2);
    assert.equal(m.headers['id'], 'p1');
    assert.equal(m.headers['task'], 'boom');
    assert.equal(text(m.body), 'payload');
    await done.promise;
    assert.equal(await jsm.streams.getMessage(`${app}-tasks`, { seq }), null, 'removed from the task stream');
    assert.equal((await jsm.streams.info(`${app}-tasks`)).state.messages, 0);
    const letters = await (await backstopA.deadLetters()).list();
    assert.deepEqual(letters.map((l) => [l.queue, l.taskId, l.headers['dlq-reason']]), [['poison', 'p1', 'max-deliveries']]);
    // Both backstops are in one queue group: only one of them handled the advisory.
    await backstopA.connection?.flush();
    await backstopB.connection?.flush();
    assert.equal(calls.length, 1);
  });

  test('a stopped backstop no longer handles advisories', async () => {
    const app = appName();
    const settings = () => ({ ackWaitMs: 1000, maxDeliver: 1 });
    const backstop = transport(app, { queueSettings: settings });
    let calls = 0;
    const stop = backstop.onMaxDeliveries(async () => {
      calls++;
    });
    await backstop.connect();
    stop();
    // A raw listener proves the advisory was raised.
    const advisory = deferred();
    const raw = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${app}-tasks.*`, { callback: () => advisory.resolve() });
    await nc.flush();
    const worker = transport(app, { queueSettings: settings, pullExpiresMs: 3_000 });
    await worker.publish('q', { id: 's1', headers: { id: 's1' }, body: utf8.encode('x') });
    const sub = await worker.subscribe('q', () => {});
    assert.equal(await sub.pull(1), 1);
    const next = sub.pull(1);
    await advisory.promise;
    await sub.close();
    await next;
    await backstop.connection?.flush();
    raw.unsubscribe();
    assert.equal(calls, 0);
    assert.equal((await jsm.streams.info(`${app}-tasks`)).state.messages, 1, 'left in the stream');
  });
});

describe('max-deliveries sweep', { timeout: 60_000 }, () => {
  test('an exhausted message whose advisory nobody received is found by the sweep of an idle queue', async () => {
    const app = appName();
    const settings = () => ({ ackWaitMs: 1000, maxDeliver: 1 });
    const advisory = deferred();
    const raw = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${app}-tasks.*`, { callback: () => advisory.resolve() });
    await nc.flush();
    const worker = transport(app, { queueSettings: settings, pullExpiresMs: 3_000 });
    await worker.publish('q', { id: 'lost-1', headers: { id: 'lost-1', 'Nats-Msg-Id': 'lost-1' }, body: utf8.encode('x') });
    const sub = await worker.subscribe('q', () => {});
    assert.equal(await sub.pull(1), 1);
    const next = sub.pull(1);
    await advisory.promise; // raised while no backstop listened
    await sub.close();
    await next;
    raw.unsubscribe();

    const late = transport(app, { queueSettings: settings, maxDeliveriesSweepMs: 200 });
    const lateSub = await late.subscribe('q', () => {});
    const handled = deferred<ExhaustedMessage>();
    late.onMaxDeliveries(async (m) => {
      await m.remove();
      handled.resolve(m);
    });
    const m = await handled.promise;
    await lateSub.close();
    assert.equal(m.headers['id'], 'lost-1');
    assert.equal(m.deliveries, 1);
    assert.equal((await jsm.streams.info(`${app}-tasks`)).state.messages, 0, 'removed from the task stream');
  });
});

describe('KV entries and watchAll', { timeout: 30_000 }, () => {
  test('entries: the last live value of every key, oldest revision first, limited; no consumer left', async () => {
    const t = transport(appName());
    const bucket = `b${randomUUID().slice(0, 8)}`;
    const kv = await t.openKv(bucket, { ttlMs: 0 });
    assert.deepEqual(await kv.entries(), []);
    await kv.put('a', utf8.encode('a1'));
    await kv.put('b', utf8.encode('b1'));
    await kv.put('c', utf8.encode('c1'));
    const ra = await kv.put('a', utf8.encode('a2'));
    await kv.delete('b');
    const es = await kv.entries();
    assert.deepEqual(
      es.map((e) => [e.key, text(e.value), e.operation]),
      [
        ['c', 'c1', 'PUT'],
        ['a', 'a2', 'PUT'],
      ],
    );
    assert.equal(es[1]?.revision, ra);
    assert.deepEqual((await kv.entries(1)).map((e) => e.key), ['c']);
    await assert.rejects(kv.entries(-1), isInvalidArgumentError);
    assert.deepEqual(await consumerNames(`KV_${bucket}`), []);
  });

  test('watchAll: every stored write of any key, with revision and operation, until stopped', async () => {
    const t = transport(appName());
    const bucket = `b${randomUUID().slice(0, 8)}`;
    const kv = await t.openKv(bucket, { ttlMs: 0 });
    const other = await transport(appName()).openKv(bucket, { ttlMs: 0 });
    await kv.put('before', utf8.encode('not seen'));
    const seen: KvEntry[] = [];
    const three = deferred();
    const stop = kv.watchAll((e) => {
      seen.push(e);
      if (seen.length === 3) three.resolve();
    });
    await t.connection?.flush();
    const r1 = await other.put('x', utf8.encode('1'));
    const r2 = await other.put('y.z', utf8.encode('2'));
    await other.delete('x');
    await three.promise;
    assert.deepEqual(
      seen.map((e) => [e.key, e.operation, e.operation === 'PUT' ? text(e.value) : '']),
      [
        ['x', 'PUT', '1'],
        ['y.z', 'PUT', '2'],
        ['x', 'DEL', ''],
      ],
    );
    assert.deepEqual(seen.slice(0, 2).map((e) => e.revision), [r1, r2]);
    stop();
    await other.put('after', utf8.encode('x'));
    await t.connection?.flush();
    assert.equal(seen.length, 3);
  });
});
