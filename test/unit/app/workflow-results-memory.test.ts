/**
 * What waiting on results shows: a chain's own id, `get()`/`watch()` when the app closes, a group's
 * `watch()` with a signal or a timeout, a chain ending in an empty group, and the timeout in
 * TimeoutError's message.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createApp } from '../../../src/app/create-app.ts';
import { chain, group } from '../../../src/canvas/signature.ts';
import { isClosedError, isTaskError, isTimeoutError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/testing.ts';
import type { WorkflowProgress } from '../../../src/results/group-result.ts';
import { until } from '../../helpers/failure-scenarios.ts';
import { memoryAppHarness } from '../../helpers/memory-harness.ts';

const { apps, workers, brokers } = memoryAppHarness();

async function setup(withWorker: boolean) {
  const broker = `memory://wr-${randomUUID()}`;
  brokers.push(broker.slice('memory://'.length));
  const app = createApp({ name: `wr-${randomUUID().slice(0, 8)}`, broker });
  apps.push(app);
  const add = app.task('math.add', (_ctx, a: number, b: number) => a + b);
  const boom = app.task('t.boom', (): number => {
    throw new RangeError('boom');
  });
  if (withWorker) {
    const w = app.worker({ logger: silentLogger });
    workers.push(w);
    await w.start();
  }
  return { app, add, boom };
}

test('chain(...).set({ taskId }) is the id of the chain\'s result', async () => {
  const { app, add } = await setup(true);
  const r = await chain(add.s(1, 1), add.s(2)).set({ taskId: 'order-42' }).applyAsync();
  assert.equal(r.id, 'order-42');
  assert.equal(await r.get({ timeout: '5s' }), 4);
  assert.equal(await app.asyncResult('order-42').get({ timeout: '5s' }), 4);
});

test('a get() without timeout still waiting when the app closes rejects with ClosedError', { timeout: 10_000 }, async () => {
  const { app, add } = await setup(false);
  const r = await add.delay(1, 2);
  const own = r.get();
  const byId = createApp({ name: app.name, broker: app.options.broker });
  apps.push(byId);
  const other = byId.asyncResult(r.id).get();
  await byId.close();
  await app.close();
  await assert.rejects(own, (e: unknown) => isClosedError(e) && (e as Error).message.includes(r.id));
  await assert.rejects(other, isClosedError);
  await assert.rejects(r.get({ timeout: '1s' }), isClosedError);
});

test('watch() iterators throw ClosedError when the app closes before the final state', { timeout: 10_000 }, async () => {
  const { app, add } = await setup(false);
  const r = await add.delay(1, 2);
  const wf = await chain(add.s(1, 1), add.s(2)).applyAsync();
  const g = await group(add.s(1, 1), add.s(2, 2)).applyAsync();
  const seen: string[] = [];
  const task = (async () => {
    for await (const rec of r.watch()) {
      seen.push(rec.status);
      await app.close();
    }
  })();
  await assert.rejects(task, isClosedError);
  assert.deepEqual(seen, ['PENDING']);
  const drain = async (it: AsyncIterable<WorkflowProgress>) => {
    for await (const _ of it);
  };
  await assert.rejects(drain(wf.watch()), isClosedError);
  await assert.rejects(drain(g.watch()), isClosedError);
});

test('GroupResult.watch({ signal }) ends without reporting running members as done; ({ timeout }) throws TimeoutError', { timeout: 10_000 }, async () => {
  const { add } = await setup(false);
  const g = await group(add.s(1, 1), add.s(2, 2)).applyAsync();
  const progress: WorkflowProgress[] = [];
  for await (const p of g.watch({ signal: AbortSignal.timeout(100) })) progress.push(p);
  assert.equal(progress.length, 0);
  await assert.rejects(
    (async () => {
      for await (const p of g.watch({ timeout: '150ms' })) progress.push(p);
    })(),
    (e: unknown) => isTimeoutError(e) && /2 of 2 members did not finish within the 150ms timeout/.test((e as Error).message),
  );
  assert.equal(progress.length, 0);
});

test('GroupResult.watch() counts a failed member as completed and failed', async () => {
  const { add, boom } = await setup(true);
  const g = await group(add.s(1, 1), boom.s()).applyAsync();
  let last: WorkflowProgress | undefined;
  for await (const p of g.watch({ timeout: '5s' })) last = p;
  assert.deepEqual(last, { completed: 2, failed: 1, total: 2, done: true });
});

test('a chain ending in an empty group follows the step before it', { timeout: 10_000 }, async () => {
  const { app, add, boom } = await setup(false);
  const empty: Array<ReturnType<typeof add.s>> = [];
  const waiting = await chain(add.s(1, 1), group(empty)).applyAsync();
  await assert.rejects(waiting.get({ timeout: '300ms' }), isTimeoutError); // nothing ran yet
  assert.equal((await waiting.progress()).done, false);
  const failing = await chain(boom.s(), group(empty)).applyAsync();
  const w = app.worker({ logger: silentLogger });
  workers.push(w);
  await w.start();
  assert.deepEqual(await waiting.get({ timeout: '5s' }), []);
  await assert.rejects(failing.get({ timeout: '5s' }), (e: unknown) => isTaskError(e) && e.remote.name === 'RangeError');
});

test('a chain ending in an empty group calls its link with the result', { timeout: 10_000 }, async () => {
  const { app, add } = await setup(true);
  const seen: unknown[] = [];
  const record = app.task('t.record', (_ctx, v: unknown) => void seen.push(v));
  const empty: Array<ReturnType<typeof add.s>> = [];
  const r = await chain(add.s(1, 1), group(empty)).set({ link: record.s() }).applyAsync();
  assert.deepEqual(await r.get({ timeout: '5s' }), []);
  await until(() => seen.length > 0, 5_000, 'the link ran');
  assert.deepEqual(seen, [[]], 'the link ran once, with the chain\'s result');
});

test('TimeoutError names the timeout given to get(), not the time left of it', { timeout: 10_000 }, async () => {
  const { add } = await setup(false);
  const r = await add.delay(1, 2);
  await assert.rejects(r.get({ timeout: '1500ms' }), (e: unknown) => isTimeoutError(e) && /within the 1500ms timeout given to get\(\)/.test((e as Error).message));
  await assert.rejects(r.get({ timeout: 1200 }), (e: unknown) => isTimeoutError(e) && /within the 1200 ms timeout/.test((e as Error).message));
});

test('many get() at once, or a watch() of a big group, raise no MaxListenersExceededWarning', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  const app = createApp({ name: `ml${randomUUID().slice(0, 8)}`, broker: `memory://ml-${randomUUID()}` });
  const t = app.task('ml.t', async (_c, n: number) => {
    await new Promise((r) => setTimeout(r, 50));
    return n;
  });
  const w = app.worker({ concurrency: 64, logger: silentLogger });
  await w.start();
  try {
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => t.delay(i)));
    assert.equal((await Promise.all(rs.map((r) => r.get({ timeout: '5s' })))).length, 50);
    // A group's watch() waits on every member at once.
    const g = await group(Array.from({ length: 30 }, (_, i) => t.s(i))).applyAsync();
    let last: WorkflowProgress | undefined;
    for await (const p of g.watch({ timeout: '5s' })) last = p;
    assert.deepEqual(last, { completed: 30, failed: 0, total: 30, done: true });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings.filter((x) => x.startsWith('MaxListenersExceededWarning')), []);
  } finally {
    process.off('warning', onWarning);
    await w.stop(1000);
    await app.close();
  }
});

test('a closed app refuses to publish with ClosedError (E_CLOSED), naming the app', async () => {
  const app = createApp({ name: `cl${randomUUID().slice(0, 8)}`, broker: `memory://cl-${randomUUID()}` });
  const t = app.task('cl.t', async () => 1);
  await (await t.delay()).state();
  await app.close();
  await assert.rejects(t.delay(), (err: unknown) => isClosedError(err) && (err as { code: string }).code === 'E_CLOSED' && /app "cl[0-9a-f]+" is closed/.test((err as Error).message));
});
