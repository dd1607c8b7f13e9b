/**
 * `npm run bench -- latency`: W2 open-loop latency. Against a nats-server started here (random
 * port, fresh store), with producer, worker and broker in separate processes:
 *
 * 1. 100 %: the maximum sustainable rate, measured in this run: closed-loop noop end to end
 *    (producer with BENCH_LAT_WINDOW publishes in flight, worker c=BENCH_LAT_CONCURRENCY), the
 *    median of BENCH_LAT_MAX_RUNS short runs (or BENCH_LAT_MAX_RATE, fixed by hand).
 * 2. For each of BENCH_REPEAT passes and each load level (25/50/75/90 % of it): a fresh worker and
 *    an open-loop producer (bench/roles/latency-*.ts) sending on a fixed schedule for
 *    BENCH_LAT_WARMUP_MS (not measured) + BENCH_LAT_DURATION_MS. The worker records enqueue→start
 *    latency from each task's intended send time in an HDR histogram and checks exact delivery.
 *    CPU time of nats-server, worker and producer is read from /proc over the measured window.
 * 3. The baseline, in the same passes at BENCH_LAT_RAW_LEVELS (default: the target's 50 %): the
 *    same schedule and measurement with a plain @nats-io publisher and pull consumer (no Celeriac).
 *
 * Reports per level: median (min–max over passes) of p50/p99/p99.9, achieved rate, CPU-µs per task
 * across all processes, worker peak RSS; where the p99 is spent, split at the time the broker stored
 * each message (from its ack subject, whole milliseconds: intended→stored is the producer and the
 * broker's write, stored→start the delivery and the worker), and how busy the worker's event loop
 * was; Celeriac p99 / raw p99; the verdict for the target (p99 ≤
 * 10 ms at 50 %); JSON in bench/results/latency-latest.json and the chart docs/bench/latency.svg.
 * Exit code 1 when a run lost or duplicated a task or failed. The box is shared: before each run it
 * waits (bounded) for a quiet box, records how much CPU other processes took during the window, and
 * summarizes a level over its quiet runs when it has any.
 *
 * Environment: BENCH_REPEAT (5), BENCH_LAT_LEVELS (25,50,75,90), BENCH_LAT_RAW_LEVELS (50; empty =
 * none), BENCH_LAT_DURATION_MS (7000), BENCH_LAT_WARMUP_MS (2000), BENCH_LAT_MAX_RATE (unset:
 * measured), BENCH_LAT_MAX_N (30000), BENCH_LAT_MAX_RUNS (3), BENCH_LAT_CONCURRENCY (64),
 * BENCH_LAT_WINDOW (64), BENCH_LAT_RT_EVERY (20: every 20th task stores a result and the producer
 * awaits it; 0 = off), BENCH_LAT_NOISY_PCT (15), BENCH_LAT_QUIET_WAIT_MS (20000), BENCH_LAT_OUT,
 * BENCH_LAT_SVG, BENCH_EVENTS (0 = worker events off).
 * See docs/bench/latency.md.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { type NatsServerHandle } from '../src/testing.ts';
import { numberOf, runScenario, startBenchServer, wipeStreams } from './lib/scenario.ts';
import { ROOT, type RoleProcess, killAllRoles, startRole } from './lib/child.ts';
import { cpuBetween, cpuSnapshot } from './lib/cpu.ts';
import { machineInfo } from './lib/machine.ts';
import { epochMs, median, num, round, sleep } from './lib/measure.ts';
import { table } from './lib/report.ts';
import { lineChart } from './lib/svg.ts';

const levels = (v: string) => (v.trim() === '' ? [] : v.split(',').map((s) => num(s.trim(), Number.NaN)));
const REPEAT = num(process.env.BENCH_REPEAT, 5);
const LEVELS = levels(process.env.BENCH_LAT_LEVELS ?? '25,50,75,90');
const RAW_LEVELS = levels(process.env.BENCH_LAT_RAW_LEVELS ?? '50');
const DURATION_MS = num(process.env.BENCH_LAT_DURATION_MS, 7_000);
const WARMUP_MS = num(process.env.BENCH_LAT_WARMUP_MS, 2_000);
const FIXED_MAX = process.env.BENCH_LAT_MAX_RATE ? num(process.env.BENCH_LAT_MAX_RATE, 0) : null;
const MAX_N = num(process.env.BENCH_LAT_MAX_N, 30_000);
const MAX_RUNS = num(process.env.BENCH_LAT_MAX_RUNS, 3);
const CONCURRENCY = num(process.env.BENCH_LAT_CONCURRENCY, 64);
const WINDOW = num(process.env.BENCH_LAT_WINDOW, 64);
const RT_EVERY = num(process.env.BENCH_LAT_RT_EVERY, 20);
const LINGER_MS = 500;
/** A run during which other processes used more than this % of the box's CPU is `noisy`. */
const NOISY_PCT = num(process.env.BENCH_LAT_NOISY_PCT, 15);
/** Before each run, wait at most this long for the box to be quiet (other benchmarks sharing it). */
const QUIET_WAIT_MS = num(process.env.BENCH_LAT_QUIET_WAIT_MS, 20_000);
const OUT = resolve(ROOT, process.env.BENCH_LAT_OUT ?? 'bench/results/latency-latest.json');
const SVG = resolve(ROOT, process.env.BENCH_LAT_SVG ?? 'docs/bench/latency.svg');
/** Target: open-loop enqueue→start p99 ≤ 10 ms at 50 % of the maximum rate. */
const TARGET = { level: 50, p99Ms: 10 };

