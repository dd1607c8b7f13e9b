/**
 * Producer of the W4 I/O bench: fills the queue with `io.sleep(i, ms)`, i = 0..n-1, before the
 * worker starts (a drain), with `delayMany` (1,000 awaiting their PubAck).
 *
 *   node --import tsx bench/roles/io-producer.ts <url> <app> <n> <sleepMs> <maxAckPending> <natsPid>
 *
 * Reports the publish rate and the CPU time of this process and of nats-server over the publishes
 * (from /proc), so the bench can add the enqueue side to the CPU cost of a task.
 * @module
 */
import { cpuTimeMs } from '../lib/cpu.ts';
import { epochMs, num, perSecond, runRole } from '../lib/measure.ts';
import { ioApp } from './io-app.ts';

const [url = '', appName = 'bench-io', nArg, sleepArg, mapArg, natsPidArg] = process.argv.slice(2);
const n = num(nArg, 10_000);
const sleepMs = num(sleepArg, 1000);
const maxAckPending = num(mapArg, 10_000);
const natsPid = num(natsPidArg, 0);
const CHUNK = 10_000;

runRole('io-producer', num(process.env.BENCH_ROLE_DEADLINE_MS, 120_000), async () => {
  const { app, sleep } = ioApp(appName, url, maxAckPending);
  const cpu0 = { self: cpuTimeMs(process.pid), nats: natsPid ? cpuTimeMs(natsPid) : null };
  const t0 = epochMs();
  for (let i = 0; i < n; i += CHUNK) {
    const k = Math.min(CHUNK, n - i);
    await sleep.delayMany(Array.from({ length: k }, (_, j) => [i + j, sleepMs] as [number, number]));
  }
  const ms = epochMs() - t0;
  const cpu1 = { self: cpuTimeMs(process.pid), nats: natsPid ? cpuTimeMs(natsPid) : null };
  await app.close();
  const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.round(b - a));
  return {
    n,
    sleep_ms: sleepMs,
    publish_tasks_s: perSecond(n, ms),
    publish_ms: Math.round(ms),
    // Includes connecting and provisioning the stream (the first publish): a few ms.
    cpu_ms: { producer: diff(cpu0.self, cpu1.self), nats: diff(cpu0.nats, cpu1.nats) },
    expected_msgs: n,
  };
});
