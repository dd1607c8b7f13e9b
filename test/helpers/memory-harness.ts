import { after, afterEach, before } from 'node:test';
import type { WorkerNode } from '../../src/actors/worker-node.ts';
import type { App } from '../../src/app/create-app.ts';
import { resetMemoryBroker } from '../../src/testing.ts';

/**
 * Hooks for tests of apps on memory://: what a test pushes into `apps`, `workers` and `brokers` is
 * stopped, closed and reset after it; the loop is kept alive while a test awaits a worker (the
 * memory transport's timers are unref'd). Call once, at the top of a test file.
 */
export function memoryAppHarness(): { apps: App[]; workers: WorkerNode[]; brokers: string[] } {
  const apps: App[] = [];
  const workers: WorkerNode[] = [];
  const brokers: string[] = [];
  let keepAlive: NodeJS.Timeout | undefined;
  before(() => {
    keepAlive = setInterval(() => {}, 60_000);
  });
  after(() => clearInterval(keepAlive));
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop(0);
    for (const a of apps.splice(0)) await a.close();
    for (const b of brokers.splice(0)) resetMemoryBroker(b);
  });
  return { apps, workers, brokers };
}