if ([...LEVELS, ...RAW_LEVELS].some((l) => !(l > 0 && l <= 100))) throw new Error('BENCH_LAT_LEVELS / BENCH_LAT_RAW_LEVELS must be percentages in (0, 100]');
if (!(DURATION_MS >= 1_000 && WARMUP_MS >= 0)) throw new Error('BENCH_LAT_DURATION_MS must be ≥ 1000 and BENCH_LAT_WARMUP_MS ≥ 0');

type Kind = 'celeriac' | 'raw';
type Summary = Record<string, number> | null;

interface LevelRun {
  kind: Kind;
  level: number;
  repeat: number;
  ok: boolean;
  error?: string;
  offered_s: number;
  n: number;
  achieved_s?: number;
  start_ms?: Summary;
  start_from_sent_ms?: Summary;
  settled_ms?: Summary;
  round_trip_ms?: Summary;
  send_lag_ms?: Summary;
  cpu_us_per_task?: number | null;
  cpu_ms?: Record<string, number>;
  /** CPU used by other processes on the box during the measured window, % of all cores. */
  foreign_cpu_pct?: number | null;
  /** foreign_cpu_pct over NOISY_PCT: left out of the summary when the level has quiet runs. */
  noisy?: boolean;
  worker_hwm_mb?: number | null;
  producer?: Record<string, unknown>;
  worker?: Record<string, unknown>;
}

/** Busy and total CPU time of the whole box so far, in clock ticks (first line of /proc/stat), or null. */
function boxTicks(): { busy: number; total: number } | null {
  try {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
  } catch {
    return null;
  }
}

/**
 * CPU the box spent on processes other than this run's (other benchmarks, builds) during a window,
 * in % of all cores: a run measured on a busy box is not comparable with one on a quiet box.
 */
function foreignCpuPct(b1: ReturnType<typeof boxTicks>, b2: ReturnType<typeof boxTicks>, ownMs: number, windowMs: number, cores: number): number | null {
  if (!b1 || !b2 || b2.total <= b1.total) return null;
  const busyMs = ((b2.busy - b1.busy) / (b2.total - b1.total)) * windowMs * cores;
  return round(Math.max(0, ((busyMs - ownMs) / (windowMs * cores)) * 100), 1);
}

/** Wait (at most QUIET_WAIT_MS) until the whole box was under NOISY_PCT busy for half a second. */
async function waitForQuiet(): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const a = boxTicks();
    await sleep(500);
    const b = boxTicks();
    if (!a || !b || b.total <= a.total) return 0;
    if (((b.busy - a.busy) / (b.total - a.total)) * 100 < NOISY_PCT || Date.now() - t0 >= QUIET_WAIT_MS) return Date.now() - t0;
  }
}

