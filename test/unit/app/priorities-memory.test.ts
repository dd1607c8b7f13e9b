import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createApp } from '../../../src/index.ts';
import { resetMemoryBroker, silentLogger } from '../../../src/testing.ts';

test('memory://: with priorities, a priority-9 task overtakes a backlog on a single-slot worker', async () => {
  const broker = `p-${randomUUID()}`;
  const app = createApp({ name: `p${randomUUID().slice(0, 8)}`, broker: `memory://${broker}`, queues: { default: { priorities: true } } });
  const order: string[] = [];
  const work = app.task('work', async (_c, tag: string) => {
    order.push(tag);
    await new Promise((r) => setTimeout(r, 2));
  }, { ignoreResult: true });
  for (let i = 0; i < 500; i++) await work.applyAsync([`low-${i}`], { priority: 1 });
  const keep = setInterval(() => {}, 1000);
  const worker = app.worker({ concurrency: 1, logger: silentLogger });
  await worker.start();
  try {
    while (order.length < 10) await new Promise((r) => setTimeout(r, 5));
    await work.applyAsync(['urgent'], { priority: 9 });
    const at = order.length;
    while (!order.includes('urgent')) await new Promise((r) => setTimeout(r, 2));
    assert.ok(order.indexOf('urgent') - at <= 2, `${order.indexOf('urgent') - at} tasks ran first`);
    assert.ok(order.length < 500, 'it did not wait for the backlog');
  } finally {
    clearInterval(keep);
    await worker.stop(0);
    await app.close();
    resetMemoryBroker(broker);
  }
});

test('a task-level priority is the default of its calls: the task lands in its band', async () => {
  const broker = `p-${randomUUID()}`;
  const app = createApp({ name: `p${randomUUID().slice(0, 8)}`, broker: `memory://${broker}`, queues: { default: { priorities: true } } });
  const seen: string[] = [];
  const t = app.task('t', async (ctx, tag: string) => void seen.push(`${tag}@${ctx.delivery.stream}`), { priority: 8 });
  const keep = setInterval(() => {}, 1000);
  // A worker that consumes only the high band: a task routed anywhere else would never run.
  const worker = app.worker({ queues: ['default--hi'], logger: silentLogger });
  await worker.start();
  try {
    await (await t.delay('default-priority')).get({ timeout: '2s' });
    await (await t.applyAsync(['call-priority'], { priority: 9 })).get({ timeout: '2s' });
    assert.deepEqual(seen.map((x) => x.split('@')[0]), ['default-priority', 'call-priority']);
    assert.ok(seen.every((x) => x.endsWith('--hi')), seen.join(', '));
  } finally {
    clearInterval(keep);
    await worker.stop(0);
    await app.close();
    resetMemoryBroker(broker);
  }
});
