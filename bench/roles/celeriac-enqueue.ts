/**
 * Enqueue only (no worker running): `noop(i)` tasks stored in the stream, three ways.
 *
 *   node --import tsx bench/roles/celeriac-enqueue.ts <url> <app> <n> <window> <warmup> [mode]
 *
 * mode `pipelined` (default): `noop.delay(i)` with `window` publishes awaiting their PubAck;
 * `single`: one `await noop.delay(i)` at a time; `bulk`: `noop.delayMany(argsList)` in chunks of
 * `window` × 10 argument lists. Reports tasks/s and the CPU time of this process over the timed part.
 * With BENCH_ENQUEUE_PROFILE_DIR, writes a CPU and an allocation profile of the timed part there.
 * @module
 */
import { createWindow, epochMs, num, perSecond, runRole } from '../lib/measure.ts';
import { startProfiling } from '../lib/profile.ts';
import { benchApp } from './bench-app.ts';

const [url = '', appName = 'bench-enqueue', nArg, windowArg, warmArg, modeArg] = process.argv.slice(2);
const n = num(nArg, 100_000);
const window = num(windowArg, 1000);
const warmup = num(warmArg, 1000);
const mode = modeArg ?? 'pipelined';
if (!['pipelined', 'single', 'bulk'].includes(mode)) {
  console.error(`unknown mode ${JSON.stringify(mode)}; pipelined, single or bulk`);
  process.exit(2);
}

runRole(`celeriac-enqueue:${mode}`, num(process.env.BENCH_ROLE_DEADLINE_MS, 120_000), async () => {
  const { app, noop } = benchApp(appName, url);
  const run = async (from: number, count: number) => {
    if (mode === 'single') {
      for (let i = from; i < from + count; i++) await noop.delay(i);
      return;
    }
    if (mode === 'bulk') {
      const chunk = window * 10;
      for (let s = from; s < from + count; s += chunk) {
        const list: Array<[number]> = [];
        for (let i = s; i < Math.min(s + chunk, from + count); i++) list.push([i]);
        await noop.delayMany(list);
      }
      return;
    }
    const w = createWindow(window);
    for (let i = from; i < from + count; i++) {
      await w.room();
      w.add(noop.delay(i));
    }
    await w.drain();
  };
  // Warm-up (also opens the connection and provisions the stream): negative ids, not timed.
  await run(-warmup, warmup);
  // Diagnostics only: BENCH_ENQUEUE_PROFILE_DIR writes a CPU and an allocation profile of the run.
  const profileDir = process.env.BENCH_ENQUEUE_PROFILE_DIR;
  const profiler = profileDir ? await startProfiling() : undefined;
  const cpu0 = process.cpuUsage();
  const t0 = epochMs();
  await run(0, n);
  const ms = epochMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  const profile = profiler && profileDir ? await profiler.stop(profileDir, `enqueue-${mode}-${process.pid}`) : undefined;
  await app.close();
  return { probe: `celeriac-enqueue-${mode}`, mode, n, window, tasks_s: perSecond(n, ms), secs: ms / 1000, expected_msgs: n + warmup, cpu_ms: Math.round((cpu.user + cpu.system) / 1000), ...(profile ? { profile } : {}) };
});
