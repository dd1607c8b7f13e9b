/**
 * The delayed-tasks stream of the NATS transport against a real nats-server: lazy provisioning,
 * `publishDelayed` (dedupe, limits), the follower (stored then live entries, start-over after a
 * server restart or a lost consumer, 100,000 entries, no consumer left behind), fetch / remove /
 * list / count.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DiscardPolicy, type JetStreamManager, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { isInvalidArgumentError, isPayloadTooLargeError, isQueueFullError } from '../../src/errors.ts';
import type { EncodedTask } from '../../src/protocol/envelope.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { LeanPublisher } from '../../src/transport/nats/lean-publisher.ts';
import { NatsDelayedStore } from '../../src/transport/nats/nats-delayed.ts';
import { NatsTransport, type NatsTransportOptions } from '../../src/transport/nats/nats-transport.ts';
import type { DelayedEntry } from '../../src/transport/transport.ts';
import { deferred } from '../../src/util/deferred.ts';

const utf8 = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const NS = 1_000_000;
const ETA = Date.parse('2030-01-02T03:04:05.678Z');

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

const appName = () => `dl${randomUUID().slice(0, 8)}`;

function transport(app: string, o: Partial<NatsTransportOptions> = {}, url = server.url): NatsTransport {
  const t = new NatsTransport(url, {
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

/** A delayed task; `eta: null` leaves the header out. */
function task(id: string, eta: string | null = new Date(ETA).toISOString(), body = `body-${id}`): EncodedTask {
  const headers: Record<string, string> = { id, task: 't', 'Nats-Msg-Id': id };
  if (eta !== null) headers['eta'] = eta;
  return { id, headers, body: utf8.encode(body) };
}

/** Collects followed entries; `until(n)` resolves once `n` entries arrived since the last reset. */
function collector() {
  const c = {
    entries: [] as DelayedEntry[],
    resets: 0,
    waiters: [] as Array<{ n: number; resolve: () => void }>,
    onEntry: (e: DelayedEntry) => {
      c.entries.push(e);
      for (const w of c.waiters.filter((x) => c.entries.length >= x.n)) {
        c.waiters.splice(c.waiters.indexOf(w), 1);
        w.resolve();
      }
    },
    onReset: () => {
      c.resets++;
      c.entries = [];
      c.resetDone.resolve();
    },
    resetDone: deferred(),
    until(n: number): Promise<void> {
      if (c.entries.length >= n) return Promise.resolve();
      return new Promise((resolve) => c.waiters.push({ n, resolve }));
    },
  };
  return c;
}

async function consumers(stream: string): Promise<Array<{ name: string; durable: boolean; headersOnly: boolean }>> {
  const out: Array<{ name: string; durable: boolean; headersOnly: boolean }> = [];
  // A consumer being deleted can be listed as null by nats-server 2.9: skip it.
  for await (const c of jsm.consumers.list(stream)) if (c?.config) out.push({ name: c.name, durable: Boolean(c.config.durable_name), headersOnly: c.config.headers_only === true });
  return out;
}

/**
 * Poll until the stream has no consumer, for at most 2 s: less than the 5 s after which the server
 * itself drops an ephemeral push consumer that lost its subscriber, so this sees the explicit delete.
 */
