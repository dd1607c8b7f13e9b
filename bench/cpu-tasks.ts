/**
 * `npm run bench -- cpu` (W3): CPU tasks of 1 ms and 10 ms of real work across CPU-pool thread
 * counts. Target: throughput ≥ 90 % of threads × ideal, where ideal is one thread running the same
 * work back to back with nothing else (measured in the same run).
 *
 * Against a nats-server started here (fresh store): a calibration role finds the `spin` iteration
 * counts for 1 ms and 10 ms on this machine (bench/roles/cpu-work.ts). Then, per run, a producer
 * process fills the queue with a warm-up and N `cpu.work` tasks (N ≈ BENCH_CPU_SECONDS of work) and
 * a worker process (`cpuThreads` = t, `concurrency` = 2t, `kind: 'cpu'`, `ignoreResult: true`)
 * drains it; before and after, the worker measures the same run's baseline: the work in 1 and in
 * t plain worker threads (the better of the two timings counts). Exact-delivery check on every run (a run with a missing or duplicate id fails).
 * Thread counts above the machine's cores are marked oversubscribed and get no verdict.
 *
 * Environment: BENCH_REPEAT (5), BENCH_CPU_THREADS (1,2,4), BENCH_CPU_WORK_MS (1,10),
 * BENCH_CPU_SECONDS (measured drain per run, 3), BENCH_CPU_WARMUP_SECONDS (0.3),
 * BENCH_CPU_SLOTS_PER_THREAD (2), BENCH_CPU_BASELINE_MS (500, each of the four baseline timings), BENCH_EVENTS (1; 0 turns worker
 * events off), BENCH_CPU_OUT (bench/results/cpu-latest.json), BENCH_CPU_CHART_DIR (docs/bench).
 * See docs/bench/cpu.md.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { int, pct, range, stat } from './lib/stat.ts';
import { numberOf, runScenario, startBenchServer, wipeStreams } from './lib/scenario.ts';
import { ROOT, killAllRoles, runRoleProcess, startRole } from './lib/child.ts';
import { machineInfo } from './lib/machine.ts';
import { num, round } from './lib/measure.ts';
import { table } from './lib/report.ts';
import { lineChart } from './lib/svg.ts';

const list = (v: string | undefined, fallback: number[]) => (v ? v.split(',').map((x) => num(x.trim(), Number.NaN)) : fallback);
const REPEAT = num(process.env.BENCH_REPEAT, 5);
const THREADS = list(process.env.BENCH_CPU_THREADS, [1, 2, 4]);
const WORK_MS = list(process.env.BENCH_CPU_WORK_MS, [1, 10]);
const SECONDS = num(process.env.BENCH_CPU_SECONDS, 3);
const WARMUP_SECONDS = num(process.env.BENCH_CPU_WARMUP_SECONDS, 0.3);
const SLOTS_PER_THREAD = num(process.env.BENCH_CPU_SLOTS_PER_THREAD, 2);
const BASELINE_MS = num(process.env.BENCH_CPU_BASELINE_MS, 500);
const OUT = resolve(ROOT, process.env.BENCH_CPU_OUT ?? 'bench/results/cpu-latest.json');
const CHART_DIR = resolve(ROOT, process.env.BENCH_CPU_CHART_DIR ?? 'docs/bench');
const ROLE_TIMEOUT_MS = num(process.env.BENCH_ROLE_TIMEOUT_MS, 120_000);
const CORES = availableParallelism();
/** Target: measured ≥ 90 % of threads × ideal (thread counts up to the number of cores). */
const TARGET = 0.9;

for (const [k, v] of [['BENCH_CPU_THREADS', THREADS], ['BENCH_CPU_WORK_MS', WORK_MS]] as const) {
  if (v.length === 0 || v.some((x) => !(x > 0))) throw new Error(`${k} must be a comma-separated list of positive numbers`);
}
if (THREADS.some((t) => !Number.isInteger(t))) throw new Error('BENCH_CPU_THREADS must be integers');

