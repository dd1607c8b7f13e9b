/** The scheduler looks up a delayed task's result before firing it only when the task stores one. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Scheduler } from '../../../src/actors/scheduler.ts';
import { Lease } from '../../../src/results/lease.ts';
import { silentLogger } from '../../../src/testing.ts';
import { resetMemoryBroker } from '../../../src/transport/memory/memory-broker.ts';
import { MemoryTransport } from '../../../src/transport/memory/memory-transport.ts';

test('isDone is asked for tasks with a result, not for ignore_result tasks; both fire', async () => {
  const name = `sched-${randomUUID()}`;
  const t = new MemoryTransport(`memory://${name}`, { namespace: 'sd' });
  const asked: string[] = [];
  const scheduler = new Scheduler({
    transport: t,
    lease: new Lease(await t.openKv('sd-leases', { ttlMs: 0 }), 'scheduler', 'me', 1000),
    logger: silentLogger,
    isDone: async (id) => {
      asked.push(id);
      return false;
    },
  });
  const eta = new Date(Date.now() + 50).toISOString();
  const task = (id: string, ignore: boolean) => ({ id, headers: { id, 'Nats-Msg-Id': id, eta, ...(ignore ? { ignore_result: 'true' } : {}) }, body: new Uint8Array([1]) });
  await t.publishDelayed('q', task('keeps-result', false));
  await t.publishDelayed('q', task('no-result', true));
  const got: string[] = [];
  const sub = await t.subscribe('q', (m) => {
    got.push(m.header('id') ?? '');
    m.ack();
  });
  // Memory pulls and the scheduler's timers do not hold the process open: this does.
  const keepAlive = setInterval(() => undefined, 1000);
  await scheduler.start();
  try {
    for (let i = 0; i < 100 && got.length < 2; i++) {
      await sub.pull(2, { expiresMs: 100 });
    }
    assert.deepEqual(got.sort(), ['keeps-result', 'no-result']);
    assert.deepEqual(asked, ['keeps-result']);
  } finally {
    clearInterval(keepAlive);
    await scheduler.stop();
    await sub.close();
    await t.close();
    resetMemoryBroker(name);
  }
});
