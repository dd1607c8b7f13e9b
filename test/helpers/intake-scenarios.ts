/**
 * A worker's intake asks the broker for messages as its slots come free. Run on memory:// (unit)
 * and on NATS (integration).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createApp } from '../../src/index.ts';
import { silentLogger } from '../../src/testing.ts';

/**
 * With every slot busy on long tasks, the one slot that comes free takes the next task at once.
 * Before the fix, the intake waited for a quarter of the slots to be free (it had decided so while
 * a pull request was still open), so the slot stayed idle, with a task waiting in the queue, until
 * more long tasks ended.
 */
export async function freedSlotTakesTheNextTask(broker: string): Promise<void> {
  const app = createApp({ name: `in${randomUUID().slice(0, 8)}`, broker });
  const started = new Set<number>();
  const releases = new Map<number, () => void>();
  const hold = app.task(
    'hold',
    async (_ctx, i: number) => {
      started.add(i);
      await new Promise<void>((r) => releases.set(i, r));
    },
    { ignoreResult: true },
  );
  const quick = app.task('quick', async () => 'ran');
  const worker = app.worker({ concurrency: 8, logger: silentLogger });
  await worker.start();
  try {
    for (let i = 0; i < 8; i++) await hold.delay(i);
    const deadline = Date.now() + 10_000;
    while (started.size < 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(started.size, 8, 'all 8 slots run a long task');
    releases.get(0)?.();
    const r = await quick.delay();
    // Seven long tasks still hold their slots: the freed one must take this task.
    assert.equal(await r.get({ timeout: '3s' }), 'ran');
    assert.equal(worker.stats().active, 7);
  } finally {
    for (const release of releases.values()) release();
    await worker.stop(2_000);
    await app.close();
  }
}
