/**
 * Bulk enqueue: `noop.delay(i)` with `window` publishes awaiting their PubAck, no worker running.
 *
 *   node --import tsx bench/roles/celeriac-enqueue.ts <url> <app> <n> <window> <warmup>
 * @module
 */
import { createWindow, epochMs, num, perSecond, runRole } from '../lib/measure.ts';
import { benchApp } from './bench-app.ts';

const [url = '', appName = 'bench-enqueue', nArg, windowArg, warmArg] = process.argv.slice(2);
const n = num(nArg, 100_000);
const window = num(windowArg, 1000);
const warmup = num(warmArg, 1000);

runRole('celeriac-enqueue', num(process.env.BENCH_ROLE_DEADLINE_MS, 120_000), async () => {
  const { app, noop } = benchApp(appName, url);
  // Warm-up (also opens the connection and provisions the stream): negative ids, not timed.
  const run = async (from: number, count: number) => {
    const w = createWindow(window);
    for (let i = from; i < from + count; i++) {
      await w.room();
      w.add(noop.delay(i));
    }
    await w.drain();
  };
  await run(-warmup, warmup);
  const t0 = epochMs();
  await run(0, n);
  const ms = epochMs() - t0;
  await app.close();
  return { probe: 'celeriac-enqueue', n, window, tasks_s: perSecond(n, ms), secs: ms / 1000, expected_msgs: n + warmup };
});
