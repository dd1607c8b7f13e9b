/**
 * A worker process for the canvas bench: runs until SIGTERM, then reports how many tasks it ran.
 *
 *   node --import tsx bench/roles/canvas-worker.ts <url> <app> <concurrency>
 * @module
 */
import { silentLogger } from '../../src/testing.ts';
import { emit, num, runRole } from '../lib/measure.ts';
import { canvasApp } from './canvas-app.ts';

const [url = '', appName = 'bench-canvas', concArg] = process.argv.slice(2);
const concurrency = num(concArg, 64);
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 600_000);

runRole('canvas-worker', deadlineMs, async () => {
  const { app } = canvasApp(appName, url);
  const worker = app.worker({ concurrency, logger: silentLogger, scheduler: false });
  await worker.start();
  emit('ready', { role: 'canvas-worker' });
  await new Promise<void>((r) => process.once('SIGTERM', () => r()));
  const stats = worker.stats();
  await worker.stop();
  await app.close();
  return { succeeded: stats.succeeded, failed: stats.failed };
});
