/**
 * Priority bands against a real nats-server: behind a backlog of low-priority tasks, a priority-9
 * task starts within one task duration on a single-slot worker; lower bands are not starved.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApp } from '../../src/index.ts';
import { type NatsServerHandle, silentLogger, startNatsServer } from '../../src/testing.ts';
import { until } from '../helpers/failure-scenarios.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('a priority-9 task overtakes a backlog of 10,000 priority-0 tasks on a single-slot worker', async () => {
  const app = createApp({ name: 'prio', broker: server.url, queues: { default: { priorities: true } } });
  const order: string[] = [];
  const work = app.task('work', async (_c, tag: string) => {
    order.push(tag);
    await new Promise((r) => setTimeout(r, 5));
  }, { ignoreResult: true });
  for (let i = 0; i < 10_000; i += 1000) {
    await Promise.all(Array.from({ length: 1000 }, (_, k) => work.applyAsync([`low-${i + k}`], { priority: 0 })));
  }
  const worker = app.worker({ concurrency: 1, logger: silentLogger });
  await worker.start();
  try {
    await until(() => order.length >= 20, 20_000, 'low tasks running');
    await work.applyAsync(['urgent'], { priority: 9 });
    const seenAt = order.length;
    await until(() => order.includes('urgent'), 10_000, 'urgent ran');
    const ranBefore = order.indexOf('urgent') - seenAt;
    assert.ok(ranBefore <= 2, `${ranBefore} low-priority tasks started after the urgent one was published`);
    // The normal band is served too, and the low band keeps moving (no starvation).
    await work.applyAsync(['normal'], {});
    await until(() => order.includes('normal'), 10_000, 'normal ran');
    const lowAfter = order.slice(order.indexOf('normal')).filter((t) => t.startsWith('low-')).length;
    await until(() => order.slice(order.indexOf('normal')).filter((t) => t.startsWith('low-')).length > lowAfter + 5, 10_000, 'low band still served');
  } finally {
    await worker.stop(0);
    await app.close();
  }
});

test('an idle banded queue picks up a task of any band within about a second', async () => {
  const app = createApp({ name: 'prioidle', broker: server.url, queues: { default: { priorities: true } } });
  const seen: string[] = [];
  const t = app.task('t', async (_c, tag: string) => void seen.push(tag));
  const worker = app.worker({ concurrency: 4, logger: silentLogger });
  await worker.start();
  try {
    await new Promise((r) => setTimeout(r, 300));
    for (const [tag, priority] of [['hi', 9], ['mid', 5], ['lo', 0]] as const) {
      const started = Date.now();
      await (await t.applyAsync([tag], { priority })).get({ timeout: '5s' });
      assert.ok(Date.now() - started < 2500, `${tag} took ${Date.now() - started} ms`);
    }
    assert.deepEqual(seen, ['hi', 'mid', 'lo']);
  } finally {
    await worker.stop(0);
    await app.close();
  }
});
