import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import type { WorkerNode } from '../../../src/actors/worker-node.ts';
import type { WorkerOptions } from '../../../src/actors/worker-options.ts';
import { type App, createApp } from '../../../src/app/create-app.ts';
import type { AppOptions } from '../../../src/app/app-options.ts';
import { Ignore, isClosedError, isTaskError } from '../../../src/errors.ts';
import { chain } from '../../../src/canvas/signature.ts';
import type { TaskContext } from '../../../src/execution/task-definition.ts';
import { silentLogger } from '../../../src/testing.ts';
import { memoryAppHarness } from '../../helpers/memory-harness.ts';
import { memoryBroker } from '../../../src/transport/memory/memory-broker.ts';
import { deferred } from '../../../src/util/deferred.ts';
import type { Logger } from '../../../src/util/logger.ts';

/** Let pending microtasks and I/O callbacks run once. */
const flush = () => new Promise<void>((r) => setImmediate(r));

const { apps, workers, brokers } = memoryAppHarness();

/** An app on a broker of its own, with a unique name (task registries are process-global by app name). */
function newApp(options: AppOptions = {}): { app: App; brokerName: string } {
  const brokerName = `t-${randomUUID()}`;
  brokers.push(brokerName);
  const app = createApp({ name: `a-${randomUUID()}`, broker: `memory://${brokerName}`, ...options });
  apps.push(app);
  return { app, brokerName };
}

async function startWorker(app: App, options: WorkerOptions = {}): Promise<WorkerNode> {
  const w = app.worker({ logger: silentLogger, ...options });
  workers.push(w);
  await w.start();
  assert.equal(w.state, 'running');
  return w;
}

/** A silent logger that reports every line to `onLine` (children included). */
function recordingLogger(onLine: (level: string, msg: string, fields?: Record<string, unknown>) => void): Logger {
  const l: Logger = {
    debug: (m, f) => onLine('debug', m, f),
    info: (m, f) => onLine('info', m, f),
    warn: (m, f) => onLine('warn', m, f),
    error: (m, f) => onLine('error', m, f),
    child: () => l,
  };
  return l;
}


