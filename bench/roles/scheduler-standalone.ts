/**
 * A standalone scheduler process, as `celeriac beat` runs it (src/cli/beat-command.ts): the app's
 * transport, a `Scheduler` on the `scheduler` lease (TTL 3 s) and an `isDone` check against the
 * result backend; no worker, no task slots, no beat schedules. It measures itself:
 *
 * - time from `start()` to leading, and to the moment `stats().pending` reaches `n` (the index of
 *   every delayed task is built: the stream was filled before this process started);
 * - VmRSS and V8 heap right then and the largest VmRSS seen while all `n` wait (before the first
 *   fire), VmHWM (peak RSS) at the end;
 * - every publish the scheduler makes (a wrapper around `transport.publish`, nothing else changed):
 *   fire time minus the message's `eta` header, and fires before the eta ("early");
 * - CPU time (user + system) while indexing and while firing.
 *
 * It stops once it has fired `n` tasks and holds none, or on SIGTERM, or at its deadline, and prints
 * one result line.
 *
 *   node --import tsx bench/roles/scheduler-standalone.ts <url> <app> <n>
 * @module
 */
import { hostname } from 'node:os';
import { Scheduler } from '../../src/actors/scheduler.ts';
import { createApp } from '../../src/index.ts';
import { H } from '../../src/protocol/headers.ts';
import { Lease } from '../../src/results/lease.ts';
import { isTerminalState } from '../../src/results/states.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { silentLogger } from '../../src/testing.ts';
import { procMemory } from '../lib/proc.ts';
import { emit, num, round, runRole, sleep } from '../lib/measure.ts';
import { latencySummary } from '../lib/latency.ts';
import { startProfiling } from '../lib/profile.ts';

const [url = '', appName = 'bench-sched', nArg] = process.argv.slice(2);
const n = num(nArg, 100_000);
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 150_000);
const SAMPLE_MS = 20;
/** Memory timeline: one sample per this many ms (where the RSS goes while indexing and firing). */
const TIMELINE_MS = num(process.env.BENCH_SCHED_TIMELINE_MS, 1000);
const FORCE_GC = process.env.BENCH_SCHED_GC === '1';
/** Diagnostics only: write a CPU profile and an allocation profile of the whole run into this directory. */
const PROFILE_DIR = process.env.BENCH_SCHED_PROFILE;

let stopRequested: () => void = () => undefined;
const stopSignal = new Promise<'stopped'>((r) => (stopRequested = () => r('stopped')));
process.once('SIGTERM', () => stopRequested());

const cpuMs = (u: NodeJS.CpuUsage) => round((u.user + u.system) / 1000, 0);
const mb = (bytes: number) => round(bytes / 1024 ** 2, 1);

