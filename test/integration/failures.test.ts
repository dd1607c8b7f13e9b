/**
 * Failure semantics against a real nats-server: the shared scenarios (retries, signals, time
 * limits, expiry, revoke, DLQ replay, idempotency keys), then what needs processes: garbage bytes,
 * a task that kills its worker (crash attribution, and the max-deliveries backstop), a worker paused
 * past AckWait (fencing), and a revoke that crosses processes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { type App, createApp, isTaskError } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { failureScenarios, until } from '../helpers/failure-scenarios.ts';
import { type WorkerProcess, startWorkerProcess } from '../helpers/worker-process.ts';

let server: NatsServerHandle;
let nc: NatsConnection;
let fixture: typeof import('../fixtures/failure-tasks.ts');
const MODULE = 'test/fixtures/failure-tasks.ts';
const children: WorkerProcess[] = [];
const clients: App[] = [];

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  process.env.IT_APP = 'failnats';
  fixture = await import('../fixtures/failure-tasks.ts');
  fixture.app.configure({ broker: server.url });
});

after(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  for (const a of clients) await a.close();
  await fixture.app.close();
  await nc.close();
  await server.stop();
});

function worker(app: string, name: string, env: Record<string, string> = {}, args: string[] = []): WorkerProcess {
  const w = startWorkerProcess({ broker: server.url, app, module: MODULE, ackWaitMs: 1000, env, args: ['-n', name, ...args] });
  children.push(w);
  return w;
}

function client(name: string): App {
  const a = createApp({ name, broker: server.url, ackWait: 1000 });
  clients.push(a);
  return a;
}

async function consumerInfo(app: string, queue = 'default') {
  const jsm = await jetstreamManager(nc);
  return jsm.consumers.info(`${app}-tasks`, queue);
}

describe('failure semantics on nats://', () => {
  failureScenarios(() => fixture);

  test('garbage bytes on a task subject go to the dead-letter stream; the worker keeps serving', async () => {
    {
      const bytes = new Uint8Array([0xc1, 0xff, 0x00, 0x13, 0x37]);
      await (await jetstreamManager(nc)).jetstream().publish('failnats.tasks.default', bytes, { msgID: 'garbage-1' });
      const dlq = fixture.app.deadLetters;
      await until(async () => (await dlq.list()).some((e) => e.reason === 'undecodable'), 10_000, 'garbage dead-lettered');
      const entry = (await dlq.list()).find((e) => e.reason === 'undecodable');
      assert.deepEqual([...(entry?.raw.body ?? [])], [...bytes], 'the original bytes are kept');
      assert.equal(entry?.attempts, 1, 'on the first delivery, never retried');
      assert.equal(await (await fixture.add.delay(2, 2)).get({ timeout: '10s' }), 4);
      // The ack leaves after the result is stored (next event-loop turn): wait for it.
      await until(async () => (await consumerInfo('failnats')).num_ack_pending === 0, 5_000, 'no message awaits its ack');
    }
  });
});

describe('processes', () => {
  test('a task that kills its worker is dead-lettered after two crashes; other tasks keep flowing', async () => {
    const app = 'crash';
    const c = client(app);
    let deaths = 0;
    let stopping = false;
    const spawn = (i: number): void => {
      const w = worker(app, `crash-${i}@test`, {}, ['-c', '4']);
      void w.exited.then(() => {
        if (stopping) return;
        deaths++;
        spawn(i + 10);
      });
    };
    spawn(1);
    spawn(2);
    await Promise.all(children.slice(-2).map((w) => w.ready));
    const bad = await c.sendTask('f.exit', []);
    const good = await Promise.all(Array.from({ length: 40 }, (_, i) => c.sendTask<number>('f.add', [i, 1])));
    try {
      await assert.rejects(bad.get({ timeout: '60s' }), (e) => isTaskError(e) && e.remote.name === 'WorkerLostError');
      const values = await Promise.all(good.map((r) => r.get({ timeout: '60s' })));
      assert.deepEqual(values, Array.from({ length: 40 }, (_, i) => i + 1));
      assert.ok(deaths <= 2, `the poison task killed ${deaths} workers (at most 2 allowed)`);
      // The result may be seen through the KV watch a moment before the dead letter is stored.
      await until(async () => (await c.deadLetters.show(bad.id)).length > 0, 5000, 'dead letter stored');
      const [dl] = await c.deadLetters.show(bad.id);
      assert.equal(dl?.reason, 'crashed');
      assert.equal(dl?.task, 'f.exit');
    } finally {
      stopping = true;
      for (const w of children) if (w.proc.exitCode === null) w.proc.kill('SIGTERM');
      await Promise.all(children.map((w) => w.exited));
    }
  });

  test('max deliveries reached by crashes: the backstop dead-letters the message and records FAILURE', async () => {
    const app = 'maxdel';
    const c = client(app);
    let stopping = false;
    const env = { IT_MAX_DELIVER: '2', IT_MAX_CRASHES: '9' };
    const spawn = (i: number): void => {
      const w = worker(app, `md-${i}@test`, env, ['-c', '2']);
      void w.exited.then(() => {
        if (!stopping) spawn(i + 1);
      });
    };
    spawn(1);
    await children.at(-1)?.ready;
    // The queue's consumer must exist with max_deliver 2 before the client publishes.
    const bad = await c.sendTask('f.exit', []);
    try {
      await assert.rejects(bad.get({ timeout: '20s' }), (e) => isTaskError(e) && e.remote.name === 'WorkerLostError');
      const [dl] = await c.deadLetters.show(bad.id);
      assert.equal(dl?.reason, 'max-deliveries');
      assert.equal(dl?.attempts, 2);
      const jsm = await jetstreamManager(nc);
      await until(async () => (await jsm.streams.info('maxdel-tasks')).state.messages === 0, 10_000, 'removed from the task stream');
    } catch (err) {
      for (const w of children) process.stderr.write(`---- ${w.proc.pid}\n${w.output()}\n`);
      process.stderr.write(`CONSUMER ${JSON.stringify(await consumerInfo(app))}\n`);
      throw err;
    } finally {
      stopping = true;
      for (const w of children) if (w.proc.exitCode === null) w.proc.kill('SIGTERM');
      await Promise.all(children.map((w) => w.exited));
    }
  });

  // 20 trials in `npm test`, 200 in the full tier (`npm run test:full`).
  const TRIALS = process.env.CELERIAC_FULL === '1' ? 200 : 20;
  test(`fencing: a worker paused past AckWait cannot write its result or ack (${TRIALS} trials)`, async () => {
    const app = 'fence';
    const c = client(app);
    // maxCrashes 5: a pause is not a crash worth isolating here (see the crash tests for that).
    const a = worker(app, 'A@test', { IT_MAX_CRASHES: '5' }, ['-c', String(TRIALS)]);
    await a.ready;
    const rs = await Promise.all(Array.from({ length: TRIALS }, () => c.sendTask('f.fenced', [1500, 2500])));
    await until(async () => (await consumerInfo(app)).num_ack_pending === TRIALS, 10_000, `A holds all ${TRIALS}`);
    a.proc.kill('SIGSTOP');
    const b = worker(app, 'B@test', { IT_MAX_CRASHES: '5' }, ['-c', String(TRIALS)]);
    try {
      await b.ready;
      // B claims every task (its redelivery writes STARTED with delivery 2) while A sleeps.
      await until(
        async () => (await Promise.all(rs.map((r) => r.info()))).every((i) => i.worker === 'B@test' && i.attempt?.delivery === 2),
        15_000,
        'B claimed all',
      );
      a.proc.kill('SIGCONT');
      const results = await Promise.all(rs.map((r) => r.get({ timeout: '20s' }) as Promise<{ worker: string }>));
      assert.ok(results.every((v) => v.worker === 'B@test'), 'every result is the one of the worker that took over');
      for (const r of rs) {
        const info = await r.info();
        assert.equal(info.status, 'SUCCESS');
        assert.equal(info.worker, 'B@test');
      }
      await until(() => (a.output().match(/stale attempt/g) ?? []).length === TRIALS, 10_000, `A dropped ${TRIALS} stale attempts`);
      await until(async () => (await consumerInfo(app)).num_ack_pending === 0, 10_000, 'all acked');
      const jsm = await jetstreamManager(nc);
      assert.equal((await jsm.streams.info(`${app}-tasks`)).state.messages, 0);
    } finally {
      a.proc.kill('SIGCONT');
      for (const w of [a, b]) if (w.proc.exitCode === null) w.proc.kill('SIGTERM');
      await Promise.all([a.exited, b.exited]);
    }
  });

  test('a revoke from another process aborts a running task in a worker process', async () => {
    const app = 'crossrv';
    const c = client(app);
    const w = worker(app, 'rv@test');
    try {
      await w.ready;
      const r = await c.sendTask('f.waits', ['x']);
      await until(async () => (await consumerInfo(app)).num_ack_pending === 1, 10_000, 'task running');
      await r.revoke();
      assert.equal(await r.state(), 'REVOKED');
      await until(() => w.output().includes('running task revoked'), 10_000, 'worker saw the revoke');
      await until(async () => (await consumerInfo(app)).num_ack_pending === 0, 10_000, 'message settled');
    } finally {
      w.proc.kill('SIGTERM');
      await w.exited;
    }
  });
});
