/**
 * Core runtime against a real nats-server started for this file: publish → execute → result for io
 * and cpu tasks, hand-written JSON tasks, undecodable messages, full streams, size limits, warm
 * shutdown and a crashing consumer actor.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { createApp, isConfigMismatchError, isPayloadTooLargeError, isQueueFullError, isTaskError, type App } from '../../src/index.ts';
import { type NatsServerHandle, silentLogger, startNatsServer } from '../../src/testing.ts';
import { createLogger } from '../../src/util/logger.ts';
import { until } from '../helpers/failure-scenarios.ts';

let server: NatsServerHandle;

let nc: NatsConnection;
let fixture: typeof import('../fixtures/it-tasks.ts');
const tasksModule = new URL('../fixtures/it-tasks.ts', import.meta.url).href;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  process.env.IT_APP = 'core';
  fixture = await import('../fixtures/it-tasks.ts');
  fixture.app.configure({ broker: server.url });
});

after(async () => {
  await fixture.app.close();
  await nc.close();
  await server.stop();
});

describe('with a worker running', () => {
  let worker: ReturnType<App['worker']>;
  before(async () => {
    worker = fixture.app.worker({ concurrency: 16, cpuThreads: 1, tasksModule, logger: silentLogger });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
  });

  test('an io task runs and its result is stored in the KV bucket', async () => {
    const r = await fixture.add.delay(2, 3);
    assert.equal(await r.get({ timeout: '10s' }), 5);
    assert.equal(await r.state(), 'SUCCESS');
    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage('KV_core-results', { last_by_subj: `$KV.core-results.${r.id}` });
    assert.ok(stored && stored.data.length > 0, 'the result is a KV entry keyed by the task id');
  });

  test('a cpu task runs in a worker thread', async () => {
    const r = await fixture.fib.delay(20);
    const v = await r.get({ timeout: '20s' });
    assert.equal(v.value, 6765);
  });

  test('ctx.updateState(): a custom state and its meta are stored while the task runs, then replaced by its result (io and cpu)', async () => {
    const cases = [
      { task: fixture.stages, state: 'UPLOADING', meta: { part: 1 }, value: 'uploaded' },
      { task: fixture.cpuStages, state: 'PARSING', meta: { rows: 3 }, value: 'parsed' },
    ];
    for (const c of cases) {
      const r = await c.task.delay(1500);
      await until(async () => (await r.state()) === c.state, 10_000, `${c.state} stored`);
      assert.deepEqual((await r.info()).meta, c.meta);
      assert.equal(await r.ready(), false, 'a custom state is not final');
      assert.equal(await r.get({ timeout: '10s' }), c.value);
      const done = await r.info();
      assert.equal(done.status, 'SUCCESS');
      assert.equal(done.meta, null);
    }
  });

  test('a failing task reports the remote error name, message and code', async () => {
    const r = await fixture.boom.delay('no such order');
    await assert.rejects(r.get({ timeout: '10s' }), (err: unknown) => {
      assert.ok(isTaskError(err));
      assert.equal(err.remote.name, 'TypeError');
      assert.equal(err.remote.message, 'no such order');
      assert.equal(err.remote.code, 'E_BOOM');
      assert.match(err.remote.stack ?? '', /it-tasks\.ts/);
      return true;
    });
    assert.equal(await r.state(), 'FAILURE');
  });

  test('a JSON task written by hand with the plain NATS client runs (docs/protocol.md)', async () => {
    const h = natsHeaders();
    h.set('task', 'math.add');
    h.set('id', 'hand-written-1');
    h.set('content-type', 'application/json');
    h.set('Nats-Msg-Id', 'hand-written-1');
    const ack = await nc.request('core.tasks.default', new TextEncoder().encode('[[40, 2], {}, null]'), { headers: h, timeout: 5000 });
    assert.match(new TextDecoder().decode(ack.data), /"seq":\d+/);
    assert.equal(await fixture.app.asyncResult('hand-written-1').get({ timeout: '10s' }), 42);
  });

  test('custom headers reach the task as ctx.headers', async () => {
    const r = await fixture.echo.applyAsync([1, 'two'], { headers: { tenant: 't1' } });
    const v = (await r.get({ timeout: '10s' })) as { args: unknown[]; headers: Record<string, string> };
    assert.deepEqual(v.args, [1, 'two']);
    assert.equal(v.headers.tenant, 't1');
  });

  test('an undecodable message is terminated, recorded as FAILURE, and the worker keeps serving', async () => {
    const h = natsHeaders();
    h.set('task', 'math.add');
    h.set('id', 'garbage-1');
    h.set('content-type', 'application/x-msgpack');
    await nc.request('core.tasks.default', new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]), { headers: h, timeout: 5000 });
    const bad = fixture.app.asyncResult('garbage-1');
    await assert.rejects(bad.get({ timeout: '10s' }), (err: unknown) => isTaskError(err) && err.remote.code === 'E_DECODE');
    // the message is gone from the queue (terminated, not redelivered) and the worker still works
    const r = await fixture.add.delay(1, 1);
    assert.equal(await r.get({ timeout: '10s' }), 2);
    // Acks leave after the result is stored (in the next event-loop turn): wait for them.
    const jsm = await jetstreamManager(nc);
    await until(async () => (await jsm.consumers.info('core-tasks', 'default')).num_ack_pending === 0, 5_000, 'no message awaits its ack');
    assert.equal(worker.stats().rejected, 1);
  });

  test('a message without an id is terminated and logged, never retried', async () => {
    const h = natsHeaders();
    h.set('task', 'math.add');
    h.set('content-type', 'application/json');
    await nc.request('core.tasks.default', new TextEncoder().encode('[[1,2],{},null]'), { headers: h, timeout: 5000 });
    const r = await fixture.add.delay(5, 5);
    assert.equal(await r.get({ timeout: '10s' }), 10);
    // Terminated, not redelivered: the queue empties (the good task's ack leaves after its result).
    const jsm = await jetstreamManager(nc);
    await until(async () => (await jsm.streams.info('core-tasks')).state.messages === 0, 5_000, 'the queue is empty');
  });

  test('a crashed consumer actor is restarted and no task is lost', async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => fixture.sleepy.delay(200, `t${i}`)));
    await until(() => worker.stats().active > 0);
    worker.crashConsumer('default');
    const values = await Promise.all(results.map((r) => r.get({ timeout: '40s' })));
    assert.deepEqual(
      values.map((v) => v.tag),
      results.map((_, i) => `t${i}`),
    );
  });
});

test('a task whose body is over 1 MiB is refused at publish with a clear error', async () => {
  const big = 'x'.repeat(1024 * 1024 + 10);
  await assert.rejects(fixture.echo.delay(big), (err: unknown) => {
    assert.ok(isPayloadTooLargeError(err));
    assert.match(err.message, /over the \d+-byte limit/);
    return true;
  });
});

test('a full stream refuses publishes with QueueFullError, and nothing already queued is lost', async () => {
  const small = createApp({ name: 'full', broker: server.url, maxQueuedTasks: 5 });
  const t = small.task('math.add', async (_c, a: number, b: number) => a + b);
  try {
    const ok = [];
    for (let i = 0; i < 5; i++) ok.push(await t.delay(i, 0));
    await assert.rejects(t.delay(99, 0), (err: unknown) => {
      assert.ok(isQueueFullError(err));
      assert.match(err.message, /full/);
      return true;
    });
    const w = small.worker({ logger: silentLogger });
    await w.start();
    const values = await Promise.all(ok.map((r) => r.get({ timeout: '10s' })));
    assert.deepEqual(values, [0, 1, 2, 3, 4]);
    await w.stop();
  } finally {
    await small.close();
  }
});

test('a task name no worker knows is returned to the queue, not lost', async () => {
  const producer = createApp({ name: 'unknown', broker: server.url });
  try {
    const r = await producer.sendTask('later.defined', [7]);
    const w1app = createApp({ name: 'unknown', broker: server.url });
    const w1 = w1app.worker({ logger: silentLogger });
    await w1.start();
    await until(() => w1.stats().returned >= 1);
    await w1.stop();
    await w1app.close();
    // A worker that knows the task: the message was kept. Same process, so register under a new app
    // object with the same name (registries are keyed by app name).
    const w2app = createApp({ name: 'unknown', broker: server.url });
    w2app.task('later.defined', async (_c, x: number) => x * 6);
    const w2 = w2app.worker({ logger: silentLogger });
    await w2.start();
    assert.equal(await r.get({ timeout: '20s' }), 42);
    await w2.stop();
    await w2app.close();
  } finally {
    await producer.close();
  }
});

test('warm shutdown lets in-flight tasks finish and stores their results', async () => {
  const app = createApp({ name: 'warm', broker: server.url });
  const slow = app.task('slow', async (_c, ms: number) => {
    await new Promise((r) => setTimeout(r, ms));
    return 'finished';
  });
  try {
    const w = app.worker({ logger: silentLogger });
    await w.start();
    const rs = await Promise.all([slow.delay(800), slow.delay(800), slow.delay(800)]);
    await until(() => w.stats().active === 3);
    const t0 = Date.now();
    await w.stop();
    assert.ok(Date.now() - t0 >= 300, 'stop waited for the tasks');
    for (const r of rs) assert.equal(await r.get({ timeout: '1s' }), 'finished');
    assert.equal(w.state, 'stopped');
  } finally {
    await app.close();
  }
});

test('a task running longer than AckWait is kept alive with working() and runs once', async () => {
  const app = createApp({ name: 'longrun', broker: server.url, ackWait: '1s' });
  let runs = 0;
  const long = app.task('long', async (ctx, ms: number) => {
    runs++;
    await new Promise((r) => setTimeout(r, ms));
    return ctx.delivery.deliveryCount;
  });
  try {
    const w = app.worker({ logger: silentLogger });
    await w.start();
    const r = await long.delay(3500);
    assert.equal(await r.get({ timeout: '20s' }), 1, 'delivered once');
    assert.equal(runs, 1, 'not redelivered while it ran for 3.5 AckWaits');
    await w.stop();
  } finally {
    await app.close();
  }
});

test('streams are provisioned idempotently and a conflicting existing stream is refused by name', async () => {
  const jsm = await jetstreamManager(nc);
  // a second app instance with the same name reuses what the first created
  const a1 = createApp({ name: 'prov', broker: server.url });
  const a2 = createApp({ name: 'prov', broker: server.url });
  const t1 = a1.task('x', async () => 1);
  a2.task('x', async () => 1);
  try {
    await t1.delay();
    await a2.sendTask('x');
    assert.equal((await jsm.streams.info('prov-tasks')).state.messages, 2);
  } finally {
    await a1.close();
    await a2.close();
  }
  // someone else's stream under our name, with another retention: a clear error, nothing published
  await jsm.streams.add({ name: 'clash-tasks', subjects: ['clash.tasks.>'], retention: 'limits' as never });
  const clash = createApp({ name: 'clash', broker: server.url });
  const t = clash.task('x', async () => 1);
  try {
    await assert.rejects(t.delay(), (err: unknown) => {
      assert.ok(isConfigMismatchError(err));
      assert.match(err.message, /clash-tasks.*retention/);
      return true;
    });
  } finally {
    await clash.close();
  }
});

test('results come back to the publishing client (reply_to); a task longer than the routed wait still resolves', async () => {
  const app = createApp({ name: 'routed', broker: server.url });
  const wait = app.task('wait', async (_c, ms: number) => {
    await new Promise((r) => setTimeout(r, ms));
    return ms;
  });
  try {
    const w = app.worker({ logger: silentLogger });
    await w.start();
    const quick = await wait.delay(0);
    assert.equal(await quick.get({ timeout: '5s' }), 0);
    const slow = await wait.delay(1500); // past the 1 s routed wait: the key watch takes over
    assert.equal(await slow.get({ timeout: '10s' }), 1500);
    // a second client (no reply_to of its own for this task) reads the bucket
    const other = createApp({ name: 'routed', broker: server.url });
    assert.equal(await other.asyncResult(slow.id).get({ timeout: '5s' }), 1500);
    await other.close();
    await w.stop();
  } finally {
    await app.close();
  }
});

/** The routed messages for app `name` seen on the wire: task id → body size. */
function watchRouted(name: string): { seen: Map<string, number>; stop(): void } {
  const seen = new Map<string, number>();
  const sub = nc.subscribe(`_celeriac.reply.${name}.>`, { callback: (_e, m) => void seen.set(m.headers?.get('id') ?? '', m.data.length) });
  return { seen, stop: () => sub.unsubscribe() };
}

