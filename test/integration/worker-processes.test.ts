/**
 * Real worker processes (`celeriac worker`) against a real nats-server: many tasks through two
 * workers with no duplicate results, a SIGKILLed worker's in-flight tasks completed by another,
 * and warm shutdown on SIGTERM.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createApp } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';
import { until } from '../helpers/failure-scenarios.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

/** Publish with a bounded window so the producer never holds unbounded promises. */
async function publishAll<T>(n: number, window: number, send: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await send(i);
      }
    }),
  );
  return out;
}

test('5,000 tasks through 2 worker processes: every result correct, none written twice', async () => {
  const appName = 'many';
  const w1 = startWorkerProcess({ broker: server.url, app: appName, args: ['-c', '32', '-n', 'w1'] });
  const w2 = startWorkerProcess({ broker: server.url, app: appName, args: ['-c', '32', '-n', 'w2'] });
  const app = createApp({ name: appName, broker: server.url });
  const add = app.task('math.add', async (_c, a: number, b: number) => a + b);
  try {
    await Promise.all([w1.ready, w2.ready]);
    const N = 5000;
    const results = await publishAll(N, 256, (i) => add.delay(i, 1000));
    const values = await publishAll(N, 256, (i) => (results[i] as (typeof results)[number]).get({ timeout: '60s' }));
    values.forEach((v, i) => assert.equal(v, i + 1000, `task ${i}`));
    // One result write per task: the KV stream's last sequence counts every write ever stored.
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    const kv = await jsm.streams.info(`KV_${appName}-results`);
    assert.equal(kv.state.messages, N);
    assert.equal(kv.state.last_seq, N, 'no task had its result written twice');
    // Every task acked: the last acks leave after their results, in the workers' next event-loop turn.
    await until(async () => (await jsm.streams.info(`${appName}-tasks`)).state.messages === 0, 5_000, 'every task was acked');
    await nc.close();
    // both workers took part
    w1.proc.kill('SIGTERM');
    w2.proc.kill('SIGTERM');
    assert.equal(await w1.exited, 0);
    assert.equal(await w2.exited, 0);
    const done = (out: string) => Number(/worker stopped succeeded=(\d+)/.exec(out)?.[1] ?? 0);
    assert.equal(done(w1.output()) + done(w2.output()), N);
    assert.ok(done(w1.output()) > 0 && done(w2.output()) > 0, 'work was shared');
  } finally {
    w1.proc.kill('SIGKILL');
    w2.proc.kill('SIGKILL');
    await app.close();
  }
});

test('SIGKILL of a worker with tasks in flight: another worker completes all of them', async () => {
  const appName = 'killed';
  const ackWaitMs = 2000;
  const victim = startWorkerProcess({ broker: server.url, app: appName, ackWaitMs, args: ['-c', '20', '-n', 'victim'] });
  const app = createApp({ name: appName, broker: server.url, ackWait: ackWaitMs });
  const sleepy = app.task('test.sleep', async (_c, _ms: number, _tag: string) => ({}) as { tag: string; worker: string; deliveries: number });
  let rescuer: ReturnType<typeof startWorkerProcess> | undefined;
  try {
    await victim.ready;
    const rs = await publishAll(20, 20, (i) => sleepy.delay(5000, `k${i}`));
    // wait until the victim holds the tasks (they are unacked and running)
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < 200; i++) {
      const ci = await jsm.consumers.info(`${appName}-tasks`, 'default');
      if (ci.num_ack_pending === 20) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal((await jsm.consumers.info(`${appName}-tasks`, 'default')).num_ack_pending, 20);
    victim.proc.kill('SIGKILL');
    await victim.exited;
    const killedAt = Date.now();
    rescuer = startWorkerProcess({ broker: server.url, app: appName, ackWaitMs, args: ['-c', '20', '-n', 'rescuer'] });
    await rescuer.ready;
    const values = await Promise.all(rs.map((r) => r.get({ timeout: '30s' })));
    values.forEach((v, i) => {
      assert.equal(v.tag, `k${i}`);
      assert.equal(v.worker, 'rescuer');
      assert.ok(v.deliveries >= 2, 'it was a redelivery');
    });
    // redelivered within AckWait + the task's own run time + slack
    assert.ok(Date.now() - killedAt < ackWaitMs + 5000 + 3000, `took ${Date.now() - killedAt} ms`);
    await nc.close();
  } finally {
    victim.proc.kill('SIGKILL');
    rescuer?.proc.kill('SIGTERM');
    if (rescuer) await rescuer.exited;
    await app.close();
  }
});

test('SIGTERM: the worker finishes its in-flight tasks, then exits 0', async () => {
  const appName = 'sigterm';
  const w = startWorkerProcess({ broker: server.url, app: appName, args: ['-c', '8'] });
  const app = createApp({ name: appName, broker: server.url });
  const sleepy = app.task('test.sleep', async (_c, _ms: number, _tag: string) => ({}) as { tag: string });
  try {
    await w.ready;
    const rs = await publishAll(8, 8, (i) => sleepy.delay(1500, `s${i}`));
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < 200; i++) {
      if ((await jsm.consumers.info(`${appName}-tasks`, 'default')).num_ack_pending === 8) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    w.proc.kill('SIGTERM');
    assert.equal(await w.exited, 0);
    assert.match(w.output(), /warm shutdown/);
    for (const [i, r] of rs.entries()) assert.equal((await r.get({ timeout: '2s' })).tag, `s${i}`);
    await nc.close();
  } finally {
    w.proc.kill('SIGKILL');
    await app.close();
  }
});
