/**
 * Events and the worker registry against a real nats-server: the events of a task in order, the
 * run-time switch, a SIGKILLed worker process shown offline within 3 heartbeats.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type App, type CeleriacEvent, Reject, createApp } from '../../src/index.ts';
import { type NatsServerHandle, silentLogger, startNatsServer } from '../../src/testing.ts';
import { until } from '../helpers/failure-scenarios.ts';
import { type WorkerProcess, startWorkerProcess } from '../helpers/worker-process.ts';

let server: NatsServerHandle;
const apps: App[] = [];
const children: WorkerProcess[] = [];
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  for (const a of apps) await a.close();
  await server.stop();
});
const newApp = (name: string, extra: { sendSentEvents?: boolean } = {}) => {
  const a = createApp({ name, broker: server.url, ...extra });
  apps.push(a);
  return a;
};

test('the events of tasks, in order: sent, received, started, progress, succeeded / retried / failed / rejected', async () => {
  const app = newApp('ev1', { sendSentEvents: true });
  const ok = app.task('ev.ok', async (ctx) => {
    await ctx.progress({ half: true });
    return 1;
  });
  let tries = 0;
  const flaky = app.task('ev.flaky', async () => {
    if (tries++ === 0) throw new Error('once');
    return 2;
  }, { retry: { autoretryFor: [Error], maxRetries: 1, countdown: 10 } });
  const bad = app.task('ev.bad', async () => {
    throw new TypeError('nope');
  }, { deadLetter: false });
  const rej = app.task('ev.reject', async () => {
    throw new Reject('not for us');
  });
  const seen: CeleriacEvent[] = [];
  const stop = await app.events.subscribe((e) => seen.push(e));
  const w = app.worker({ concurrency: 4, logger: silentLogger, name: 'ev-worker' });
  await w.start();
  try {
    const r1 = await ok.delay();
    const r2 = await flaky.delay();
    const r3 = await bad.delay();
    const r4 = await rej.delay();
    await r1.get({ timeout: '5s' });
    await r2.get({ timeout: '5s' });
    await r3.get({ timeout: '5s' }).catch(() => undefined);
    await r4.get({ timeout: '5s' }).catch(() => undefined);
    const types = (id: string) => seen.filter((e) => e.id === id).map((e) => e.type);
    await until(() => types(r1.id).includes('task-succeeded') && types(r3.id).includes('task-failed') && types(r4.id).includes('task-rejected'), 5000, 'events');
    await until(() => types(r2.id).filter((t) => t === 'task-succeeded').length === 1, 5000, 'flaky events');
    await until(() => types(r1.id).includes('task-sent'), 5000, 'the producer’s task-sent');
    // task-sent comes from the producer and may arrive before or after the worker's first events.
    const worker = (id: string) => types(id).filter((t) => t !== 'task-sent');
    assert.ok(types(r1.id).includes('task-sent'));
    assert.deepEqual(worker(r1.id), ['task-received', 'task-started', 'task-progress', 'task-succeeded']);
    assert.deepEqual(worker(r2.id), ['task-received', 'task-started', 'task-retried', 'task-received', 'task-started', 'task-succeeded']);
    assert.deepEqual(worker(r3.id), ['task-received', 'task-started', 'task-failed']);
    assert.deepEqual(worker(r4.id), ['task-received', 'task-started', 'task-rejected', 'task-failed']);
    const failed = seen.find((e) => e.id === r3.id && e.type === 'task-failed');
    assert.equal(failed?.task, 'ev.bad');
    assert.equal(failed?.worker, 'ev-worker');
    assert.match(String(failed?.error), /TypeError: nope/);
    assert.ok(seen.some((e) => e.type === 'worker-online' && e.worker === 'ev-worker'));
  } finally {
    stop();
    await w.stop();
  }
});

test('events can be switched off and on at run time, for every worker', async () => {
  const app = newApp('ev2');
  const t = app.task('ev.t', async () => 1);
  const w = app.worker({ concurrency: 2, logger: silentLogger });
  await w.start();
  const seen: CeleriacEvent[] = [];
  const stop = await app.events.subscribe((e) => seen.push(e), { types: ['task-succeeded'] });
  try {
    await app.control.events(false);
    await until(() => !w.eventsEnabled, 3000, 'switched off');
    const off = await t.delay();
    await off.get({ timeout: '5s' });
    await app.control.events(true);
    await until(() => w.eventsEnabled, 3000, 'switched on');
    const on = await t.delay();
    await on.get({ timeout: '5s' });
    await until(() => seen.some((e) => e.id === on.id), 3000, 'event after switching on');
    assert.equal(seen.filter((e) => e.id === off.id).length, 0, 'no event while off');
    assert.ok(seen.every((e) => e.type === 'task-succeeded'), 'filtered by type');
  } finally {
    stop();
    await w.stop();
  }
});

test('worker registry: a worker process is online while it heartbeats, offline within 3 heartbeats after SIGKILL, offline at once after a clean stop', async () => {
  const appName = `reg-${randomUUID().slice(0, 6)}`;
  const proc = startWorkerProcess({ broker: server.url, app: appName, args: ['-n', 'doomed', '--heartbeat', '500ms'] });
  children.push(proc);
  await proc.ready;
  const app = newApp(appName);
  const local = app.worker({ concurrency: 2, logger: silentLogger, name: 'local', heartbeat: '500ms' });
  await local.start();
  const seen: CeleriacEvent[] = [];
  const stop = await app.events.subscribe((e) => seen.push(e), { types: ['worker-heartbeat', 'worker-offline'] });
  try {
    await until(async () => (await app.workers()).filter((w) => w.online).length === 2, 5000, 'both online');
    await until(() => seen.some((e) => e.type === 'worker-heartbeat' && e.worker === 'doomed'), 3000, 'heartbeat event');
    const killedAt = Date.now();
    proc.proc.kill('SIGKILL');
    await until(async () => (await app.workers()).find((w) => w.name === 'doomed')?.online === false, 3000, 'shown offline');
    assert.ok(Date.now() - killedAt <= 3 * 500 + 700, `offline within 3 heartbeats (${Date.now() - killedAt} ms)`);
    await local.stop();
    const after = (await app.workers()).find((w) => w.name === 'local');
    assert.equal(after?.online, false);
    assert.equal(after?.status, 'offline');
    assert.ok(seen.some((e) => e.type === 'worker-offline' && e.worker === 'local'));
  } finally {
    stop();
    await local.stop();
  }
});