interface Run {
  repeat: number;
  workMs: number;
  threads: number;
  ok: boolean;
  error?: string;
  n?: number;
  tasksPerSec?: number;
  /** threads × the 1-thread baseline of this run. */
  ideal?: number;
  ratioIdeal?: number;
  /** The same work in `threads` plain threads, this run. */
  rawThreads?: number;
  ratioRaw?: number;
  cpuUsPerTask?: number | null;
  hwmMb?: number | null;
  /** Pool threads, mean % of the window with no task (dispatch gaps) and waiting for a CPU (contention). */
  poolIdlePct?: number | null;
  poolRunqueuePct?: number | null;
  /** CPU of the worker's main thread (intake, Piscina dispatch, acks) per task, µs. */
  mainUsPerTask?: number | null;
  /** CPU of the pool threads per task, ms, against the work's cost in a plain thread. */
  poolMsPerTask?: number | null;
  rawMsPerTask?: number | null;
  worker?: Record<string, unknown>;
  producer?: Record<string, unknown>;
}

async function oneRun(nc: NatsConnection, url: string, natsPid: number, repeat: number, workMs: number, threads: number, iters: number, msPerTask: number): Promise<Run> {
  const effective = Math.min(threads, CORES);
  const concurrency = SLOTS_PER_THREAD * threads;
  const n = Math.max(20, Math.round((SECONDS * effective * 1000) / msPerTask));
  const warmup = Math.max(2 * concurrency, Math.round((WARMUP_SECONDS * effective * 1000) / msPerTask));
  const appName = `bench-cpu-${randomUUID().slice(0, 8)}`;
  const env = { BENCH_CPU_APP: appName, BENCH_CPU_BROKER: url };
  const producer = await runRoleProcess('cpu-producer.ts', [n, warmup, iters, natsPid], ROLE_TIMEOUT_MS, env);
  const stored = (await (await jetstreamManager(nc)).streams.info(`${appName}-tasks`)).state.messages;
  if (stored !== n + warmup) throw new Error(`the task stream holds ${stored} tasks, expected ${n + warmup}`);
  const w = startRole('cpu-worker.ts', [threads, concurrency, n, warmup, iters, natsPid, BASELINE_MS], ROLE_TIMEOUT_MS, env);
  const worker = await w.result;
  if (worker.missing !== 0 || worker.duplicates !== 0 || worker.out_of_range !== 0) {
    throw new Error(`delivery check failed: ${JSON.stringify({ missing: worker.missing, duplicates: worker.duplicates, out_of_range: worker.out_of_range })}`);
  }
  if (worker.main_thread_runs !== 0) throw new Error(`${String(worker.main_thread_runs)} tasks ran on the worker's event loop, not in the CPU pool`);
  const tasksPerSec = numberOf(worker, 'tasks_s');
  const baseline = worker.baseline as Record<string, number>;
  const ideal = threads * numberOf(baseline, 'ideal_1_thread_tasks_s');
  const raw = numberOf(baseline, 'raw_threads_tasks_s');
  const pc = producer.cpu_ms as { producer: number | null; nats: number | null };
  const drainUs = worker.cpu_us_per_task_drain;
  const tw = (worker.threads_window ?? []) as Array<{ thread: string; on_cpu_pct: number; runqueue_pct: number; idle_pct: number }>;
  const pool = tw.filter((x) => x.thread !== 'main').slice(0, threads);
  const mean = (xs: number[]) => (xs.length ? round(xs.reduce((a, b) => a + b, 0) / xs.length, 1) : null);
  const main = tw.find((x) => x.thread === 'main');
  const windowMs = typeof worker.window_ms === 'number' ? worker.window_ms : 0;
  const cpuUsPerTask = typeof drainUs === 'number' && pc.producer !== null && pc.nats !== null ? round(drainUs + ((pc.producer + pc.nats) * 1000) / n, 1) : null;
  return {
    repeat,
    workMs,
    threads,
    ok: true,
    n,
    tasksPerSec,
    ideal: round(ideal, 1),
    ratioIdeal: round(tasksPerSec / ideal, 4),
    rawThreads: raw,
    ratioRaw: round(tasksPerSec / raw, 4),
    cpuUsPerTask,
    hwmMb: typeof worker.hwm_mb === 'number' ? worker.hwm_mb : null,
    poolIdlePct: pool.length === threads ? mean(pool.map((x) => x.idle_pct)) : null,
    poolRunqueuePct: pool.length === threads ? mean(pool.map((x) => x.runqueue_pct)) : null,
    mainUsPerTask: main ? round((main.on_cpu_pct * windowMs * 10) / (n - 1), 1) : null,
    poolMsPerTask: typeof worker.pool_cpu_ms_per_task === 'number' ? worker.pool_cpu_ms_per_task : null,
    rawMsPerTask: typeof baseline.ms_per_task_1_thread === 'number' ? baseline.ms_per_task_1_thread : null,
    worker,
    producer,
  };
}

