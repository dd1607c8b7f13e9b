/**
 * Producer processes of the Celeriac e2e and round-trip probes (the worker runs in another process).
 *
 *   node --import tsx bench/roles/celeriac-producer.ts e2e <url> <app> <n> <window> <warmup>
 *   node --import tsx bench/roles/celeriac-producer.ts rt  <url> <app> <n> <lanes>  <warmup>
 *
 * e2e: publishes `noop(i)` for i in 0..n-1 with `window` publishes outstanding and reports its start
 * time (epoch ms) so the orchestrator can compute n / (last completion − producer start).
 * rt: `lanes` loops of `await (await add.delay(i, 1)).get()`, reporting tasks/s and p50/p99.
 * @module
 */
// First: with BENCH_TRACING set, an OpenTelemetry SDK is registered before Celeriac loads.
import { spansEnded } from './tracing.ts';
import { createWindow, epochMs, num, perSecond, roundTrip, runRole, sleep } from '../lib/measure.ts';
import { benchApp } from './bench-app.ts';

const [mode, url = '', appName = 'bench', nArg, windowArg, warmArg] = process.argv.slice(2);
const n = num(nArg, 50_000);
const window = num(windowArg, 64);
const warmup = num(warmArg, 0);
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 150_000);
const GET_TIMEOUT_MS = 30_000;

async function e2e(): Promise<Record<string, unknown>> {
  const { app, noop, stored } = benchApp(appName, url);
  // e2e-results: the task's result is stored in KV (the worker writes it); e2e: ignoreResult.
  const task = mode === 'e2e-results' ? stored : noop;
  const publish = async (from: number, count: number) => {
    const w = createWindow(window);
    for (let i = from; i < from + count; i++) {
      await w.room();
      w.add(task.delay(i));
    }
    await w.drain();
  };
  // Warm-up (connects, provisions, warms the JIT on both sides): negative ids the worker ignores.
  await publish(-warmup, warmup);
  await sleep(300);
  const cpu0 = process.cpuUsage();
  const tStart = epochMs();
  await publish(0, n);
  const tPublished = epochMs();
  const cpu = process.cpuUsage(cpu0);
  await app.close();
  return { probe: 'celeriac-e2e-producer', n, window, t_start: tStart, publish_tasks_s: perSecond(n, tPublished - tStart), cpu_ms: Math.round((cpu.user + cpu.system) / 1000) };
}

async function rt(): Promise<Record<string, unknown>> {
  const { app, add } = benchApp(appName, url);
  const report = await roundTrip('celeriac-roundtrip', n, window, warmup, async (i) => (await add.delay(i, 1)).get({ timeout: GET_TIMEOUT_MS }));
  await app.close();
  return report;
}

if (mode !== 'e2e' && mode !== 'e2e-results' && mode !== 'rt') {
  console.error(`unknown mode ${JSON.stringify(mode)}; e2e, e2e-results or rt`);
  process.exit(2);
}
runRole(`celeriac-producer:${mode}`, deadlineMs, async () => ({ ...(await (mode === 'rt' ? rt : e2e)()), spans: spansEnded() }));