function problemOf(w: Record<string, unknown>, p: Record<string, unknown>): string | null {
  if (w.outcome !== 'done') return `worker ${String(w.outcome)} before every task ran (unique ${String(w.unique)} of ${String(w.n)})`;
  if (w.missing !== 0 || w.duplicates !== 0 || w.out_of_range !== 0) return `delivery check failed: missing ${String(w.missing)}, duplicates ${String(w.duplicates)}, out of range ${String(w.out_of_range)}`;
  const errs = ['publish_errors', 'rt_errors', 'wrong_results'].filter((k) => (p[k] ?? 0) !== 0);
  return errs.length ? `producer: ${errs.map((k) => `${k} ${String(p[k])}`).join(', ')} (${String(p.first_error)})` : null;
}

/** Start a worker and wait until it takes work; stop it if it fails first. */
async function readyWorker(kind: Kind, url: string, name: string, n: number, timeoutMs: number): Promise<RoleProcess> {
  const w = startRole('latency-worker.ts', [kind, url, name, n, CONCURRENCY, LINGER_MS], timeoutMs);
  try {
    await Promise.race([w.ready, w.result]);
  } catch (err) {
    w.stop();
    throw err;
  }
  return w;
}

/** One closed-loop saturating run: tasks/s from the producer's start to the worker's last task start. */
async function maxRun(url: string, run: number): Promise<{ rate: number; detail: Record<string, unknown> }> {
  const app = `bench-lat-max-${run}-${randomUUID().slice(0, 6)}`;
  const w = await readyWorker('celeriac', url, app, MAX_N, 120_000);
  try {
    const pr = await startRole('latency-producer.ts', ['max', url, app, MAX_N, WINDOW, Math.min(2_000, Math.round(MAX_N / 10))], 120_000).result;
    const wr = await w.result;
    const problem = problemOf(wr, pr);
    if (problem) throw new Error(problem);
    const ms = numberOf(wr, 't_last') - numberOf(pr, 't_start');
    return { rate: Math.round((MAX_N / ms) * 1000), detail: { producer: pr, worker: wr, e2e_ms: round(ms) } };
  } finally {
    w.stop();
  }
}

