/** The middleware chain and signals on the embedded transport. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { isMainThread } from 'node:worker_threads';
import { after, test } from 'node:test';
import { type App, Defer, type Middleware, Retry, type SignalName, createApp, isTaskError } from '../../../src/index.ts';
import { silentLogger } from '../../../src/testing.ts';
import { until } from '../../helpers/failure-scenarios.ts';

const apps: App[] = [];
after(async () => {
  for (const a of apps) await a.close();
});
function newApp(middleware: Middleware[] = []): App {
  const a = createApp({ name: `mw-${randomUUID().slice(0, 8)}`, broker: `memory://mw-${randomUUID()}`, middleware });
  apps.push(a);
  return a;
}
async function withWorker<T>(app: App, fn: () => Promise<T>, tasksModule?: string): Promise<T> {
  const w = app.worker({ concurrency: 8, logger: silentLogger, cpuThreads: 1, ...(tasksModule ? { tasksModule } : {}) });
  await w.start();
  try {
    return await fn();
  } finally {
    await w.stop();
  }
}

test('execute middleware: app-wide ones in order, then the task’s own, around the body', async () => {
  const trail: string[] = [];
  const tracer = (name: string): Middleware => ({
    name,
    async execute(input, next) {
      trail.push(`${name}>`);
      const r = await next(input);
      trail.push(`<${name}`);
      return r;
    },
  });
  const app = newApp([tracer('a')]);
  app.use(tracer('b'));
  const t = app.task('t', async () => (trail.push('run'), 1), { middleware: [tracer('own')] });
  await withWorker(app, async () => {
    assert.equal(await (await t.delay()).get({ timeout: '5s' }), 1);
  });
  assert.deepEqual(trail, ['a>', 'b>', 'own>', 'run', '<own', '<b', '<a']);
});

test('publish middleware transforms the call (a header the task sees) and may short-circuit', async () => {
  const app = newApp([
    {
      name: 'tenant',
      publish: (input, next) => next({ ...input, options: { ...input.options, headers: { ...input.options.headers, tenant: 'acme' } } }),
    },
    {
      name: 'dedupe',
      async publish(input, next) {
        if (input.args[0] === 'dup') return { taskId: 'already-sent' };
        return next(input);
      },
    },
  ]);
  const t = app.task('t', async (ctx, s: string) => `${s} for ${ctx.headers.tenant}`);
  await withWorker(app, async () => {
    assert.equal(await (await t.delay('job')).get({ timeout: '5s' }), 'job for acme');
    const r = await t.delay('dup');
    assert.equal(r.id, 'already-sent', 'nothing was published');
  });
});

test('execute middleware may short-circuit (a cached value is the result; the body does not run) or transform the arguments', async () => {
  let bodyRuns = 0;
  const app = newApp([
    { name: 'cache', execute: async (input, next) => (input.args[0] === 'cached' ? 'from cache' : next(input)) },
    { name: 'upper', execute: (input, next) => next({ ...input, args: input.args.map((a) => String(a).toUpperCase()) }) },
  ]);
  const t = app.task('t', async (_c, s: string) => (bodyRuns++, `ran ${s}`));
  await withWorker(app, async () => {
    assert.equal(await (await t.delay('cached')).get({ timeout: '5s' }), 'from cache');
    assert.equal(bodyRuns, 0);
    assert.equal(await (await t.delay('x')).get({ timeout: '5s' }), 'ran X');
  });
});

test('a middleware calling next() twice fails the task with E_MIDDLEWARE, and the body ran once', async () => {
  let runs = 0;
  const app = newApp([
    {
      name: 'twice',
      async execute(input, next) {
        await next(input);
        return next(input);
      },
    },
  ]);
  const t = app.task('t', async () => ++runs, { deadLetter: false });
  await withWorker(app, async () => {
    try {
      await (await t.delay()).get({ timeout: '5s' });
      assert.fail('expected a failure');
    } catch (err) {
      assert.ok(isTaskError(err));
      assert.equal(err.remote.code, 'E_MIDDLEWARE');
      assert.match(err.remote.message, /"twice" called next\(\) more than once/);
    }
  });
  assert.equal(runs, 1);
});

test('signals fire once each: publish, prerun, postrun, success, failure, retry, revoked, worker ready and shutdown', async () => {
  const app = newApp();
  const seen = new Map<string, string[]>();
  const names: SignalName[] = ['beforePublish', 'afterPublish', 'prerun', 'postrun', 'success', 'failure', 'retry', 'revoked', 'workerReady', 'workerShutdown'];
  for (const n of names) {
    app.signals.on(n, (e: unknown) => {
      const ev = e as { id?: string; taskId?: string; task?: string; state?: string; args?: readonly unknown[] };
      const key = n.startsWith('worker') ? 'node' : (ev.id ?? ev.taskId ?? `args:${JSON.stringify(ev.args)}`);
      seen.set(key, [...(seen.get(key) ?? []), n === 'postrun' ? `postrun:${ev.state}` : n]);
    });
  }
  const ok = app.task('ok', async () => 1);
  const bad = app.task('bad', async () => {
    throw new TypeError('nope');
  }, { deadLetter: false });
  let tries = 0;
  const flaky = app.task('flaky', async () => {
    if (tries++ === 0) throw new Retry({ countdownMs: 10 });
    return 'second time';
  });
  const slow = app.task('slow', (ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
  await withWorker(app, async () => {
    const r1 = await ok.delay();
    await r1.get({ timeout: '5s' });
    const r2 = await bad.delay();
    await r2.get({ timeout: '5s' }).catch(() => undefined);
    const r3 = await flaky.delay();
    await r3.get({ timeout: '5s' });
    // Revoked while it runs: it stops when ctx.signal aborts.
    const r4 = await slow.delay();
    await until(async () => (seen.get(r4.id) ?? []).includes('prerun'), 5000, 'slow started');
    await r4.revoke();
    await until(() => (seen.get(r4.id) ?? []).includes('revoked'), 5000, 'revoked signal');
    await new Promise((r) => setTimeout(r, 100)); // any duplicate signal would have arrived by now
    // afterPublish races with the worker's prerun (the worker may start before the producer hears
    // the broker's ack); the execution signals come in order.
    const order = (id: string) => (seen.get(id) ?? []).filter((x) => x !== 'afterPublish');
    for (const r of [r1, r2, r3, r4]) assert.equal(seen.get(r.id)?.filter((x) => x === 'afterPublish').length, 1);
    assert.deepEqual(order(r1.id), ['prerun', 'success', 'postrun:SUCCESS']);
    assert.deepEqual(order(r2.id), ['prerun', 'failure', 'postrun:FAILURE']);
    assert.deepEqual(order(r3.id), ['prerun', 'retry', 'postrun:RETRY', 'prerun', 'success', 'postrun:SUCCESS']);
    assert.deepEqual(order(r4.id), ['prerun', 'revoked', 'postrun:REVOKED']);
    assert.equal(seen.get('args:[]')?.filter((s) => s === 'beforePublish').length, 4, 'beforePublish once per publish of a task without arguments (retries are not publishes)');
  });
  assert.deepEqual(seen.get('node'), ['workerReady', 'workerShutdown']);
});

test('an observer that throws is ignored: the task still succeeds', async () => {
  const app = newApp([
    {
      name: 'noisy',
      success() {
        throw new Error('observer bug');
      },
    },
  ]);
  const t = app.task('t', async () => 'fine');
  await withWorker(app, async () => {
    assert.equal(await (await t.delay()).get({ timeout: '5s' }), 'fine');
  });
});

test('Defer from a middleware runs the task later without counting a retry (short: nak; long: delayed stream)', async () => {
  const first = new Set<string>();
  const app = newApp([
    {
      name: 'later',
      async execute(input, next) {
        const ms = Number(input.args[0]);
        if (!first.has(input.ctx.id)) {
          first.add(input.ctx.id);
          throw new Defer(ms, 'test');
        }
        return next(input);
      },
    },
  ]);
  const t = app.task('t', async (ctx, ms: number) => ({ ms, retries: ctx.retries, at: Date.now() }));
  await withWorker(app, async () => {
    for (const ms of [200, 1500]) {
      const sent = Date.now();
      const r = await (await t.delay(ms)).get({ timeout: '10s' });
      assert.equal(r.retries, 0, 'no retry counted');
      assert.ok(r.at - sent >= ms - 20, `ran after the deferral (${r.at - sent} ms >= ${ms})`);
    }
  });
});

test('execute middleware runs on the main thread around a CPU task, and sees its result', async () => {
  const fixture = await import('../../fixtures/canvas-tasks.ts');
  const seen: unknown[] = [];
  fixture.app.use({
    name: 'main-thread',
    async execute(input, next) {
      const r = await next(input);
      seen.push({ main: isMainThread, task: input.task, r });
      return r;
    },
  });
  await withWorker(
    fixture.app,
    async () => {
      const r = await (await fixture.square.delay(7)).get({ timeout: '10s' });
      assert.deepEqual(r, { n: 49, thread: true });
    },
    new URL('../../fixtures/canvas-tasks.ts', import.meta.url).href,
  );
  assert.deepEqual(seen, [{ main: true, task: 'canvas.square', r: { n: 49, thread: true } }]);
});