runRole('scheduler-standalone', deadlineMs, async () => {
  const app = createApp({ name: appName, broker: url });
  const transport = app.transport();
  await transport.connect();
  const holder = `bench-beat@${hostname()}:${process.pid}`;
  const backend = await app.resultBackend();

  // Fire log: lateness of each publish against the message's own eta header.
  const fireLate = new Float64Array(Math.ceil(n * 1.2) + 1024);
  let fires = 0;
  let timed = 0;
  let firedEarly = 0;
  let tFirstFire = 0;
  let tLastFire = 0;
  const observed: Pick<Transport, 'publish' | 'delayed' | 'onStatus'> = {
    publish(queue, task) {
      const now = Date.now();
      const eta = Date.parse(task.headers[H.eta] ?? '');
      if (Number.isFinite(eta)) {
        if (now < eta) firedEarly++;
        if (timed < fireLate.length) fireLate[timed++] = now - eta;
      }
      if (fires === 0) tFirstFire = now;
      tLastFire = now;
      fires++;
      return transport.publish(queue, task);
    },
    delayed: () => transport.delayed(),
    onStatus: (listener) => transport.onStatus(listener),
  };

  const scheduler = new Scheduler({
    transport: observed,
    lease: new Lease(await app.leaseStore(), 'scheduler', holder, 3000),
    logger: silentLogger,
    isDone: async (id) => {
      const r = await backend.get(id);
      return r !== null && isTerminalState(r.status);
    },
  });

  const profiler = PROFILE_DIR ? await startProfiling() : undefined;
  const mem0 = procMemory();
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  await scheduler.start();
  emit('ready', { role: 'scheduler-standalone' });

  let tLeading = 0;
  let tIndexed = 0;
  let atIndexed: Record<string, number> | null = null;
  let cpuIndex: NodeJS.CpuUsage | null = null;
  let pendingRssMaxMb = 0;
  let pendingMax = 0;
  let outcome: 'done' | 'stopped' | 'timeout' = 'done';
  const timeline: Array<Record<string, number>> = [];
  let nextSample = t0;
  const giveUpAt = t0 + deadlineMs - 5_000;
  let stopped = false;
  void stopSignal.then(() => (stopped = true));
  for (;;) {
    const s = scheduler.stats();
    const now = Date.now();
    if (s.leading && tLeading === 0) tLeading = now;
    if (s.pending > pendingMax) pendingMax = s.pending;
    if (tIndexed === 0 && s.pending >= n) {
      tIndexed = now;
      cpuIndex = process.cpuUsage(cpu0);
      const m = procMemory();
      const mu = process.memoryUsage();
      atIndexed = { rss_mb: round(m?.rssMb ?? Number.NaN, 1), heap_used_mb: mb(mu.heapUsed), heap_total_mb: mb(mu.heapTotal), external_mb: mb(mu.external), array_buffers_mb: mb(mu.arrayBuffers) };
    }
    if (now >= nextSample) {
      nextSample += TIMELINE_MS;
      // Diagnostics only (BENCH_SCHED_GC=1 with NODE_OPTIONS=--expose-gc): a full GC before each
      // sample, so heap_used is the live heap and RSS what remains after collection.
      if (FORCE_GC) (globalThis as { gc?: () => void }).gc?.();
      const mu = process.memoryUsage();
      timeline.push({ t_ms: now - t0, pending: s.pending, fired: s.fired, rss_mb: mb(mu.rss), heap_total_mb: mb(mu.heapTotal), heap_used_mb: mb(mu.heapUsed), external_mb: mb(mu.external), array_buffers_mb: mb(mu.arrayBuffers) });
    }
    if (tIndexed !== 0 && fires === 0) pendingRssMaxMb = Math.max(pendingRssMaxMb, procMemory()?.rssMb ?? 0);
    if (s.fired >= n && s.pending === 0) break;
    if (stopped) {
      outcome = 'stopped';
      break;
    }
    if (now > giveUpAt) {
      outcome = 'timeout';
      break;
    }
    await sleep(SAMPLE_MS);
  }
  const cpuAll = process.cpuUsage(cpu0);
  const final = scheduler.stats();
  await scheduler.stop();
  await app.close();
  const mem = procMemory();
  const profile = profiler && PROFILE_DIR ? await profiler.stop(PROFILE_DIR, `scheduler-${process.pid}`) : undefined;
  return {
    probe: 'scheduler-standalone',
    n,
    outcome,
    stats: final,
    ms_to_lead: tLeading ? tLeading - t0 : null,
    ms_to_index: tIndexed ? tIndexed - t0 : null,
    t_start: t0,
    t_indexed: tIndexed || null,
    pending_max: pendingMax,
    rss_start_mb: round(mem0?.rssMb ?? Number.NaN, 1),
    at_indexed: atIndexed,
    rss_pending_max_mb: round(pendingRssMaxMb, 1),
    vm_hwm_mb: round(mem?.hwmMb ?? Number.NaN, 1),
    rss_end_mb: round(mem?.rssMb ?? Number.NaN, 1),
    cpu_index_ms: cpuIndex ? cpuMs(cpuIndex) : null,
    cpu_total_ms: cpuMs(cpuAll),
    fires,
    fired_early: firedEarly,
    t_first_fire: tFirstFire || null,
    t_last_fire: tLastFire || null,
    fire_lateness_ms: latencySummary(fireLate.subarray(0, timed)),
    memory_timeline: timeline,
    ...(profile ? { profile_dir: PROFILE_DIR, profile } : {}),
  };
});