async function main(): Promise<number> {
  const machine = await machineInfo(num(process.env.BENCH_REDIS_PORT, 6379));
  const startedAt = new Date().toISOString();
  console.log(`celeriac W3 CPU bench: work ${WORK_MS.join(', ')} ms, threads ${THREADS.join(', ')} (cores: ${CORES}), repeat ${REPEAT}, ~${SECONDS} s measured per run, slots ${SLOTS_PER_THREAD} per thread`);
  console.log(`machine: ${machine.cores} x ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}, ${machine.natsServer}, load ${machine.loadavgStart.join(' ')}`);
  const server = await startBenchServer();
  const natsPid = server.pid ?? 0;
  let nc: NatsConnection | undefined;
  const runs: Run[] = [];
  let calibration: Record<string, unknown> = {};
  try {
    nc = await connect({ servers: server.url });
    calibration = await runRoleProcess('cpu-calibrate.ts', [WORK_MS.join(','), 1000], 60_000);
    const iters = calibration.iters as Record<string, number>;
    const inThread = calibration.ms_per_task_in_thread as Record<string, number>;
    console.log(`calibration: ${WORK_MS.map((ms) => `${ms} ms = ${int(iters[String(ms)])} iterations (${inThread[String(ms)]} ms in a thread)`).join(', ')}`);
    for (let repeat = 1; repeat <= REPEAT; repeat++) {
      for (const workMs of WORK_MS) {
        for (const threads of THREADS) {
          const t0 = Date.now();
          process.stdout.write(`[${repeat}/${REPEAT}] ${workMs} ms work, ${threads} thread${threads > 1 ? 's' : ''}${threads > CORES ? ' (oversubscribed)' : ''} ... `);
          try {
            const r = await oneRun(nc, server.url, natsPid, repeat, workMs, threads, iters[String(workMs)] as number, inThread[String(workMs)] as number);
            runs.push(r);
            console.log(`${int(r.tasksPerSec)} tasks/s = ${pct(r.ratioIdeal)} of ${threads} × ideal, ${pct(r.ratioRaw)} of raw threads, ${int(r.cpuUsPerTask)} CPU-µs/task, pool idle ${r.poolIdlePct} % / run-queue ${r.poolRunqueuePct} %, RSS ${r.hwmMb} MB [${((Date.now() - t0) / 1000).toFixed(1)} s]`);
          } catch (err) {
            const message = (err as Error).message ?? String(err);
            runs.push({ repeat, workMs, threads, ok: false, error: message });
            console.log(`FAILED [${((Date.now() - t0) / 1000).toFixed(1)} s]\n${message}`);
          }
          killAllRoles();
          await wipeStreams(nc).catch((err: unknown) => console.log(`(could not wipe streams: ${(err as Error).message})`));
        }
      }
    }
  } finally {
    killAllRoles();
    await nc?.close().catch(() => undefined);
    await server.stop();
  }

  const summary = WORK_MS.flatMap((workMs) =>
    THREADS.map((threads) => {
      const mine = runs.filter((r) => r.workMs === workMs && r.threads === threads);
      const ok = mine.filter((r) => r.ok);
      const ratio = stat(ok.map((r) => r.ratioIdeal));
      const oversubscribed = threads > CORES;
      return {
        workMs,
        threads,
        oversubscribed,
        concurrency: SLOTS_PER_THREAD * threads,
        runs: ok.length,
        failures: mine.length - ok.length,
        tasksPerSec: stat(ok.map((r) => r.tasksPerSec)),
        ideal: stat(ok.map((r) => r.ideal)),
        ratioIdeal: ratio,
        rawThreads: stat(ok.map((r) => r.rawThreads)),
        ratioRaw: stat(ok.map((r) => r.ratioRaw)),
        cpuUsPerTask: stat(ok.map((r) => r.cpuUsPerTask)),
        workerHwmMb: stat(ok.map((r) => r.hwmMb)),
        poolIdlePct: stat(ok.map((r) => r.poolIdlePct)),
        poolRunqueuePct: stat(ok.map((r) => r.poolRunqueuePct)),
        mainUsPerTask: stat(ok.map((r) => r.mainUsPerTask)),
        poolMsPerTask: stat(ok.map((r) => r.poolMsPerTask)),
        rawMsPerTask: stat(ok.map((r) => r.rawMsPerTask)),
        verdict: oversubscribed ? null : ratio.median === null ? null : ratio.median >= TARGET,
      };
    }),
  );

  const rows = [['work', 'threads', 'tasks/s median (min–max)', 't × ideal', '% of t × ideal', 'raw t threads', '% of raw', 'CPU-µs/task', 'main µs/task', 'pool ms/task (raw)', 'pool idle / run-queue', 'worker RSS MB', 'verdict (≥ 90 %)']];
  for (const s of summary) {
    rows.push([
      `${s.workMs} ms`,
      `${s.threads}${s.oversubscribed ? ' (over)' : ''}`,
      range(s.tasksPerSec, int),
      int(s.ideal.median),
      range(s.ratioIdeal, pct),
      int(s.rawThreads.median),
      pct(s.ratioRaw.median),
      int(s.cpuUsPerTask.median),
      int(s.mainUsPerTask.median),
      `${s.poolMsPerTask.median?.toFixed(2) ?? '—'} (${s.rawMsPerTask.median?.toFixed(2) ?? '—'})`,
      `${s.poolIdlePct.median ?? '—'} % / ${s.poolRunqueuePct.median ?? '—'} %`,
      s.workerHwmMb.median === null ? '—' : s.workerHwmMb.median.toFixed(1),
      s.oversubscribed ? 'n/a (oversubscribed)' : s.verdict === null ? 'n/a' : s.verdict ? 'met' : 'NOT met',
    ]);
  }
  console.log(`\n${table(rows)}`);
  const failed = runs.filter((r) => !r.ok);
  if (failed.length) console.log(`\n${failed.length} run(s) failed`);

  const out = {
    scenario: 'cpu',
    startedAt,
    finishedAt: new Date().toISOString(),
    config: { REPEAT, THREADS, WORK_MS, SECONDS, WARMUP_SECONDS, SLOTS_PER_THREAD, BASELINE_MS, CORES, events: process.env.BENCH_EVENTS !== '0', target: TARGET },
    machine: { ...machine, loadavgEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    calibration,
    summary,
    runs,
  };
  await mkdir(dirname(OUT), { recursive: true });
  await writeFile(OUT, `${JSON.stringify(out, null, 2)}\n`);
  await mkdir(CHART_DIR, { recursive: true });
  const series = WORK_MS.flatMap((workMs) => {
    const mine = summary.filter((s) => s.workMs === workMs && s.tasksPerSec.median !== null);
    return [
      { name: `${workMs} ms measured`, points: mine.map((s) => [s.threads, s.tasksPerSec.median as number] as const) },
      { name: `${workMs} ms t × ideal`, points: mine.map((s) => [s.threads, s.ideal.median as number] as const) },
    ];
  });
  const over = THREADS.some((t) => t > CORES) ? ` (> ${CORES} threads: oversubscribed)` : '';
  await writeFile(resolve(CHART_DIR, 'cpu.svg'), lineChart({ title: `W3 CPU tasks: throughput by CPU threads, ${CORES} cores${over}`, xLabel: 'CPU threads', yLabel: 'tasks/s', series }));
  const ratioSeries = [
    ...WORK_MS.map((workMs) => ({
      name: `${workMs} ms`,
      points: summary.filter((s) => s.workMs === workMs && s.ratioIdeal.median !== null).map((s) => [s.threads, round((s.ratioIdeal.median as number) * 100, 1)] as const),
    })),
    { name: 'target 90 %', points: THREADS.map((t) => [t, TARGET * 100] as const) },
  ];
  await writeFile(resolve(CHART_DIR, 'cpu-ratio.svg'), lineChart({ title: `W3 CPU tasks: % of threads × ideal${over}`, xLabel: 'CPU threads', yLabel: '% of t × ideal', series: ratioSeries }));
  console.log(`\nwrote ${relative(ROOT, OUT)}, ${relative(ROOT, resolve(CHART_DIR, 'cpu.svg'))}, ${relative(ROOT, resolve(CHART_DIR, 'cpu-ratio.svg'))}`);
  return failed.length > 0 ? 1 : 0;
}

runScenario(main);
