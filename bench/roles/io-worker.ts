/**
 * Worker of the W4 I/O bench. The queue is already full when it starts (a drain): n `io.sleep(i,
 * ms)` tasks for `slots` async slots (`app.worker({ concurrency: slots })`).
 *
 *   node --import tsx bench/roles/io-worker.ts <url> <app> <slots> <n> <sleepMs> <maxAckPending> <natsPid>
 *
 * Records, in this process: each task's completion time (by id: the exact-delivery ledger), a
 * timeline every 100 ms (tasks started and done, RSS, V8 heap, CPU time of this process and of
 * nats-server from /proc, how late the 100 ms sampling timer fired), and event-loop delay
 * (`perf_hooks.monitorEventLoopDelay`, 10 ms resolution) from the first task's start to the last
 * completion.
 *
 * Steady state excludes the ramps: completions in a window of whole periods (the task's wait) that
 * starts half a period after the first completion and ends at least half a period before the last
 * (with no wait: the middle 80 % of the drain). tasks/s = completions in the window / its length;
 * CPU per task = CPU between the first and last 100 ms sample inside the window / completions
 * between them.
 * @module
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { silentLogger } from '../../src/testing.ts';
import { cpuTimeMs } from '../lib/cpu.ts';
import { DeliveryLedger, emit, epochMs, median, num, round, runRole, sleep } from '../lib/measure.ts';
import { procMemory } from '../lib/proc.ts';
import { ioApp } from './io-app.ts';

const [url = '', appName = 'bench-io', slotsArg, nArg, sleepArg, mapArg, natsPidArg] = process.argv.slice(2);
const slots = num(slotsArg, 1000);
const n = num(nArg, 5 * slots);
const sleepMs = num(sleepArg, 1000);
const maxAckPending = num(mapArg, 10_000);
const natsPid = num(natsPidArg, 0);
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 120_000);
const SAMPLE_MS = 100;

const ledger = new DeliveryLedger(n);
const doneAt = new Float64Array(n);
let started = 0;
let completed = 0;
let tFirstStart = 0;
let allDone: () => void = () => undefined;
const finished = new Promise<void>((r) => (allDone = r));

const eld = monitorEventLoopDelay({ resolution: 10 });

const { app } = ioApp(appName, url, maxAckPending, {
  onStart() {
    if (started++ === 0) {
      tFirstStart = epochMs();
      eld.enable(); // from the first task on: start-up (imports, connecting) is not the drain
    }
  },
  onDone(i) {
    completed++;
    if (ledger.mark(i)) {
      doneAt[i] = epochMs();
      if (ledger.unique === n) allDone();
    }
  },
});

/**
 * One timeline sample: [epoch ms, started, completed, RSS MB, CPU ms of this process, of
 * nats-server, timer lateness ms, V8 heap used MB, V8 heap total MB, array buffers MB].
 */
type Sample = [number, number, number, number, number, number, number, number, number, number];

