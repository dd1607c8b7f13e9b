/**
 * Worker of the W3 CPU bench. The queue is already full when it starts (a drain).
 *
 *   node --import tsx bench/roles/cpu-worker.ts <threads> <concurrency> <n> <warmup> <iters> <natsPid> <baselineMs>
 *
 * 1. `app.worker({ cpuThreads: threads, concurrency, tasksModule: cpu-app.ts })` runs `cpu.work` in
 *    its Piscina threads. Each finished task reports `[i, threadId, time]` on a BroadcastChannel:
 *    ids 0..n-1 go into the exact-delivery ledger (negative ids are the warm-up, run first and not
 *    timed). tasks/s = (n − 1) / (last − first measured completion). The CPU time of this process
 *    (all its threads) and of nats-server is read from /proc at the first and the last completion,
 *    and each of its OS threads' schedstat (on a CPU / waiting for a CPU / neither: a pool thread
 *    with no task).
 * 2. The baseline of the same run, in this process: `spin(iters)` back to back in 1 and in `threads`
 *    plain worker threads (no Celeriac, no Piscina, no broker), measured before the worker starts
 *    and again after the drain (every task acknowledged, peak RSS read, worker stopped); the better
 *    of the two counts, so that a burst of other load on the machine during one of them does not
 *    pass for a low ideal.
 *
 * App name and broker come from BENCH_CPU_APP / BENCH_CPU_BROKER (cpu-app.ts).
 * @module
 */
import { readFileSync, readdirSync } from 'node:fs';
import { BroadcastChannel } from 'node:worker_threads';
import { silentLogger } from '../../src/testing.ts';
import { cpuTimeMs } from '../lib/cpu.ts';
import { DeliveryLedger, emit, num, round, runRole, sleep } from '../lib/measure.ts';
import { procMemory } from '../lib/proc.ts';
import { startProfiling } from '../lib/profile.ts';
import { DONE_CHANNEL, type DoneMessage, TASKS_MODULE, app } from './cpu-app.ts';
import { type RawThreadsResult, rawThreads } from './cpu-work.ts';

const [threadsArg, concArg, nArg, warmArg, itersArg, natsPidArg, baselineArg] = process.argv.slice(2);
const threads = num(threadsArg, 1);
const concurrency = num(concArg, 2 * threads);
const n = num(nArg, 1000);
const warmup = num(warmArg, 0);
const iters = num(itersArg, 1_000_000);
const natsPid = num(natsPidArg, 0);
const baselineMs = num(baselineArg, 500);
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 120_000);

const ledger = new DeliveryLedger(n);
const threadIds = new Set<number>();
let mainThreadRuns = 0;
let warmSeen = 0;
let tFirst = 0;
let tLast = 0;
let cpuFirst: { worker: number | null; nats: number | null } | undefined;
let cpuLast: { worker: number | null; nats: number | null } | undefined;
let allSeen: () => void = () => undefined;
const done = new Promise<void>((r) => (allSeen = r));

/**
 * Per OS thread of this process (main thread, pool threads, V8 and libuv helpers), from
 * /proc/self/task/<tid>/schedstat: ms on a CPU, and ms runnable but waiting for a CPU (run-queue
 * delay: the machine was busy). A pool thread's wall time minus both is time it had no task.
 */
function threadTimes(): Record<string, { run: number; wait: number }> {
  const out: Record<string, { run: number; wait: number }> = {};
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const [run = 0, wait = 0] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
      out[tid === String(process.pid) ? 'main' : tid] = { run: run / 1e6, wait: wait / 1e6 };
    }
  } catch {
    /* not Linux */
  }
  return out;
}
let threadsFirst: ReturnType<typeof threadTimes> = {};
let threadsLast: ReturnType<typeof threadTimes> = {};
const cpuNow = () => ({ worker: cpuTimeMs(process.pid), nats: natsPid ? cpuTimeMs(natsPid) : null });

const channel = new BroadcastChannel(DONE_CHANNEL);
channel.onmessage = (ev: MessageEvent) => {
  const [i, tid, t] = ev.data as DoneMessage;
  if (tid === 0) mainThreadRuns++;
  if (i < 0) {
    warmSeen++;
    return;
  }
  threadIds.add(tid);
  if (!ledger.mark(i)) return;
  if (ledger.unique === 1) {
    tFirst = t;
    cpuFirst = cpuNow();
    threadsFirst = threadTimes();
  }
  if (ledger.unique === n) {
    tLast = t;
    cpuLast = cpuNow();
    threadsLast = threadTimes();
    allSeen();
  }
};

/**
 * The window's main thread and busiest other threads (the pool threads first): % of the window on a
 * CPU, % waiting for a CPU, and the rest (no work: idle or blocked).
 */
function threadsInWindow(windowMs: number): Array<{ thread: string; on_cpu_pct: number; runqueue_pct: number; idle_pct: number }> {
  const rows = Object.entries(threadsLast).map(([k, v]) => {
    const a = threadsFirst[k] ?? { run: 0, wait: 0 };
    const run = v.run - a.run;
    const wait = v.wait - a.wait;
    return { thread: k, run, wait };
  });
  const main = rows.filter((r) => r.thread === 'main');
  const others = rows.filter((r) => r.thread !== 'main').sort((x, y) => y.run - x.run).slice(0, threads + 2);
  const pct = (v: number) => round((100 * v) / Math.max(windowMs, 1e-9), 1);
  return [...main, ...others].map((r) => ({ thread: r.thread, on_cpu_pct: pct(r.run), runqueue_pct: pct(r.wait), idle_pct: pct(Math.max(0, windowMs - r.run - r.wait)) }));
}

