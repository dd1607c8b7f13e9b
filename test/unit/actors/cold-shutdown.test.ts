/** Cold shutdown (`kill()`, the CLI's second signal): in-flight tasks go back to the broker once, and only another node runs them. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createApp } from '../../../src/index.ts';
import { resetMemoryBroker, silentLogger } from '../../../src/testing.ts';

async function scenario(killDuringWarmStop: boolean): Promise<void> {
  const broker = `cold-${randomUUID()}`;
  const app = createApp({ name: `cold${randomUUID().slice(0, 8)}`, broker: `memory://${broker}` });
  const runs: Array<{ node: string; delivery: number }> = [];
  let node = 'first';
  const hold = app.task('hold', async (ctx) => {
    runs.push({ node, delivery: ctx.delivery.deliveryCount });
    if (node === 'first') await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    return node;
  });
  const first = app.worker({ concurrency: 8, logger: silentLogger }); // free slots: its intake has a pull open
  await first.start();
  try {
    const results = await Promise.all([hold.delay(), hold.delay()]);
    while (runs.length < 2) await new Promise((r) => setTimeout(r, 5));
    if (killDuringWarmStop) {
      const warm = first.stop(60_000);
      await first.kill();
      await warm;
    } else {
      await first.kill();
    }
    assert.equal(first.state, 'stopped');
    // The killed node took nothing back: only the two first deliveries ran on it.
    assert.deepEqual(runs, [{ node: 'first', delivery: 1 }, { node: 'first', delivery: 1 }]);
    node = 'second';
    const second = app.worker({ concurrency: 2, logger: silentLogger });
    await second.start();
    try {
      assert.deepEqual(await Promise.all(results.map((r) => r.get({ timeout: '5s' }))), ['second', 'second']);
      assert.deepEqual(runs.slice(2), [{ node: 'second', delivery: 2 }, { node: 'second', delivery: 2 }]);
    } finally {
      await second.stop();
    }
  } finally {
    await app.close();
    resetMemoryBroker(broker);
  }
}

test('kill() on a running node hands its tasks back once and takes none again; another node runs them as delivery 2', () => scenario(false));
test('kill() during a warm stop (the second signal) hands the tasks back at once and the node stops', () => scenario(true));