test('a result too big to route is announced without its value; get() reads it from the bucket', async () => {
  const app = createApp({ name: 'routedbig', broker: server.url });
  const big = app.task('big', async (_c, n: number) => 'x'.repeat(n));
  const wire = watchRouted('routedbig');
  try {
    const w = app.worker({ logger: silentLogger });
    await w.start();
    const small = await big.delay(10);
    assert.equal(await small.get({ timeout: '5s' }), 'x'.repeat(10));
    const r = await big.delay(200_000);
    assert.equal(await r.get({ timeout: '10s' }), 'x'.repeat(200_000));
    await nc.flush();
    await until(() => wire.seen.has(r.id), 5_000);
    assert.ok((wire.seen.get(small.id) ?? 0) > 10, 'a small result is routed with its record');
    assert.equal(wire.seen.get(r.id), 0, 'the 200 KB result was announced, not sent');
    await w.stop();
  } finally {
    wire.stop();
    await app.close();
  }
});

test('a client that leaves its results unclaimed stops asking for them to be routed; get() still works', async () => {
  const app = createApp({ name: 'unclaimed', broker: server.url });
  const blob = app.task('blob', async (_c, i: number) => `${i}:${'y'.repeat(60_000)}`);
  const wire = watchRouted('unclaimed');
  try {
    const w = app.worker({ logger: silentLogger });
    await w.start();
    // 300 results of 60 KB that nobody claims: 18 MB, more than a client keeps (16 MiB).
    // Routing pauses as soon as the client's cache overflows, so the last of the 300 are not routed.
    for (let i = 0; i < 300; i++) await blob.delay(i);
    await until(() => w.stats().succeeded >= 300, 60_000);
    await nc.flush();
    assert.ok(wire.seen.size < 300, `${wire.seen.size} of 300 results were routed`);
    const later = await blob.delay(1000);
    assert.equal(await later.get({ timeout: '10s' }), `1000:${'y'.repeat(60_000)}`);
    await nc.flush();
    assert.equal(wire.seen.has(later.id), false, 'the task published after the overflow was not routed');
    await w.stop();
  } finally {
    wire.stop();
    await app.close();
  }
});