runRole('cpu-worker', deadlineMs, async () => {
  const ideal1Before = await rawThreads(1, iters, baselineMs);
  const rawTBefore = threads === 1 ? ideal1Before : await rawThreads(threads, iters, baselineMs);
  const rssBeforeStart = procMemory()?.rssMb ?? null;
  const worker = app.worker({
    concurrency,
    cpuThreads: threads,
    tasksModule: TASKS_MODULE,
    logger: silentLogger,
    scheduler: false,
    events: process.env.BENCH_EVENTS !== '0',
  });
  // Diagnostics only: BENCH_WORKER_PROFILE_DIR writes a CPU and an allocation profile of the main thread.
  const profiler = process.env.BENCH_WORKER_PROFILE_DIR ? await startProfiling() : undefined;
  const tStart = Date.now();
  await worker.start();
  const startMs = Date.now() - tStart;
  emit('ready', { role: 'cpu-worker' });
  const outcome = await Promise.race([done.then(() => 'done' as const), sleep(Math.max(1_000, deadlineMs - 15_000 - 3 * baselineMs)).then(() => 'timeout' as const)]);
  // Every task has run; wait (bounded) until the executor counted it, i.e. it was acked.
  const ackDeadline = Date.now() + 10_000;
  while (outcome === 'done' && worker.stats().succeeded < n + warmup && Date.now() < ackDeadline) await sleep(5);
  const mem = procMemory();
  const stats = worker.stats();
  if (profiler) {
    const summary = await profiler.stop(process.env.BENCH_WORKER_PROFILE_DIR as string, `cpu-worker-${threads}-${process.pid}`);
    process.stderr.write(`${JSON.stringify(summary.cpu, null, 1).slice(0, 8000)}\n`);
  }
  await worker.stop(5_000);
  await app.close();
  channel.close();
  if (outcome !== 'done') throw new Error(`worker timed out before all tasks ran: ${JSON.stringify({ unique: ledger.unique, warmSeen, stats })}`);

  // The baseline of this run again: the same work in plain threads, nothing else in this process.
  const ideal1After = await rawThreads(1, iters, baselineMs);
  const rawTAfter = threads === 1 ? ideal1After : await rawThreads(threads, iters, baselineMs);
  const better = (x: RawThreadsResult, y: RawThreadsResult) => (x.tasksPerSec >= y.tasksPerSec ? x : y);
  const ideal1 = better(ideal1Before, ideal1After);
  const rawT = better(rawTBefore, rawTAfter);

  const windowMs = tLast - tFirst;
  const cpuMs = (k: 'worker' | 'nats') => {
    const a = cpuFirst?.[k];
    const b = cpuLast?.[k];
    return typeof a === 'number' && typeof b === 'number' ? Math.round(b - a) : null;
  };
  const cpuWorker = cpuMs('worker');
  const cpuNats = cpuMs('nats');
  const counted = n - 1;
  const threadsWin = threadsInWindow(windowMs);
  return {
    threads,
    concurrency,
    n,
    warmup,
    iters,
    tasks_s: windowMs > 0 ? round((counted / windowMs) * 1000, 1) : null,
    window_ms: round(windowMs, 1),
    cpu_window_ms: { worker: cpuWorker, nats: cpuNats },
    cpu_us_per_task_drain: cpuWorker !== null && cpuNats !== null ? round(((cpuWorker + cpuNats) * 1000) / counted, 1) : null,
    threads_window: threadsWin,
    // CPU of the pool threads per task (the work plus the thread's side of the dispatch), ms.
    pool_cpu_ms_per_task: round(threadsWin.filter((x) => x.thread !== 'main').slice(0, threads).reduce((a, x) => a + (x.on_cpu_pct * windowMs) / 100, 0) / counted, 4),
    unique: ledger.unique,
    duplicates: ledger.duplicates,
    missing: ledger.missing,
    out_of_range: ledger.outOfRange,
    warmup_seen: warmSeen,
    threads_used: threadIds.size,
    main_thread_runs: mainThreadRuns,
    worker_start_ms: startMs,
    rss_before_start_mb: rssBeforeStart === null ? null : round(rssBeforeStart, 1),
    rss_mb: mem ? round(mem.rssMb, 1) : null,
    hwm_mb: mem ? round(mem.hwmMb, 1) : null,
    stats,
    baseline: {
      ideal_1_thread_tasks_s: round(ideal1.tasksPerSec, 1),
      ms_per_task_1_thread: round(ideal1.msPerTask, 4),
      raw_threads_tasks_s: round(rawT.tasksPerSec, 1),
      raw_threads_per_thread: rawT.perThread,
      ideal_1_thread_before_after: [round(ideal1Before.tasksPerSec, 1), round(ideal1After.tasksPerSec, 1)],
      raw_threads_before_after: [round(rawTBefore.tasksPerSec, 1), round(rawTAfter.tasksPerSec, 1)],
    },
  };
});