runRole('io-worker', deadlineMs, async () => {
  const rssBeforeStart = procMemory()?.rssMb ?? null;
  const timeline: Sample[] = [];
  let expected = Date.now() + SAMPLE_MS;
  const take = () => {
    probe();
    const now = Date.now();
    const late = Math.max(0, now - expected);
    expected = now + SAMPLE_MS;
    const h = process.memoryUsage();
    const mb = (b: number) => round(b / 2 ** 20, 1);
    timeline.push([
      epochMs(),
      started,
      completed,
      mb(h.rss),
      cpuTimeMs(process.pid) ?? Number.NaN,
      natsPid ? (cpuTimeMs(natsPid) ?? Number.NaN) : Number.NaN,
      late,
      mb(h.heapUsed),
      mb(h.heapTotal),
      mb(h.arrayBuffers),
    ]);
  };
  // Diagnostics only (node --expose-gc, BENCH_IO_GC_PROBE=1): one full GC once the slots are full and
  // nothing has finished yet, to see the live heap per task in flight (it stalls the loop once).
  const gc = process.env.BENCH_IO_GC_PROBE === '1' ? (globalThis as { gc?: () => void }).gc : undefined;
  let liveProbe: { in_flight: number; heap_used_mb: number; heap_before_mb: number; rss_mb: number } | null = null;
  const probe = () => {
    if (!gc || liveProbe || completed > 0 || started - completed < 0.97 * Math.min(slots, n)) return;
    const before = process.memoryUsage().heapUsed;
    gc();
    const m = process.memoryUsage();
    liveProbe = { in_flight: started - completed, heap_used_mb: round(m.heapUsed / 2 ** 20, 1), heap_before_mb: round(before / 2 ** 20, 1), rss_mb: round(m.rss / 2 ** 20, 1) };
    if (process.env.BENCH_IO_HEAP_SNAPSHOT) writeHeapSnapshot(process.env.BENCH_IO_HEAP_SNAPSHOT);
  };
  const worker = app.worker({ concurrency: slots, logger: silentLogger, scheduler: false, events: process.env.BENCH_EVENTS !== '0' });
  take();
  const sampler = setInterval(take, SAMPLE_MS);
  const t0 = epochMs();
  const tStart = Date.now();
  await worker.start();
  const startMs = Date.now() - tStart;
  emit('ready', { role: 'io-worker' });
  const outcome = await Promise.race([finished.then(() => 'done' as const), sleep(Math.max(1_000, deadlineMs - 15_000)).then(() => 'timeout' as const)]);
  eld.disable();
  take();
  clearInterval(sampler);
  // Every task has run; wait (bounded) until the executor counted it, i.e. it was acked.
  const ackDeadline = Date.now() + 10_000;
  while (outcome === 'done' && worker.stats().succeeded < n && Date.now() < ackDeadline) await sleep(5);
  const mem = procMemory();
  const stats = worker.stats();
  await worker.stop(5_000);
  await app.close();
  if (outcome !== 'done') throw new Error(`worker timed out before all tasks ran: ${JSON.stringify({ unique: ledger.unique, started, completed, stats })}`);

  let tFirstDone = Number.POSITIVE_INFINITY;
  let tLastDone = 0;
  for (const t of doneAt) {
    if (t < tFirstDone) tFirstDone = t;
    if (t > tLastDone) tLastDone = t;
  }
  // Every slot starts at once on a full queue and each task waits the same time, so completions come
  // in waves one wait apart. The window therefore spans whole periods, from mid-way between the first
  // two waves: it excludes the ramps and counts each slot once per period.
  let a: number;
  let b: number;
  if (sleepMs > 0) {
    a = tFirstDone + sleepMs / 2;
    const periods = Math.floor((tLastDone - sleepMs / 2 - a) / sleepMs);
    b = a + periods * sleepMs;
  } else {
    a = tFirstDone + 0.1 * (tLastDone - tFirstDone);
    b = tLastDone - 0.1 * (tLastDone - tFirstDone);
  }
  const steady = b - a >= Math.min(500, sleepMs || 500);
  if (!steady) {
    a = tFirstDone;
    b = tLastDone;
  }
  let inWindow = 0;
  for (const t of doneAt) if (t >= a && t <= b) inWindow++;
  const inside = timeline.filter((s) => s[0] >= a && s[0] <= b);
  const sa = inside[0];
  const sb = inside[inside.length - 1];
  const dDone = sa && sb ? sb[2] - sa[2] : 0;
  const cpuWorker = sa && sb ? sb[4] - sa[4] : Number.NaN;
  const cpuNats = sa && sb ? sb[5] - sa[5] : Number.NaN;
  const ms = (ns: number) => round(ns / 1e6, 2);
  return {
    slots,
    n,
    sleep_ms: sleepMs,
    max_ack_pending: maxAckPending,
    steady_state: steady,
    window_ms: round(b - a, 1),
    tasks_s: round((inWindow / (b - a)) * 1000, 1),
    drain_tasks_s: round((n / (tLastDone - tFirstStart)) * 1000, 1),
    drain_ms: round(tLastDone - tFirstStart, 1),
    first_start_after_ms: round(tFirstStart - t0, 1),
    first_done_after_ms: round(tFirstDone - tFirstStart, 1),
    in_flight_window_median: inside.length ? median(inside.map((s) => s[1] - s[2])) : null,
    in_flight_max: Math.max(...timeline.map((s) => s[1] - s[2])),
    // Lateness of the 100 ms sampling timer inside the steady window: a coarse event-loop delay there.
    sampler_late_window_ms: inside.length ? { p50: median(inside.map((s) => s[6])), max: Math.max(...inside.map((s) => s[6])) } : null,
    cpu_window_ms: { worker: Math.round(cpuWorker), nats: Math.round(cpuNats), tasks: dDone },
    cpu_us_per_task_drain: dDone > 0 ? round(((cpuWorker + cpuNats) * 1000) / dDone, 1) : null,
    event_loop_delay_ms: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max), mean: ms(eld.mean) },
    rss_before_start_mb: rssBeforeStart === null ? null : round(rssBeforeStart, 1),
    rss_max_sampled_mb: Math.max(...timeline.map((s) => s[3])),
    rss_mb: mem ? round(mem.rssMb, 1) : null,
    hwm_mb: mem ? round(mem.hwmMb, 1) : null,
    worker_start_ms: startMs,
    unique: ledger.unique,
    duplicates: ledger.duplicates,
    missing: ledger.missing,
    out_of_range: ledger.outOfRange,
    stats,
    // [ms since worker.start(), started, done, RSS MB, CPU ms worker, CPU ms nats-server, sampler timer
    // lateness ms, V8 heap used MB, heap total MB, array buffers MB]
    timeline: timeline.map((s) => [round(s[0] - t0, 0), ...s.slice(1)]),
    heap_used_max_mb: Math.max(...timeline.map((s) => s[7])),
    live_heap_probe: liveProbe,
  };
});