test('app.close() with a worker still running stops it first: the task in flight finishes and stores its result', async () => {
  const app = createApp({ name: 'closing', broker: server.url });
  const nap = app.task('nap', async (_c, ms: number) => {
    await new Promise((r) => setTimeout(r, ms));
    return ms;
  });
  const w = app.worker({ logger: silentLogger });
  await w.start();
  const r = await nap.delay(300);
  await until(() => w.stats().active === 1, 5_000);
  await app.close(); // used to hang with the worker's subscriptions still open
  assert.equal(w.state, 'stopped');
  const reader = createApp({ name: 'closing', broker: server.url });
  try {
    assert.equal(await reader.asyncResult(r.id).get({ timeout: '5s' }), 300);
  } finally {
    await reader.close();
  }
});

test('a worker with more slots than the queue consumer delivers (maxAckPending) says so at start', async () => {
  const app2 = createApp({ name: 'ackcap', broker: server.url, maxAckPending: 10 });
  app2.task('t', async () => 1);
  const lines: string[] = [];
  const logger = createLogger({ level: 'warn', write: (l) => lines.push(l) });
  const worker = app2.worker({ logger, concurrency: 20, scheduler: false });
  try {
    await worker.start();
    assert.ok(lines.some((l) => /only 10 of the 20 slots can be filled/.test(l) && /maxAckPending/.test(l)), lines.join('\n'));
  } finally {
    await worker.stop();
    await app2.close();
  }
});
