/**
 * Producer of the W3 CPU bench: fills the queue before the worker starts (a drain). First `warmup`
 * tasks with negative ids (the worker runs them first and does not time them), then `cpu.work(i,
 * iters)` for i = 0..n-1, with `delayMany` (1,000 awaiting their PubAck). App name and broker come
 * from BENCH_CPU_APP / BENCH_CPU_BROKER (see cpu-app.ts).
 *
 *   node --import tsx bench/roles/cpu-producer.ts <n> <warmup> <iters> <natsPid>
 *
 * Reports the publish rate and the CPU time this process and nats-server spent on the n measured
 * publishes (from /proc), so the bench can add the enqueue side to the CPU cost of a task.
 * @module
 */
import { cpuTimeMs } from '../lib/cpu.ts';
import { epochMs, num, perSecond, runRole } from '../lib/measure.ts';
import { app, work } from './cpu-app.ts';

const [nArg, warmArg, itersArg, natsPidArg] = process.argv.slice(2);
const n = num(nArg, 1000);
const warmup = num(warmArg, 0);
const iters = num(itersArg, 1_000_000);
const natsPid = num(natsPidArg, 0);
const CHUNK = 10_000;

async function publish(from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i += CHUNK) {
    const k = Math.min(CHUNK, from + count - i);
    await work.delayMany(Array.from({ length: k }, (_, j) => [i + j, iters] as [number, number]));
  }
}

runRole('cpu-producer', num(process.env.BENCH_ROLE_DEADLINE_MS, 120_000), async () => {
  await publish(-warmup, warmup);
  const cpu0 = { self: cpuTimeMs(process.pid), nats: natsPid ? cpuTimeMs(natsPid) : null };
  const t0 = epochMs();
  await publish(0, n);
  const ms = epochMs() - t0;
  const cpu1 = { self: cpuTimeMs(process.pid), nats: natsPid ? cpuTimeMs(natsPid) : null };
  await app.close();
  const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.round(b - a));
  return {
    n,
    warmup,
    iters,
    publish_tasks_s: perSecond(n, ms),
    publish_ms: Math.round(ms),
    cpu_ms: { producer: diff(cpu0.self, cpu1.self), nats: diff(cpu0.nats, cpu1.nats) },
    expected_msgs: n + warmup,
  };
});
