/**
 * A worker starts its CPU threads with its first CPU task by default (`cpuStart: 'lazy'`), or with
 * the node (`'eager'`); `inspect stats` says which happened.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { silentLogger } from '../../../src/testing.ts';

type CpuStats = { size: number; started: boolean };
const cpuOf = (w: { statsReport(): Record<string, unknown> }): CpuStats => (w.statsReport().pool as { cpu: CpuStats }).cpu;

process.env.RECYCLE_APP = `start-${randomUUID().slice(0, 8)}`;
process.env.CELERIAC_BROKER_URL = `memory://start-${randomUUID()}`;
const { app, where } = await import('../../fixtures/recycle-tasks.ts');
const tasksModule = new URL('../../fixtures/recycle-tasks.ts', import.meta.url).href;

test('lazy (default): no thread until the first CPU task, which runs in one', async () => {
  const w = app.worker({ concurrency: 2, cpuThreads: 2, tasksModule, logger: silentLogger });
  await w.start();
  try {
    assert.deepEqual(cpuOf(w), { ...cpuOf(w), size: 2, started: false });
    const r = await (await where.delay(1)).get({ timeout: '30s' });
    assert.equal(r.n, 1);
    assert.notEqual(r.threadId, 0, 'ran in a worker thread, not on the main thread');
    assert.equal(cpuOf(w).started, true);
  } finally {
    await w.stop();
  }
});

test('eager: the threads are up when start() resolves', async () => {
  const w = app.worker({ concurrency: 2, cpuThreads: 1, cpuStart: 'eager', tasksModule, logger: silentLogger });
  await w.start();
  try {
    assert.equal(cpuOf(w).started, true);
  } finally {
    await w.stop();
    await app.close();
  }
});