async function untilNoConsumers(stream: string): Promise<void> {
  const deadline = Date.now() + 2_000;
  while ((await consumers(stream)).length > 0) {
    if (Date.now() > deadline) assert.fail(`consumers left on ${stream}: ${JSON.stringify(await consumers(stream))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('delayed-tasks stream', { timeout: 60_000 }, () => {
  test('is created on first use: <app>-delayed, <app>.delayed.>, limits, file, discard new, task-stream limits, direct get', async () => {
    const app = appName();
    const t = transport(app, { maxQueueMessages: 1234, maxQueueBytes: 5 * 1024 * 1024 });
    await t.connect();
    await assert.rejects(jsm.streams.info(`${app}-delayed`), 'not before first use');
    await t.publishDelayed('emails', task('a'));
    const c = (await jsm.streams.info(`${app}-delayed`)).config;
    assert.deepEqual(c.subjects, [`${app}.delayed.>`]);
    assert.equal(c.retention, RetentionPolicy.Limits);
    assert.equal(c.storage, StorageType.File);
    assert.equal(c.discard, DiscardPolicy.New);
    assert.equal(c.max_msgs, 1234);
    assert.equal(c.max_bytes, 5 * 1024 * 1024);
    const tasks = (await jsm.streams.info(`${app}-tasks`)).config;
    assert.equal(c.max_msg_size, tasks.max_msg_size);
    assert.equal(c.duplicate_window, 120_000 * NS);
    assert.equal(c.allow_direct, true);
    assert.equal((await jsm.streams.getMessage(`${app}-delayed`, { seq: 1 }))?.subject, `${app}.delayed.emails`);
  });

  test('publishDelayed calls racing the first provisioning all store their task', async () => {
    const app = appName();
    const t = transport(app);
    await Promise.all(Array.from({ length: 50 }, (_, i) => t.publishDelayed('q', task(`t${i}`))));
    assert.equal(await (await t.delayed()).count(), 50);
  });

  test('follow sees the stored entries, then live ones, with queue, eta and taskId; headers only; no consumer after stop', async () => {
    const app = appName();
    const t = transport(app);
    await t.publishDelayed('emails', task('a'));
    await t.publishDelayed('reports', task('b', 'garbage'));
    await t.publishDelayed('emails', task('c', null, 'x'.repeat(100_000)));
    const store = await t.delayed();
    const c = collector();
    const stop = store.follow(c.onEntry, c.onReset);
    await c.until(3);
    const live = { id: 'd', headers: { 'Nats-Msg-Id': 'd', eta: '2031-05-06T07:08:09Z' }, body: utf8.encode('d') };
    await t.publishDelayed('later', live);
    await c.until(4);
    assert.deepEqual(c.entries, [
      { seq: 1, queue: 'emails', eta: ETA, taskId: 'a' },
      { seq: 2, queue: 'reports', eta: 0, taskId: 'b' },
      { seq: 3, queue: 'emails', eta: 0, taskId: 'c' },
      { seq: 4, queue: 'later', eta: Date.parse('2031-05-06T07:08:09Z'), taskId: '' },
    ]);
    const cs = await consumers(`${app}-delayed`);
    assert.equal(cs.length, 1);
    assert.equal(cs[0]?.durable, false, 'an ephemeral consumer');
    assert.equal(cs[0]?.headersOnly, true, 'the server keeps headers_only (bodies are not sent)');
    stop();
    await untilNoConsumers(`${app}-delayed`);
    assert.equal(c.resets, 0);
  });

  test('a Nats-Msg-Id seen within the duplicate window is stored once', async () => {
    const app = appName();
    const t = transport(app);
    await t.publishDelayed('q', task('same'));
    await t.publishDelayed('q', task('same'));
    await t.publishDelayed('q', task('other'));
    const store = await t.delayed();
    assert.equal(await store.count(), 2);
    assert.deepEqual((await store.list()).map((e) => e.taskId), ['same', 'other']);
  });

  test('fetch returns the stored headers and body or null; remove is true once, then false; list and count', async () => {
    const app = appName();
    const t = transport(app);
    const a = task('a');
    await t.publishDelayed('emails', a);
    await t.publishDelayed('reports', task('b'));
    await t.publishDelayed('emails', task('c', null));
    const store = await t.delayed();
    const m = await store.fetch(1);
    assert.ok(m);
    assert.equal(m.seq, 1);
    assert.equal(m.queue, 'emails');
    assert.deepEqual(m.headers, a.headers, 'exactly the stored headers (no direct-get headers)');
    assert.equal(text(m.body), 'body-a');
    assert.equal(await store.fetch(99), null);
    assert.equal(await store.fetch(0), null);
    assert.equal(await store.count(), 3);
    assert.deepEqual(await store.list(), [
      { seq: 1, queue: 'emails', eta: ETA, taskId: 'a' },
      { seq: 2, queue: 'reports', eta: ETA, taskId: 'b' },
      { seq: 3, queue: 'emails', eta: 0, taskId: 'c' },
    ]);
    assert.deepEqual((await store.list(2)).map((e) => e.seq), [1, 2]);
    await assert.rejects(store.list(0), (e: unknown) => isInvalidArgumentError(e));
    assert.equal(await store.remove(2), true);
    assert.equal(await store.remove(2), false);
    assert.equal(await store.remove(99), false);
    assert.equal(await store.fetch(2), null);
    assert.equal(await store.count(), 2);
    assert.deepEqual((await store.list()).map((e) => e.seq), [1, 3]);
  });

  test('a full delayed stream refuses with QueueFullError; too large a body and a bad queue name are refused', async () => {
    const app = appName();
    const t = transport(app, { maxQueueMessages: 2, maxPayloadBytes: 1000 });
    await t.publishDelayed('q', task('a'));
    await t.publishDelayed('q', task('b'));
    await assert.rejects(t.publishDelayed('q', task('c')), (e: unknown) => isQueueFullError(e));
    await assert.rejects(t.publishDelayed('q', task('big', null, 'x'.repeat(2000))), (e: unknown) => isPayloadTooLargeError(e));
    await assert.rejects(t.publishDelayed('a.b', task('d')), (e: unknown) => isInvalidArgumentError(e));
    assert.equal(await (await t.delayed()).count(), 2);
  });

  test('a lost consumer (deleted on the server) makes the follower start over', async () => {
    const app = appName();
    const t = transport(app);
    await t.publishDelayed('q', task('a'));
    await t.publishDelayed('q', task('b'));
    // The store on its own, with a short heartbeat so that the loss is seen within ~2 s.
    const js = jetstream(nc);
    const pub = new LeanPublisher(nc);
    const store = new NatsDelayedStore(nc, js, jsm, pub, { app, onReconnect: () => () => {}, heartbeatMs: 500 });
    const c = collector();
    const stop = store.follow(c.onEntry, c.onReset);
    try {
      await c.until(2);
      const [first] = await consumers(`${app}-delayed`);
      assert.ok(first);
      await jsm.consumers.delete(`${app}-delayed`, first.name);
      await (await t.delayed()).remove(1);
      await c.resetDone.promise;
      await c.until(1);
      assert.equal(c.resets, 1);
      assert.deepEqual(c.entries.map((e) => e.taskId), ['b'], 'the removed entry is not delivered again');
    } finally {
      stop();
      await store.close();
      pub.close();
    }
    await untilNoConsumers(`${app}-delayed`);
  });

  test('after a nats-server restart the follower calls onReset and delivers the stored entries again', async () => {
    const own = await startNatsServer();
    try {
      const app = appName();
      const t = transport(app, {}, own.url);
      await t.publishDelayed('q', task('a'));
      await t.publishDelayed('q', task('b'));
      const store = await t.delayed();
      const c = collector();
      const stop = store.follow(c.onEntry, c.onReset);
      await c.until(2);
      const reconnected = deferred();
      t.onStatus((s) => s === 'connected' && reconnected.resolve());
      await own.kill('SIGKILL');
      await own.restart();
      await reconnected.promise;
      const reconnectedAt = Date.now();
      await c.resetDone.promise;
      // At once on the reconnect, not after the missed-heartbeat watchdog (3 x 5 s).
      assert.ok(Date.now() - reconnectedAt < 5_000, 'onReset follows the reconnect');
      await c.until(2);
      assert.equal(c.resets, 1);
      assert.deepEqual(c.entries.map((e) => [e.seq, e.taskId]), [
        [1, 'a'],
        [2, 'b'],
      ]);
      await t.publishDelayed('q', task('c'));
      await c.until(3);
      assert.equal(c.entries[2]?.taskId, 'c');
      stop();
      await t.close();
    } finally {
      await own.stop();
    }
  });

  test('100,000 stored entries are followed quickly', { timeout: 120_000 }, async () => {
    const N = 100_000;
    const app = appName();
    const t = transport(app, { maxQueueMessages: N + 10, maxQueueBytes: 512 * 1024 * 1024 });
    const t0 = Date.now();
    // In windows of 4096, the lean publisher's PubAck window.
    for (let i = 0; i < N; i += 4096) {
      const pending: Array<Promise<void>> = [];
      for (let j = i; j < Math.min(N, i + 4096); j++) pending.push(t.publishDelayed(`q${j % 8}`, task(`task-${j}`, new Date(ETA + j).toISOString(), 'x'.repeat(200))));
      await Promise.all(pending);
    }
    const publishMs = Date.now() - t0;
    const store = await t.delayed();
    assert.equal(await store.count(), N);
    let n = 0;
    let lastSeq = 0;
    let ordered = true;
    const done = deferred();
    const t1 = Date.now();
    const stop = store.follow(
      (e) => {
        if (e.seq !== lastSeq + 1) ordered = false;
        lastSeq = e.seq;
        if (++n === N) done.resolve();
      },
      () => assert.fail('no reset expected'),
    );
    await done.promise;
    const followMs = Date.now() - t1;
    console.log(`delayed stream: published ${N} in ${publishMs} ms, followed ${N} in ${followMs} ms`);
    assert.ok(ordered, 'entries arrive in sequence order');
    assert.ok(followMs < 30_000, `following ${N} entries took ${followMs} ms`);
    stop();
    await untilNoConsumers(`${app}-delayed`);
  });
});