describe('app on memory://', { timeout: 5_000 }, () => {
  test('delay() then get() returns the value', async () => {
    const { app } = newApp();
    const add = app.task('math.add', async (_ctx, a: number, b: number) => a + b);
    const worker = await startWorker(app);
    const r = await add.delay(2, 3);
    assert.equal(await r.get({ timeout: '2s' }), 5);
    const info = await r.info();
    assert.equal(info.status, 'SUCCESS');
    assert.equal(info.name, 'math.add');
    assert.equal(info.worker, worker.options.name);
    assert.equal(info.attempts, 1);
    assert.ok(info.dateDone && !Number.isNaN(Date.parse(info.dateDone)));
    assert.equal(worker.stats().succeeded, 1);
  });

  test('Ignore inside a chain: the next step does not run, and the worker warns that the workflow stops there', async () => {
    const { app } = newApp();
    let nextRuns = 0;
    const skip = app.task('wf.skip', async () => {
      throw new Ignore();
    });
    const next = app.task('wf.next', async () => void nextRuns++);
    const warned = deferred<Record<string, unknown> | undefined>();
    await startWorker(app, {
      logger: recordingLogger((level, msg, fields) => {
        if (level === 'warn' && msg.startsWith('task ignored inside a workflow')) warned.resolve(fields);
      }),
    });
    await chain(skip.s(), next.si()).applyAsync();
    await warned.promise;
    await (await next.delay()).get({ timeout: '2s' }); // the queue is served: a later call of the next step runs
    assert.equal(nextRuns, 1, 'only the direct call ran; the chain stopped at the ignored step');
  });

  test('JSON serializer works end to end', async () => {
    const { app } = newApp({ serializer: 'json' });
    const echo = app.task('echo', async (_ctx, v: unknown) => v);
    await startWorker(app);
    const r = await echo.delay({ text: 'naïve ✓', list: [1, null] });
    assert.deepEqual(await r.get({ timeout: '2s' }), { text: 'naïve ✓', list: [1, null] });
  });

  test('applyAsync with a taskId: the task sees it and the result is stored under it', async () => {
    const { app } = newApp();
    const seen = deferred<{ id: string; headers: Readonly<Record<string, string>>; redelivered: boolean }>();
    const add = app.task('math.add', async (ctx, a: number, b: number) => {
      seen.resolve({ id: ctx.id, headers: ctx.headers, redelivered: ctx.delivery.redelivered });
      return a + b;
    });
    await startWorker(app);
    const r = await add.applyAsync([1, 2], { taskId: 'order-42:charge', headers: { 'x-tenant': 'acme' } });
    assert.equal(r.id, 'order-42:charge');
    assert.equal(await r.get({ timeout: '2s' }), 3);
    assert.deepEqual(await seen.promise, { id: 'order-42:charge', headers: { 'x-tenant': 'acme' }, redelivered: false });
    assert.equal(await app.asyncResult('order-42:charge').get({ timeout: '2s' }), 3);
  });

  test('sendTask by name runs a registered task', async () => {
    const { app } = newApp();
    app.task('greet', async (_ctx, who: string) => `hello ${who}`);
    await startWorker(app);
    const r = await app.sendTask<string>('greet', ['ada']);
    assert.equal(await r.get({ timeout: '2s' }), 'hello ada');
  });

  test('an unknown task is not lost: the worker hands it back to the queue', async () => {
    const { app, brokerName } = newApp();
    app.task('known', async () => 1);
    const returned = deferred<string>();
    const logger = recordingLogger((level, msg) => {
      if (level === 'warn' && msg.startsWith('unknown task')) returned.resolve(msg);
    });
    const worker = await startWorker(app, { logger });
    const r = await app.sendTask('nope', [1, 2]);
    await returned.promise;
    assert.equal(worker.stats().returned, 1);
    assert.equal(worker.stats().failed, 0);
    assert.equal(worker.stats().rejected, 0);
    assert.equal(await r.state(), 'PENDING', 'no FAILURE is recorded for a task this worker does not know');
    await worker.stop();
    // Still queued on the broker (parked for a worker that knows it), with its name and args intact.
    const q = memoryBroker(brokerName).queues.get(`${app.name}.default`);
    assert.ok(q);
    assert.equal(q.depth, 1);
    const parked = [...q.delayed];
    assert.equal(parked.length, 1);
    assert.equal(parked[0]?.headers.task, 'nope');
    assert.equal(parked[0]?.headers.id, r.id);
    assert.deepEqual(app.codec.decode(parked[0]?.body as Uint8Array), [[1, 2], {}, null]);
  });

  test('ignoreResult (task option) runs the task but stores nothing', async () => {
    const { app } = newApp();
    let runs = 0;
    const fire = app.task('fire.and.forget', async () => ++runs, { ignoreResult: true });
    const marker = app.task('marker', async () => 'after');
    await startWorker(app, { concurrency: 1 });
    const r = await fire.delay();
    const m = await marker.delay();
    // One slot: the marker only runs once the first task has been settled (run, results, ack).
    assert.equal(await m.get({ timeout: '2s' }), 'after');
    assert.equal(runs, 1);
    assert.equal(await r.state(), 'PENDING');
  });

  test('ignoreResult (call option) runs the task but stores nothing', async () => {
    const { app } = newApp();
    let runs = 0;
    const count = app.task('count', async () => ++runs);
    await startWorker(app, { concurrency: 1 });
    const ignored = await count.applyAsync([], { ignoreResult: true });
    const kept = await count.delay();
    assert.equal(await kept.get({ timeout: '2s' }), 2);
    assert.equal(await ignored.state(), 'PENDING');
  });

  test('ctx.progress() is visible through watch()', async () => {
    const { app } = newApp();
    const go = deferred();
    const importRows = app.task('data.import', async (ctx: TaskContext, n: number) => {
      await go.promise;
      for (let i = 1; i <= n; i++) await ctx.progress({ done: i, total: n });
      return `imported ${n}`;
    });
    await startWorker(app);
    const r = await importRows.delay(3);
    const updates: Array<{ status: string; meta: unknown; result: unknown }> = [];
    for await (const u of r.watch()) {
      updates.push({ status: u.status, meta: u.meta, result: u.result });
      if (u.status === 'PENDING') go.resolve();
    }
    assert.deepEqual(updates, [
      { status: 'PENDING', meta: null, result: null },
      { status: 'PROGRESS', meta: { done: 1, total: 3 }, result: null },
      { status: 'PROGRESS', meta: { done: 2, total: 3 }, result: null },
      { status: 'PROGRESS', meta: { done: 3, total: 3 }, result: null },
      { status: 'SUCCESS', meta: null, result: 'imported 3' },
    ]);
  });

  test('ctx.updateState(): custom states and STARTED are stored in order with progress, and the result replaces them', async () => {
    const { app } = newApp();
    const go = deferred();
    const upload = app.task('files.upload', async (ctx: TaskContext) => {
      await go.promise;
      await ctx.updateState('UPLOADING', { part: 1 });
      await ctx.progress({ done: 1 });
      await ctx.updateState('STARTED');
      return 'ok';
    });
    await startWorker(app);
    const r = await upload.delay();
    const updates: Array<{ status: string; meta: unknown }> = [];
    for await (const u of r.watch()) {
      updates.push({ status: u.status, meta: u.meta });
      if (u.status === 'PENDING') go.resolve();
    }
    assert.deepEqual(updates, [
      { status: 'PENDING', meta: null },
      { status: 'UPLOADING', meta: { part: 1 } },
      { status: 'PROGRESS', meta: { done: 1 } },
      { status: 'STARTED', meta: null },
      { status: 'SUCCESS', meta: null },
    ]);
  });

  test('ctx.updateState() refuses the states the runtime sets, malformed names and a meta that is not an object, naming the task', async () => {
    const { app } = newApp();
    const tries: Array<[unknown, unknown]> = [
      ['SUCCESS', { value: 1 }],
      ['FAILURE', undefined],
      ['REVOKED', undefined],
      ['RETRY', undefined],
      ['PENDING', undefined],
      ['uploading', undefined],
      ['9LIVES', undefined],
      ['A'.repeat(65), undefined],
      [42, undefined],
      ['UPLOADING', [1, 2]],
      ['UPLOADING', null],
    ];
    const probe = app.task('files.probe', async (ctx: TaskContext) => {
      const out: string[] = [];
      for (const [state, meta] of tries) {
        try {
          void ctx.updateState(state as string, meta as Record<string, unknown>);
          out.push('accepted');
        } catch (err) {
          out.push(`${(err as { code?: string }).code}: ${(err as Error).message}`);
        }
      }
      return out;
    });
    await startWorker(app);
    const r = await probe.delay();
    const out = await r.get({ timeout: '2s' });
    assert.equal(out.length, tries.length);
    for (const line of out) assert.match(line, /^E_INVALID_ARGUMENT: ctx\.updateState\(.*\) in task files\.probe: /);
    assert.match(out[0] ?? '', /"SUCCESS" is set by the runtime, not by a task \(return a value\)/);
    assert.match(out[1] ?? '', /"FAILURE" is set by the runtime, not by a task \(throw an error\)/);
    assert.match(out[3] ?? '', /"RETRY" is set by the runtime, not by a task \(throw ctx\.retry\(\)\)/);
    assert.match(out[5] ?? '', /"uploading" is not a state name: use upper-case letters/);
    assert.match(out[6] ?? '', /"9LIVES" is not a state name/);
    assert.match(out[7] ?? '', /is not a state name/);
    assert.match(out[8] ?? '', /the state must be a string, got number/);
    assert.match(out[9] ?? '', /meta must be a plain object, got an array/);
    assert.match(out[10] ?? '', /meta must be a plain object, got null/);
    assert.equal(await r.state(), 'SUCCESS', 'nothing of the refused updates was stored');
  });

  test('ctx.updateState() sends a task-progress event naming the state (progress() events name none)', async () => {
    const { app } = newApp();
    const seen: Array<Record<string, unknown>> = [];
    const stop = await app.events.subscribe((e) => seen.push({ state: e.state, meta: e.meta }), { types: ['task-progress'] });
    const t = app.task('files.evented', async (ctx: TaskContext) => {
      await ctx.progress({ done: 1 });
      await ctx.updateState('UPLOADING', { part: 2 });
    });
    const w = await startWorker(app);
    try {
      await (await t.delay()).get({ timeout: '2s' });
      await w.stop();
      for (let i = 0; i < 50 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(seen, [
        { state: undefined, meta: { done: 1 } },
        { state: 'UPLOADING', meta: { part: 2 } },
      ]);
    } finally {
      stop();
    }
  });

  test('a task throwing an Error with a code: TaskError keeps remote name, message and code', async () => {
    const { app } = newApp();
    class PaymentError extends Error {
      readonly code = 'E_DECLINED';
      override name = 'PaymentError';
    }
    const charge = app.task('payments.charge', async (_ctx, cents: number) => {
      throw new PaymentError(`card declined for ${cents}`);
    });
    const worker = await startWorker(app);
    const r = await charge.delay(500);
    await assert.rejects(r.get({ timeout: '2s' }), (err: unknown) => {
      assert.ok(isTaskError(err));
      assert.equal(err.taskId, r.id);
      assert.equal(err.remote.name, 'PaymentError');
      assert.equal(err.remote.message, 'card declined for 500');
      assert.equal(err.remote.code, 'E_DECLINED');
      assert.match(err.remote.stack ?? '', /card declined for 500/);
      assert.match(err.message, /PaymentError: card declined for 500/);
      return true;
    });
    assert.equal(await r.state(), 'FAILURE');
    assert.match((await r.info()).traceback ?? '', /PaymentError: card declined/);
    assert.equal(worker.stats().failed, 1);
  });

  test('warm stop waits for a task in flight and stores its result', async () => {
    const { app, brokerName } = newApp();
    const started = deferred();
    const release = deferred();
    let aborted: boolean | undefined;
    const slow = app.task('slow', async (ctx: TaskContext) => {
      started.resolve();
      await release.promise;
      aborted = ctx.signal.aborted;
      return 'finished';
    });
    const waiting = deferred();
    const logger = recordingLogger((_level, msg) => {
      if (msg.startsWith('warm shutdown')) waiting.resolve();
    });
    const worker = await startWorker(app, { grace: '5s', logger });
    const r = await slow.delay();
    await started.promise;
    // What the results bucket holds for the task at the moment stop() resolves (read synchronously).
    const stored = () => memoryBroker(brokerName).buckets.get(`${app.name}-results`)?.entries.get(r.id)?.operation;
    let storedWhenStopped: string | undefined = 'not stopped';
    const stopping = worker.stop().then(() => {
      storedWhenStopped = stored();
    });
    await waiting.promise;
    await flush();
    assert.equal(worker.state, 'draining');
    assert.equal(storedWhenStopped, 'not stopped', 'stop() waits for the task in flight');
    assert.deepEqual(
      worker.activeTasks().map((t) => t.name),
      ['slow'],
    );
    release.resolve();
    await stopping;
    assert.equal(worker.state, 'stopped');
    assert.equal(storedWhenStopped, 'PUT', 'the result was stored before stop() resolved');
    assert.equal(aborted, false, 'a task finishing within the grace period is not aborted');
    assert.equal(await r.get({ timeout: '1s' }), 'finished');
    assert.equal(worker.stats().succeeded, 1);
  });

  test('a task that finished during warm stop is not run again by the next worker', async () => {
    const { app } = newApp();
    const started = deferred();
    const release = deferred();
    let runs = 0;
    const slow = app.task('slow.once', async () => {
      runs++;
      started.resolve();
      await release.promise;
      return runs;
    });
    const marker = app.task('marker', async () => 'after');
    const first = await startWorker(app, { grace: '5s' });
    const r = await slow.delay();
    await started.promise;
    const stopping = first.stop();
    await flush();
    release.resolve();
    await stopping;
    assert.equal(await r.get({ timeout: '1s' }), 1);
    // A second worker with one slot takes the queue in order: anything handed back runs before the marker.
    await startWorker(app, { concurrency: 1 });
    const m = await marker.delay();
    assert.equal(await m.get({ timeout: '2s' }), 'after');
    assert.equal(runs, 1, 'the acknowledged task was handed back and ran twice');
  });

  test('when the grace period runs out, ctx.signal aborts and the unfinished task goes back to the queue', async () => {
    const { app, brokerName } = newApp();
    const started = deferred();
    let sawAbort = false;
    const stubborn = app.task('stubborn', async (ctx: TaskContext) => {
      started.resolve();
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      sawAbort = ctx.signal.aborted;
      throw new Error('stopped early');
    });
    const worker = await startWorker(app, { grace: 50 });
    const r = await stubborn.delay();
    await started.promise;
    await worker.stop();
    assert.equal(sawAbort, true, 'the task saw its signal abort');
    assert.equal(worker.state, 'stopped');
    await flush();
    // handed back, not failed: the queue holds it again for the next worker
    assert.equal(await r.state(), 'PENDING');
    assert.equal(memoryBroker(brokerName).queues.get(`${app.name}.default`)?.depth, 1);
  });
});

test('a worker runs the task functions of its own app, not those of another app of the same name in the process', async () => {
  const broker = `memory://same-name-${randomUUID()}`;
  const name = `same-${randomUUID().slice(0, 8)}`;
  const workerApp = createApp({ name, broker });
  workerApp.task('who', async () => 'worker app');
  // Registered later in the same process (a producer module, another test): the same name and task.
  const producerApp = createApp({ name, broker });
  const who = producerApp.task('who', async () => 'producer app');
  const worker = workerApp.worker({ concurrency: 2 });
  await worker.start();
  try {
    const r = await who.delay();
    assert.equal(await r.get({ timeout: '5s' }), 'worker app');
  } finally {
    await worker.stop();
    await producerApp.close();
    await workerApp.close();
  }
});

test('a worker stopped while it starts: start() rejects with ClosedError saying so, and the node ends stopped', async () => {
  const app = createApp({ name: `stopstart-${randomUUID().slice(0, 8)}`, broker: `memory://stopstart-${randomUUID()}` });
  app.task('t', async () => 1);
  const worker = app.worker();
  try {
    const starting = worker.start();
    await worker.stop();
    await assert.rejects(starting, (err: unknown) => {
      assert.ok(isClosedError(err), String(err));
      assert.match((err as Error).message, /was stopped while it was starting/);
      return true;
    });
    assert.equal(worker.state, 'stopped');
  } finally {
    await app.close();
  }
});