/** One open-loop run at `rate`: worker first, then the producer; CPU over the measured window. */
async function levelRun(server: NatsServerHandle, kind: Kind, level: number, rate: number, repeat: number): Promise<LevelRun> {
  const n = Math.max(1, Math.round((rate * DURATION_MS) / 1000));
  const name = kind === 'raw' ? `BENCH_LAT_RAW_${repeat}_${randomUUID().slice(0, 6)}` : `bench-lat-${repeat}-${randomUUID().slice(0, 6)}`;
  const timeoutMs = WARMUP_MS + DURATION_MS + 60_000;
  // The raw worker creates its stream before it is ready, so the raw producer starts after it. The
  // Celeriac producer starts at the same time as the worker: it is ready only once its priming
  // `lat.rt` task ran in that worker (saves a process start-up per run).
  const w = kind === 'raw' ? await readyWorker(kind, server.url, name, n, timeoutMs) : startRole('latency-worker.ts', [kind, server.url, name, n, CONCURRENCY, LINGER_MS], timeoutMs);
  let p: RoleProcess | undefined;
  try {
    const args = kind === 'raw' ? ['raw-open', server.url, name, rate, n, WARMUP_MS] : ['open', server.url, name, rate, n, WARMUP_MS, RT_EVERY];
    p = startRole('latency-producer.ts', args, timeoutMs);
    await Promise.race([Promise.all([w.ready, p.ready]), w.result, p.result]);
    // The producer starts its schedule right after `ready`: the measured window begins WARMUP_MS
    // later. CPU is read inside it (100 ms in, 200 ms before its end, while the producer still runs).
    const pids = { 'nats-server': server.pid, worker: w.proc.pid, producer: p.proc.pid };
    await sleep(WARMUP_MS + 100);
    const t1 = epochMs();
    const s1 = cpuSnapshot(pids);
    const b1 = boxTicks();
    await sleep(DURATION_MS - 300);
    const s2 = cpuSnapshot(pids);
    const b2 = boxTicks();
    const t2 = epochMs();
    const pr = await p.result;
    const wr = await w.result;
    const cpu = cpuBetween(s1, s2, (rate * (t2 - t1)) / 1000);
    const problem = problemOf(wr, pr);
    const foreign = foreignCpuPct(b1, b2, cpu.totalMs, t2 - t1, cpus().length);
    return {
      kind,
      level,
      repeat,
      ok: problem === null,
      ...(problem ? { error: problem } : {}),
      offered_s: rate,
      n,
      // Measured tasks started per second from the first one's intended send time to the last start:
      // the offered rate when the worker keeps up, less when a backlog is left at the end.
      achieved_s: Math.round((n / (numberOf(wr, 't_last') - numberOf(pr, 't0_measured'))) * 1000),
      start_ms: wr.start_from_intended_ms as Summary,
      start_from_sent_ms: wr.start_from_sent_ms as Summary,
      settled_ms: wr.settled_from_intended_ms as Summary,
      round_trip_ms: (pr.round_trip_ms ?? null) as Summary,
      send_lag_ms: pr.send_lag_ms as Summary,
      // A process that could not be read (gone) would understate the sum: no number then.
      cpu_us_per_task: cpu.unread.length === 0 ? cpu.usPerItem : null,
      cpu_ms: cpu.byProcessMs,
      foreign_cpu_pct: foreign,
      noisy: foreign !== null && foreign > NOISY_PCT,
      worker_hwm_mb: (wr.hwm_mb as number | null) ?? null,
      producer: pr,
      worker: wr,
    };
  } finally {
    p?.stop();
    w.stop();
  }
}

interface Stat {
  median: number;
  min: number;
  max: number;
}
function stat(xs: Array<number | null | undefined>): Stat | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return v.length ? { median: round(median(v), 3), min: round(Math.min(...v), 3), max: round(Math.max(...v), 3) } : null;
}

/**
 * Median (min–max over passes) of each measure of one kind and level, over its quiet runs when it
 * has any (a run sharing the 2 cores with another benchmark measures that benchmark), else over all.
 */
function summarizeLevel(kind: Kind, level: number, offered: number, runs: readonly LevelRun[]) {
  const passed = runs.filter((r) => r.ok);
  const quiet = passed.filter((r) => !r.noisy);
  const ok = quiet.length > 0 ? quiet : passed;
  const pick = (f: (r: LevelRun) => unknown) => stat(ok.map((r) => f(r) as number | undefined));
  return {
    kind,
    level,
    offered_s: offered,
    runs_summarized: ok.length,
    runs_noisy: passed.length - quiet.length,
    runs_ok: passed.length,
    runs_failed: runs.length - passed.length,
    achieved_s: pick((r) => r.achieved_s),
    p50_ms: pick((r) => r.start_ms?.p50),
    p90_ms: pick((r) => r.start_ms?.p90),
    p99_ms: pick((r) => r.start_ms?.p99),
    p999_ms: pick((r) => r.start_ms?.p999),
    max_ms: pick((r) => r.start_ms?.max),
    from_sent_p99_ms: pick((r) => r.start_from_sent_ms?.p99),
    settled_p99_ms: pick((r) => r.settled_ms?.p99),
    send_lag_p99_ms: pick((r) => r.send_lag_ms?.p99),
    round_trip_p50_ms: pick((r) => r.round_trip_ms?.p50),
    round_trip_p99_ms: pick((r) => r.round_trip_ms?.p99),
    cpu_us_per_task: pick((r) => r.cpu_us_per_task),
    worker_hwm_mb: pick((r) => r.worker_hwm_mb),
    foreign_cpu_pct: pick((r) => r.foreign_cpu_pct),
    worker_gc_max_ms: pick((r) => (r.worker?.gc as { max_ms?: number } | undefined)?.max_ms),
    worker_eld_p99_ms: pick((r) => (r.worker?.event_loop_delay_ms as { p99?: number } | undefined)?.p99),
    stored_p99_ms: pick((r) => (r.worker?.stored_from_intended_ms as Summary | null | undefined)?.p99),
    from_stored_p99_ms: pick((r) => (r.worker?.start_from_stored_ms as Summary | null | undefined)?.p99),
    worker_elu: pick((r) => r.worker?.event_loop_utilization as number | undefined),
  };
}
type LevelSummary = ReturnType<typeof summarizeLevel>;

