/**
 * Kept apart from app-memory.test.ts on purpose: that file holds the event loop open with an interval,
 * which would hide what this one checks. Here nothing but Celeriac itself keeps the process alive.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createApp } from '../../../src/app/create-app.ts';
import { resetMemoryBroker, silentLogger } from '../../../src/testing.ts';

test('memory://: a countdown task runs while the caller awaits get() with no timeout', async () => {
  const brokerName = `t-${randomUUID()}`;
  const app = createApp({ name: `a-${randomUUID()}`, broker: `memory://${brokerName}` });
  const later = app.task('later', async () => 'ran');
  const worker = app.worker({ logger: silentLogger });
  await worker.start();
  try {
    const r = await later.applyAsync([], { countdown: '100ms' });
    // Before the fix the process has nothing left to wait on here (the transport's delay and pull
    // timers are unref'd) and exits: node:test reports "Promise resolution is still pending but the
    // event loop has already resolved"; a plain script exits with code 13 and the task never runs.
    assert.equal(await r.get(), 'ran');
  } finally {
    await worker.stop(0);
    await app.close();
    resetMemoryBroker(brokerName);
  }
});
