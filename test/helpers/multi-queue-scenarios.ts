/**
 * A worker on several queues shares its slots between them: a task on any queue starts promptly,
 * whatever the other queues hold. Run on memory:// (unit) and on NATS (integration).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createApp } from '../../src/index.ts';
import { silentLogger } from '../../src/testing.ts';

/** How long a task on an idle queue may take to be done; before the fix it took ~20 s. */
const PROMPT = '4s';

/** An idle worker on three queues runs a task on each queue promptly, the last queue included. */
export async function idleQueuesServedPromptly(broker: string): Promise<void> {
  const app = createApp({ name: `mq${randomUUID().slice(0, 8)}`, broker });
  const echo = app.task('echo', async (_ctx, tag: string) => tag);
  const worker = app.worker({ queues: ['email', 'sms', 'push'], concurrency: 8, logger: silentLogger });
  await worker.start();
  try {
    for (const queue of ['push', 'sms', 'email', 'push']) {
      const r = await echo.applyAsync([queue], { queue });
      assert.equal(await r.get({ timeout: PROMPT }), queue);
    }
  } finally {
    await worker.stop(0);
    await app.close();
  }
}

/**
 * While one queue has a backlog that keeps every slot busy, a task on another queue still starts
 * within a few tasks of the backlog, not after it.
 */
export async function busyQueueDoesNotStarveAnother(broker: string): Promise<void> {
  const app = createApp({ name: `mq${randomUUID().slice(0, 8)}`, broker });
  const order: string[] = [];
  const slow = app.task('slow', async (_ctx, tag: string) => {
    order.push(tag);
    await new Promise((r) => setTimeout(r, 20));
  }, { ignoreResult: true });
  const alert = app.task('alert', async () => void order.push('alert'));
  for (let i = 0; i < 200; i++) await slow.applyAsync([`bulk-${i}`], { queue: 'bulk' });
  const worker = app.worker({ queues: ['bulk', 'alerts'], concurrency: 2, logger: silentLogger });
  await worker.start();
  try {
    while (order.length < 10) await new Promise((r) => setTimeout(r, 5));
    const r = await alert.applyAsync([], { queue: 'alerts' });
    await r.get({ timeout: PROMPT });
    const ranBefore = order.indexOf('alert');
    assert.ok(ranBefore >= 0 && ranBefore < 30, `the alert ran after ${ranBefore} bulk tasks of 200`);
  } finally {
    await worker.stop(0);
    await app.close();
  }
}
