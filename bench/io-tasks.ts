/**
 * `npm run bench -- io` (W4): I/O tasks with 1k, 10k and 50k concurrent async slots. Each task
 * waits 1 s on a timer (`io.sleep`, `ignoreResult: true`). Ideal = slots tasks/s. Target: 10k
 * concurrent sleep(1 s) tasks ≥ 9k tasks/s with the worker's RSS ≤ 300 MB.
 *
 * Against a nats-server started here (fresh store), per run: a producer process fills the queue with
 * ROUNDS × slots tasks, then a worker process (`concurrency` = slots, the consumer's
 * `maxAckPending` raised to 2 × slots) drains it. Steady-state tasks/s excludes the ramps (see
 * bench/roles/io-worker.ts); the worker's peak RSS (VmHWM), event-loop delay p50/p99/max and CPU-µs
 * per task (worker + nats-server over the steady window, plus producer + nats-server per publish)
 * are reported. Baseline of the same repeat: the same pipeline with no wait (`io.sleep(i, 0)`,
 * BENCH_IO_CEILING_SLOTS slots): how many tasks/s this machine can move at all right now.
 * Exact-delivery check on every run (a run with a missing or duplicate id fails).
 *
 * Environment: BENCH_REPEAT (5), BENCH_IO_SLOTS (1000,10000,50000), BENCH_IO_ROUNDS (5),
 * BENCH_IO_SLEEP_MS (1000), BENCH_IO_CEILING_N (50000; 0 skips the baseline),
 * BENCH_IO_CEILING_SLOTS (1000), BENCH_EVENTS (1; 0 turns worker events off), BENCH_IO_OUT
 * (bench/results/io-latest.json), BENCH_IO_CHART_DIR (docs/bench); node flags for the worker only go
 * in BENCH_WORKER_FLAGS (as for every bench; BENCH_IO_WORKER_NODE_OPTIONS is its older alias). Diagnostics: BENCH_IO_GC_PROBE=1 with
 * NODE_OPTIONS=--expose-gc (live heap once the slots are full), BENCH_IO_HEAP_SNAPSHOT=<file>.
 * See docs/bench/io.md.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { int, pct, range, stat } from './lib/stat.ts';
import { runScenario, startBenchServer, wipeStreams } from './lib/scenario.ts';
import { ROOT, killAllRoles, runRoleProcess, startRole } from './lib/child.ts';
import { machineInfo } from './lib/machine.ts';
import { num, round } from './lib/measure.ts';
import { table } from './lib/report.ts';
import { lineChart } from './lib/svg.ts';
import { maxAckPendingFor } from './roles/io-app.ts';

const REPEAT = num(process.env.BENCH_REPEAT, 5);
const SLOTS = (process.env.BENCH_IO_SLOTS ?? '1000,10000,50000').split(',').map((x) => num(x.trim(), Number.NaN));
const ROUNDS = num(process.env.BENCH_IO_ROUNDS, 5);
const SLEEP_MS = num(process.env.BENCH_IO_SLEEP_MS, 1000);
const CEILING_N = num(process.env.BENCH_IO_CEILING_N, 50_000);
const CEILING_SLOTS = num(process.env.BENCH_IO_CEILING_SLOTS, 1000);
const OUT = resolve(ROOT, process.env.BENCH_IO_OUT ?? 'bench/results/io-latest.json');
const CHART_DIR = resolve(ROOT, process.env.BENCH_IO_CHART_DIR ?? 'docs/bench');
const ROLE_TIMEOUT_MS = num(process.env.BENCH_ROLE_TIMEOUT_MS, 180_000);
/**
 * Node flags for the worker process only (experiments, e.g. `--max-old-space-size=192`):
 * BENCH_WORKER_FLAGS, which startRole() applies to every worker role, or its older alias
 * BENCH_IO_WORKER_NODE_OPTIONS (passed the same way, so the two never apply twice).
 */
const WORKER_NODE_OPTIONS = [process.env.BENCH_WORKER_FLAGS, process.env.BENCH_IO_WORKER_NODE_OPTIONS].filter(Boolean).join(' ');
/** The issue's target, at 10k slots of sleep(1 s). */
const TARGET = { slots: 10_000, tasksPerSec: 9_000, rssMb: 300 };