const int = (v: number) => Math.round(v).toLocaleString('en-US');
const fmtMs = (s: Stat | null, d = 2) => (s ? `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})` : '—');
const fmtInt = (s: Stat | null) => (s ? `${int(s.median)} (${int(s.min)}–${int(s.max)})` : '—');
const label = (s: LevelSummary) => `${s.kind === 'raw' ? 'raw JetStream ' : ''}${s.level} %`;

function report(summary: readonly LevelSummary[], maxRate: number) {
  const rows = [['load', 'offered/s', 'achieved/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'CPU-µs/task', 'worker RSS MB', 'runs']];
  const drows = [['load', 'start−sent p99', 'settled p99', 'round trip p50 / p99', 'send lag p99', 'intended→stored p99', 'stored→start p99', 'worker GC max', 'worker loop delay p99', 'worker loop busy', 'other CPU %']];
  for (const s of summary) {
    const rss = s.worker_hwm_mb ? `${s.worker_hwm_mb.median.toFixed(0)} (${s.worker_hwm_mb.min.toFixed(0)}–${s.worker_hwm_mb.max.toFixed(0)})` : '—';
    rows.push([label(s), int(s.offered_s), fmtInt(s.achieved_s), fmtMs(s.p50_ms), fmtMs(s.p99_ms), fmtMs(s.p999_ms), fmtMs(s.max_ms, 1), fmtInt(s.cpu_us_per_task), rss, `${s.runs_summarized}/${s.runs_ok + s.runs_failed}${s.runs_noisy ? ` (${s.runs_noisy} noisy${s.runs_summarized === s.runs_ok ? ', kept' : ''})` : ''}`]);
    const rt = s.round_trip_p50_ms ? `${s.round_trip_p50_ms.median.toFixed(2)} / ${s.round_trip_p99_ms?.median.toFixed(2) ?? '—'}` : '—';
    drows.push([label(s), fmtMs(s.from_sent_p99_ms), fmtMs(s.settled_p99_ms), rt, fmtMs(s.send_lag_p99_ms), fmtMs(s.stored_p99_ms, 0), fmtMs(s.from_stored_p99_ms, 0), fmtMs(s.worker_gc_max_ms, 1), fmtMs(s.worker_eld_p99_ms), fmtMs(s.worker_elu), fmtMs(s.foreign_cpu_pct, 0)]);
  }
  const cel = summary.find((s) => s.kind === 'celeriac' && s.level === TARGET.level);
  const raw = summary.find((s) => s.kind === 'raw' && s.level === TARGET.level);
  const p99 = cel?.p99_ms?.median ?? null;
  const rawP99 = raw?.p99_ms?.median ?? null;
  const verdict = {
    target: `open-loop enqueue→start p99 ≤ ${TARGET.p99Ms} ms at ${TARGET.level} % load`,
    p99_ms: p99,
    ratio_to_bound: p99 === null ? null : round(p99 / TARGET.p99Ms, 3),
    raw_p99_ms: rawP99,
    ratio_to_raw: p99 === null || rawP99 === null || rawP99 === 0 ? null : round(p99 / rawP99, 2),
    met: p99 === null ? null : p99 <= TARGET.p99Ms,
    runs: cel?.runs_summarized ?? 0,
    from_noisy_runs: cel ? cel.runs_noisy > 0 && cel.runs_summarized === cel.runs_ok : false,
  };
  const lines = [
    `100 % = ${int(maxRate)} tasks/s. Latency = task start − intended send time, ms; median (min–max) over the quiet passes`,
    `(runs: summarized/total; a run is noisy when other processes used > ${NOISY_PCT} % of the box's CPU).`,
    '',
    table(rows),
    '',
    table(drows),
    '',
    `target: ${verdict.target}: ${p99 === null ? 'n/a (level not run)' : `${p99.toFixed(2)} ms = ${(verdict.ratio_to_bound as number).toFixed(2)}× the bound → ${verdict.met ? 'met' : 'NOT met'}`}` +
      (verdict.ratio_to_raw === null ? '' : `; raw JetStream p99 at the same rate ${(rawP99 as number).toFixed(2)} ms (Celeriac ${verdict.ratio_to_raw}× raw)`) +
      (p99 === null ? '' : ` [median of ${verdict.runs} run(s)${verdict.from_noisy_runs ? ', all noisy: not a valid verdict' : ''}]`),
  ];
  return { text: lines.join('\n'), verdict };
}

function chart(summary: readonly LevelSummary[], maxRate: number): string {
  const series = (name: string, f: (s: LevelSummary) => Stat | null, kind: Kind = 'celeriac') => ({
    name,
    points: summary.filter((s) => s.kind === kind).flatMap((s) => (f(s) ? [[s.level, (f(s) as Stat).median] as const] : [])),
  });
  const raw = series('raw JetStream p99', (s) => s.p99_ms, 'raw');
  return lineChart({
    title: `Celeriac open-loop enqueue→start latency (100 % = ${int(maxRate)} tasks/s)`,
    xLabel: 'load, % of the maximum rate measured in the same run',
    yLabel: 'ms from intended send time',
    series: [series('p50', (s) => s.p50_ms), series('p99', (s) => s.p99_ms), series('p99.9', (s) => s.p999_ms), ...(raw.points.length ? [raw] : [])],
  });
}

async function main(): Promise<number> {
  const machine = await machineInfo(num(process.env.BENCH_REDIS_PORT, 6379));
  const startedAt = new Date().toISOString();
  console.log(
    `celeriac latency bench (W2, open loop): levels ${LEVELS.join('/')} % (raw baseline ${RAW_LEVELS.join('/') || 'none'}), ${REPEAT} passes, ${WARMUP_MS / 1000} s warm-up + ${DURATION_MS / 1000} s measured, worker c=${CONCURRENCY}, round trips sampled 1/${RT_EVERY || '∞'}`,
  );
  console.log(`machine: ${machine.cores} x ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}, ${machine.natsServer}, load ${machine.loadavgStart.join(' ')}`);

  const server = await startBenchServer();
  let nc: NatsConnection | undefined;

  const maxRuns: Array<{ ok: boolean; rate?: number; error?: string; detail?: Record<string, unknown> }> = [];
  const runs: LevelRun[] = [];
  let maxRate = FIXED_MAX ?? 0;
  const rateAt = (level: number) => Math.max(1, Math.round((maxRate * level) / 100));
  try {
    nc = await connect({ servers: server.url });
    const cleanup = async () => {
      killAllRoles();
      await wipeStreams(nc as NatsConnection).catch((err: unknown) => console.log(`(could not wipe streams: ${(err as Error).message})`));
      await sleep(300);
    };
    for (let i = 1; FIXED_MAX === null && i <= MAX_RUNS; i++) {
      const waited = await waitForQuiet();
      process.stdout.write(`[max ${i}/${MAX_RUNS}] closed-loop noop e2e, ${int(MAX_N)} tasks, window ${WINDOW}, worker c=${CONCURRENCY}${waited >= 1000 ? ` (waited ${(waited / 1000).toFixed(0)} s for a quiet box)` : ''} ... `);
      try {
        const r = await maxRun(server.url, i);
        maxRuns.push({ ok: true, rate: r.rate, detail: r.detail });
        console.log(`${int(r.rate)} tasks/s`);
      } catch (err) {
        maxRuns.push({ ok: false, error: (err as Error).message });
        console.log(`FAILED\n${(err as Error).message}`);
      }
      await cleanup();
    }
    if (FIXED_MAX === null) {
      const rates = maxRuns.flatMap((r) => (r.rate ? [r.rate] : []));
      if (rates.length === 0) throw new Error('no maximum-rate run succeeded');
      maxRate = Math.round(median(rates));
    }
    console.log(`100 % = ${int(maxRate)} tasks/s${FIXED_MAX === null ? ` (median of ${maxRuns.filter((r) => r.ok).length} closed-loop runs)` : ' (BENCH_LAT_MAX_RATE)'}`);

    const plan: Array<[Kind, number]> = [...LEVELS.map((l) => ['celeriac', l] as [Kind, number]), ...RAW_LEVELS.map((l) => ['raw', l] as [Kind, number])];
    for (let repeat = 1; repeat <= REPEAT; repeat++) {
      for (const [kind, level] of plan) {
        const rate = rateAt(level);
        const waited = await waitForQuiet();
        process.stdout.write(`[${repeat}/${REPEAT}] ${kind === 'raw' ? 'raw JetStream ' : ''}${level} % = ${int(rate)} tasks/s${waited >= 1000 ? ` (waited ${(waited / 1000).toFixed(0)} s for a quiet box)` : ''} ... `);
        const t = Date.now();
        try {
          const r = await levelRun(server, kind, level, rate, repeat);
          runs.push(r);
          const s = r.start_ms;
          const lat = s ? `p50 ${s.p50} p99 ${s.p99} p99.9 ${s.p999} max ${s.max} ms, ` : '';
          const noisy = r.noisy ? `, NOISY: other processes used ${r.foreign_cpu_pct} % of the CPU` : '';
          console.log(`${r.ok ? '' : 'FAILED: '}${lat}achieved ${int(r.achieved_s ?? 0)}/s, ${r.cpu_us_per_task} CPU-µs/task${noisy} [${((Date.now() - t) / 1000).toFixed(1)} s]${r.error ? `\n${r.error}` : ''}`);
        } catch (err) {
          runs.push({ kind, level, repeat, ok: false, offered_s: rate, n: Math.round((rate * DURATION_MS) / 1000), error: (err as Error).message });
          console.log(`FAILED [${((Date.now() - t) / 1000).toFixed(1)} s]\n${(err as Error).message}`);
        }
        await cleanup();
      }
    }
  } finally {
    killAllRoles();
    await nc?.close().catch(() => undefined);
    await server.stop();
  }

  const summary = [
    ...LEVELS.map((l) => summarizeLevel('celeriac', l, rateAt(l), runs.filter((r) => r.kind === 'celeriac' && r.level === l))),
    ...RAW_LEVELS.map((l) => summarizeLevel('raw', l, rateAt(l), runs.filter((r) => r.kind === 'raw' && r.level === l))),
  ];
  const { text, verdict } = report(summary, maxRate);
  console.log(`\n${text}`);
  const failed = runs.filter((r) => !r.ok);
  for (const r of failed) console.log(`failed: ${r.kind} ${r.level} % pass ${r.repeat}: ${r.error}`);

  await mkdir(dirname(SVG), { recursive: true });
  await writeFile(SVG, chart(summary, maxRate));
  const out = {
    startedAt,
    finishedAt: new Date().toISOString(),
    config: { REPEAT, LEVELS, RAW_LEVELS, DURATION_MS, WARMUP_MS, FIXED_MAX, MAX_N, MAX_RUNS, CONCURRENCY, WINDOW, RT_EVERY, LINGER_MS, NOISY_PCT, QUIET_WAIT_MS, events: process.env.BENCH_EVENTS !== '0' },
    machine: { ...machine, loadavgEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    max: { rate: maxRate, fixed: FIXED_MAX !== null, runs: maxRuns },
    summary,
    verdict,
    ok: failed.length === 0 && maxRuns.every((r) => r.ok),
    runs,
  };
  await mkdir(dirname(OUT), { recursive: true });
  await writeFile(OUT, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\nwrote ${relative(ROOT, OUT)} and ${relative(ROOT, SVG)}`);
  return out.ok ? 0 : 1;
}

runScenario(main);