if (SLOTS.length === 0 || SLOTS.some((s) => !(Number.isInteger(s) && s > 0 && s <= 100_000))) throw new Error('BENCH_IO_SLOTS must be integers 1-100000');
if (!(ROUNDS >= 2) || !(SLEEP_MS > 0)) throw new Error('BENCH_IO_ROUNDS must be ≥ 2 and BENCH_IO_SLEEP_MS > 0');

interface Run {
  repeat: number;
  /** Slots; `ceiling` runs are the no-wait baseline. */
  slots: number;
  ceiling: boolean;
  ok: boolean;
  error?: string;
  n?: number;
  tasksPerSec?: number;
  ideal?: number;
  ratioIdeal?: number;
  /** tasks/s of this repeat's no-wait baseline. */
  ceilingTasksPerSec?: number | null;
  ratioCeiling?: number | null;
  hwmMb?: number | null;
  lagP99Ms?: number | null;
  lagMaxMs?: number | null;
  cpuUsPerTask?: number | null;
  inFlightMedian?: number | null;
  worker?: Record<string, unknown>;
  producer?: Record<string, unknown>;
}

async function oneRun(nc: NatsConnection, url: string, natsPid: number, repeat: number, slots: number, n: number, sleepMs: number, ceiling: boolean): Promise<Run> {
  const appName = `bench-io-${randomUUID().slice(0, 8)}`;
  const map = maxAckPendingFor(slots);
  const producer = await runRoleProcess('io-producer.ts', [url, appName, n, sleepMs, map, natsPid], ROLE_TIMEOUT_MS);
  const stored = (await (await jetstreamManager(nc)).streams.info(`${appName}-tasks`)).state.messages;
  if (stored !== n) throw new Error(`the task stream holds ${stored} tasks, expected ${n}`);
  const env: Record<string, string> = process.env.BENCH_IO_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${process.env.BENCH_IO_WORKER_NODE_OPTIONS}`.trim() } : {};
  const worker = await startRole('io-worker.ts', [url, appName, slots, n, sleepMs, map, natsPid], ROLE_TIMEOUT_MS, env).result;
  if (worker.missing !== 0 || worker.duplicates !== 0 || worker.out_of_range !== 0) {
    throw new Error(`delivery check failed: ${JSON.stringify({ missing: worker.missing, duplicates: worker.duplicates, out_of_range: worker.out_of_range })}`);
  }
  const tasksPerSec = worker.tasks_s as number;
  const ideal = sleepMs > 0 ? (slots * 1000) / sleepMs : Number.NaN;
  const pc = producer.cpu_ms as { producer: number | null; nats: number | null };
  const drainUs = worker.cpu_us_per_task_drain;
  const lag = worker.event_loop_delay_ms as { p99: number; max: number };
  return {
    repeat,
    slots,
    ceiling,
    ok: true,
    n,
    tasksPerSec,
    ideal: ceiling ? undefined : ideal,
    ratioIdeal: ceiling ? undefined : round(tasksPerSec / ideal, 4),
    hwmMb: typeof worker.hwm_mb === 'number' ? worker.hwm_mb : null,
    lagP99Ms: lag?.p99 ?? null,
    lagMaxMs: lag?.max ?? null,
    cpuUsPerTask: typeof drainUs === 'number' && pc.producer !== null && pc.nats !== null ? round(drainUs + ((pc.producer + pc.nats) * 1000) / n, 1) : null,
    inFlightMedian: typeof worker.in_flight_window_median === 'number' ? worker.in_flight_window_median : null,
    worker,
    producer,
  };
}

const fix = (v: number | null | undefined, d = 1) => (typeof v === 'number' ? v.toFixed(d) : '—');

async function main(): Promise<number> {
  const machine = await machineInfo(num(process.env.BENCH_REDIS_PORT, 6379));
  const startedAt = new Date().toISOString();
  console.log(`celeriac W4 I/O bench: sleep(${SLEEP_MS} ms) tasks, slots ${SLOTS.join(', ')}, ${ROUNDS} × slots tasks per run, repeat ${REPEAT}, baseline ${CEILING_N ? `${CEILING_N} no-wait tasks at ${CEILING_SLOTS} slots` : 'off'}`);
  console.log(`machine: ${machine.cores} x ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}, ${machine.natsServer}, load ${machine.loadavgStart.join(' ')}`);
  const server = await startBenchServer();
  const natsPid = server.pid ?? 0;
  let nc: NatsConnection | undefined;
  const runs: Run[] = [];
  try {
    nc = await connect({ servers: server.url });
    for (let repeat = 1; repeat <= REPEAT; repeat++) {
      const plan: Array<{ slots: number; n: number; sleepMs: number; ceiling: boolean }> = [
        ...(CEILING_N > 0 ? [{ slots: CEILING_SLOTS, n: CEILING_N, sleepMs: 0, ceiling: true }] : []),
        ...SLOTS.map((slots) => ({ slots, n: ROUNDS * slots, sleepMs: SLEEP_MS, ceiling: false })),
      ];
      let ceilingRate: number | null = null;
      for (const p of plan) {
        const t0 = Date.now();
        process.stdout.write(`[${repeat}/${REPEAT}] ${p.ceiling ? `baseline: no-wait tasks, ${int(p.slots)} slots, ${int(p.n)} tasks` : `${int(p.slots)} slots, ${int(p.n)} × sleep(${SLEEP_MS} ms)`} ... `);
        try {
          const r = await oneRun(nc, server.url, natsPid, repeat, p.slots, p.n, p.sleepMs, p.ceiling);
          if (p.ceiling) ceilingRate = r.tasksPerSec ?? null;
          else {
            r.ceilingTasksPerSec = ceilingRate;
            r.ratioCeiling = ceilingRate ? round((r.tasksPerSec as number) / ceilingRate, 4) : null;
          }
          runs.push(r);
          const w = r.worker as Record<string, unknown>;
          console.log(
            `${int(r.tasksPerSec)} tasks/s${p.ceiling ? '' : ` = ${pct(r.ratioIdeal)} of ideal, in flight ${int(r.inFlightMedian)}`}, RSS ${fix(r.hwmMb)} MB, loop delay p99 ${fix(r.lagP99Ms)} / max ${fix(r.lagMaxMs)} ms, ${int(r.cpuUsPerTask)} CPU-µs/task${w.steady_state ? '' : ' (no steady window: whole drain)'} [${((Date.now() - t0) / 1000).toFixed(1)} s]`,
          );
        } catch (err) {
          const message = (err as Error).message ?? String(err);
          runs.push({ repeat, slots: p.slots, ceiling: p.ceiling, ok: false, error: message });
          console.log(`FAILED [${((Date.now() - t0) / 1000).toFixed(1)} s]\n${message}`);
        }
        killAllRoles();
        await wipeStreams(nc).catch((err: unknown) => console.log(`(could not wipe streams: ${(err as Error).message})`));
      }
    }
  } finally {
    killAllRoles();
    await nc?.close().catch(() => undefined);
    await server.stop();
  }

  const ceilingRuns = runs.filter((r) => r.ceiling && r.ok);
  const ceilingStat = stat(ceilingRuns.map((r) => r.tasksPerSec));
  const summary = SLOTS.map((slots) => {
    const mine = runs.filter((r) => !r.ceiling && r.slots === slots);
    const ok = mine.filter((r) => r.ok);
    const s = {
      slots,
      n: ROUNDS * slots,
      runs: ok.length,
      failures: mine.length - ok.length,
      ideal: (slots * 1000) / SLEEP_MS,
      tasksPerSec: stat(ok.map((r) => r.tasksPerSec)),
      ratioIdeal: stat(ok.map((r) => r.ratioIdeal)),
      ratioCeiling: stat(ok.map((r) => r.ratioCeiling)),
      inFlightMedian: stat(ok.map((r) => r.inFlightMedian)),
      workerHwmMb: stat(ok.map((r) => r.hwmMb)),
      lagP99Ms: stat(ok.map((r) => r.lagP99Ms)),
      lagMaxMs: stat(ok.map((r) => r.lagMaxMs)),
      cpuUsPerTask: stat(ok.map((r) => r.cpuUsPerTask)),
    };
    return s;
  });
  const rows = [['slots', 'tasks/s median (min–max)', 'ideal', '% of ideal', '% of no-wait baseline', 'in flight', 'worker RSS MB (max)', 'loop delay p99 / max ms', 'CPU-µs/task']];
  if (ceilingRuns.length) rows.push([`baseline: no wait, ${int(CEILING_SLOTS)} slots`, range(ceilingStat, int), '', '', '', '', fix(stat(ceilingRuns.map((r) => r.hwmMb)).median), `${fix(stat(ceilingRuns.map((r) => r.lagP99Ms)).median)} / ${fix(stat(ceilingRuns.map((r) => r.lagMaxMs)).median)}`, int(stat(ceilingRuns.map((r) => r.cpuUsPerTask)).median)]);
  for (const s of summary) {
    rows.push([
      int(s.slots),
      range(s.tasksPerSec, int),
      int(s.ideal),
      range(s.ratioIdeal, pct),
      pct(s.ratioCeiling.median),
      int(s.inFlightMedian.median),
      `${fix(s.workerHwmMb.median)} (${fix(s.workerHwmMb.max)})`,
      `${fix(s.lagP99Ms.median)} / ${fix(s.lagMaxMs.median)}`,
      int(s.cpuUsPerTask.median),
    ]);
  }
  const t = summary.find((s) => s.slots === TARGET.slots);
  const verdicts = t
    ? [
        { label: `${int(TARGET.slots)} slots of sleep(1 s): tasks/s (median)`, value: int(t.tasksPerSec.median), goal: `≥ ${int(TARGET.tasksPerSec)}`, met: t.tasksPerSec.median === null || SLEEP_MS !== 1000 ? null : t.tasksPerSec.median >= TARGET.tasksPerSec },
        { label: `${int(TARGET.slots)} slots: worker RSS, VmHWM (median / max)`, value: `${fix(t.workerHwmMb.median)} / ${fix(t.workerHwmMb.max)} MB`, goal: `≤ ${TARGET.rssMb} MB`, met: t.workerHwmMb.median === null ? null : t.workerHwmMb.median <= TARGET.rssMb },
      ]
    : [];
  console.log(`\n${table(rows)}`);
  if (verdicts.length) console.log(`\n${table([['target', 'value', 'goal', 'verdict'], ...verdicts.map((v) => [v.label, v.value, v.goal, v.met === null ? 'n/a' : v.met ? 'met' : 'NOT met'])])}`);
  const failed = runs.filter((r) => !r.ok);
  if (failed.length) console.log(`\n${failed.length} run(s) failed`);

  const out = {
    scenario: 'io',
    startedAt,
    finishedAt: new Date().toISOString(),
    config: { REPEAT, SLOTS, ROUNDS, SLEEP_MS, CEILING_N, CEILING_SLOTS, WORKER_NODE_OPTIONS, maxAckPending: SLOTS.map(maxAckPendingFor), events: process.env.BENCH_EVENTS !== '0', ignoreResult: true, target: TARGET },
    machine: { ...machine, loadavgEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    baseline: { noWait: ceilingStat, slots: CEILING_SLOTS, n: CEILING_N },
    summary,
    verdicts,
    runs,
  };
  await mkdir(dirname(OUT), { recursive: true });
  await writeFile(OUT, `${JSON.stringify(out)}\n`);
  await mkdir(CHART_DIR, { recursive: true });
  const ok = summary.filter((s) => s.tasksPerSec.median !== null);
  const series = [
    { name: 'measured', points: ok.map((s) => [s.slots, s.tasksPerSec.median as number] as const) },
    { name: 'ideal (slots / 1 s)', points: SLOTS.map((s) => [s, (s * 1000) / SLEEP_MS] as const) },
    ...(ceilingStat.median !== null ? [{ name: 'no-wait baseline', points: SLOTS.map((s) => [s, ceilingStat.median as number] as const) }] : []),
  ];
  await writeFile(resolve(CHART_DIR, 'io.svg'), lineChart({ title: `W4 I/O tasks: sleep(${SLEEP_MS} ms), throughput by slots`, xLabel: 'concurrent slots (log)', yLabel: 'tasks/s', series, logX: true }));
  const mem = [
    { name: 'worker VmHWM', points: ok.map((s) => [s.slots, s.workerHwmMb.median as number] as const) },
    { name: 'target 300 MB', points: SLOTS.map((s) => [s, TARGET.rssMb] as const) },
  ];
  await writeFile(resolve(CHART_DIR, 'io-memory.svg'), lineChart({ title: 'W4 I/O tasks: worker peak RSS by slots', xLabel: 'concurrent slots (log)', yLabel: 'MB', series: mem, logX: true }));
  console.log(`\nwrote ${relative(ROOT, OUT)}, ${relative(ROOT, resolve(CHART_DIR, 'io.svg'))}, ${relative(ROOT, resolve(CHART_DIR, 'io-memory.svg'))}`);
  return failed.length > 0 ? 1 : 0;
}

runScenario(main);
