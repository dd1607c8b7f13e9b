/**
 * `npm run bench -- retries` (W6): what retries and delayed tasks cost, each against a baseline
 * measured in the same pass (same N, same worker concurrency), on a nats-server started here
 * (random port, fresh store), with the producer and the worker in their own processes.
 *
 * Retries (burst, like the e2e probe: `window` publishes outstanding, worker c=`concurrency`):
 * - `plain`: `bench.retry(i, 0)`, no retry (baseline A);
 * - `retry1` / `retry2`: the task throws `Retry({ countdownMs: 0 })` on its first one / two
 *   executions and succeeds on the next (a retry without countdown is re-published straight to
 *   the queue, the documented fast path, src/execution/settler.ts);
 * - `autoretry1`: the same as `retry1` through the policy (`autoretryFor` + `countdown: 0`).
 * Completed tasks/s = N / (last final execution − producer start), executions/s, CPU-µs per
 * completed task over producer + worker + nats-server, exact delivery of each final execution.
 *
 * Delayed tasks (paced at `rate`/s for `secs` s, N = rate × secs):
 * - `paced`: `bench.timed(i, publishedAt)` without countdown (baseline B: start − publish);
 * - `delayed`: the same tasks with `countdown` uniform in [from, to) ms, fired by the scheduler of
 *   the worker (on by default): lateness start − eta (HDR histogram), early runs, exact delivery.
 *
 * Every probe has an untimed warm-up through the same path; the CPU snapshots bracket the measured
 * phase only (the roles step through it on SIGUSR2, see roles/retry-app.ts). A run with a lost,
 * duplicated or early task fails (exit code 1).
 *
 * Environment: BENCH_RETRY_N (retry probes, default 20000), BENCH_DELAYED_RATE (2000),
 * BENCH_DELAYED_SECS (10), BENCH_DELAYED_FROM_MS / BENCH_DELAYED_TO_MS (1000 / 3000),
 * BENCH_REPEAT (5), BENCH_WORKER_CONCURRENCY (64), BENCH_E2E_WINDOW (64), BENCH_RETRY_ONLY
 * (comma-separated probe ids), BENCH_RETRY_RESULTS (1: store results), BENCH_RETRY_OUT
 * (bench/results/retries-latest.json), BENCH_RETRY_SVG (docs/bench/retries.svg). See
 * docs/bench/retries.md.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { type NatsServerHandle } from '../src/testing.ts';
import { runScenario, startBenchServer, wipeStreams } from './lib/scenario.ts';
import { ROOT, type RoleProcess, killAllRoles, startRole } from './lib/child.ts';
import { cpuBetween, cpuSnapshot } from './lib/cpu.ts';
import { machineInfo } from './lib/machine.ts';
import { median, num, round, sleep } from './lib/measure.ts';
import type { LatencySummary } from './lib/latency.ts';
import { procMemory } from './lib/proc.ts';
import { lineChart } from './lib/svg.ts';

const N = num(process.env.BENCH_RETRY_N, 20_000);
const RATE = num(process.env.BENCH_DELAYED_RATE, 2_000);
const SECS = num(process.env.BENCH_DELAYED_SECS, 10);
const FROM_MS = num(process.env.BENCH_DELAYED_FROM_MS, 1_000);
const TO_MS = num(process.env.BENCH_DELAYED_TO_MS, 3_000);
const N_DELAYED = Math.round(RATE * SECS);
const REPEAT = num(process.env.BENCH_REPEAT, 5);
const CONCURRENCY = num(process.env.BENCH_WORKER_CONCURRENCY, 64);
const WINDOW = num(process.env.BENCH_E2E_WINDOW, 64);
const STORE_RESULTS = process.env.BENCH_RETRY_RESULTS === '1';
const WARMUP = Math.min(2_000, Math.max(100, Math.round(N / 25)));
const WARMUP_PACED = Math.min(500, Math.max(100, Math.round(N_DELAYED / 40)));
const LINGER_MS = 500;
const SEED = 1;
const ROLE_TIMEOUT_MS = num(process.env.BENCH_ROLE_TIMEOUT_MS, 120_000);
const OUT = resolve(ROOT, process.env.BENCH_RETRY_OUT ?? 'bench/results/retries-latest.json');
const SVG = resolve(ROOT, process.env.BENCH_RETRY_SVG ?? 'docs/bench/retries.svg');

if (!(FROM_MS >= 0 && TO_MS > FROM_MS)) throw new Error(`need 0 <= BENCH_DELAYED_FROM_MS < BENCH_DELAYED_TO_MS, got ${FROM_MS}, ${TO_MS}`);

interface Probe {
  id: string;
  label: string;
  task: 'retry' | 'autoretry' | 'timed';
  /** Failed executions before the success. */
  fails: number;
  paced: boolean;
  countdown: boolean;
  /** The probe whose runs of the same pass give the ratios. */
  baseline: string | null;
}

const PROBES: Probe[] = [
  { id: 'plain', label: 'plain noop (baseline A)', task: 'retry', fails: 0, paced: false, countdown: false, baseline: null },
  { id: 'retry1', label: '1 retry: Retry({ countdownMs: 0 })', task: 'retry', fails: 1, paced: false, countdown: false, baseline: 'plain' },
  { id: 'retry2', label: '2 retries: Retry({ countdownMs: 0 })', task: 'retry', fails: 2, paced: false, countdown: false, baseline: 'plain' },
  { id: 'autoretry1', label: '1 retry: autoretryFor, countdown 0', task: 'autoretry', fails: 1, paced: false, countdown: false, baseline: 'plain' },
  { id: 'paced', label: `no countdown, paced ${RATE}/s (baseline B)`, task: 'timed', fails: 0, paced: true, countdown: false, baseline: null },
  { id: 'delayed', label: `countdown U[${FROM_MS / 1000}, ${TO_MS / 1000}) s, paced ${RATE}/s`, task: 'timed', fails: 0, paced: true, countdown: true, baseline: 'paced' },
];

/** A lateness summary as the worker reports it (bench/lib/latency.ts, without `min`). */
type LatencyMs = Omit<LatencySummary, 'min'>;

interface Run {
  probe: string;
  repeat: number;
  ok: boolean;
  error?: string;
  n?: number;
  /** Completed tasks/s: n / (last final execution − producer start). */
  tasks_s?: number;
  executions_s?: number;
  cpu_us_per_task?: number;
  cpu_us_per_execution?: number;
  cpu_ms_by_process?: Record<string, number>;
  /** Peak RSS (VmHWM) of the roles, MiB; nats-server's current RSS at the end of the window. */
  rss_mb?: { worker: number | null; producer: number | null; nats_server_now: number | null };
  delivery?: { unique: number; missing: number; duplicates: number; attempt_duplicates: number; executions: number; executions_expected: number; early: number | null };
  /** start − eta (delayed) or start − publish (paced), ms. */
  lateness_ms?: LatencyMs | null;
  detail?: Record<string, unknown>;
}

/**
 * The step lines (`{"event":"warm"}`, ...) a role prints besides ready/result/error: `wait(name)`
 * resolves with its fields, or rejects when the role ends first.
 */
function steps(role: RoleProcess): (name: string) => Promise<Record<string, unknown>> {
  const seen = new Map<string, Record<string, unknown>>();
  const waiters = new Map<string, Array<(f: Record<string, unknown>) => void>>();
  let buf = '';
  role.proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        const { event, ...fields } = JSON.parse(line) as Record<string, unknown>;
        if (typeof event !== 'string') continue;
        seen.set(event, fields);
        for (const w of waiters.get(event) ?? []) w(fields);
        waiters.delete(event);
      } catch {
        // not a step line
      }
    }
  });
  const ended = role.result.then(() => {
    throw new Error(`${role.name} ended before the step`);
  });
  ended.catch(() => undefined);
  return (name) => {
    const got = seen.get(name);
    if (got) return Promise.resolve(got);
    const p = new Promise<Record<string, unknown>>((res) => waiters.set(name, [...(waiters.get(name) ?? []), res]));
    return Promise.race([p, ended]);
  };
}

function field(r: Record<string, unknown>, key: string): number {
  const v = r[key];
  if (typeof v !== 'number') throw new Error(`role result has no numeric ${key}: ${JSON.stringify(r).slice(0, 500)}`);
  return v;
}

async function runProbe(server: NatsServerHandle, probe: Probe, repeat: number): Promise<Omit<Run, 'probe' | 'repeat' | 'ok'>> {
  const app = `bench-retry-${probe.id}-${repeat}-${randomUUID().slice(0, 6)}`;
  const n = probe.paced ? N_DELAYED : N;
  const warmup = probe.paced ? WARMUP_PACED : WARMUP;
  const w = startRole('retry-worker.ts', [JSON.stringify({ url: server.url, app, n, warmup, concurrency: CONCURRENCY, lingerMs: LINGER_MS, storeResults: STORE_RESULTS })], ROLE_TIMEOUT_MS);
  const wStep = steps(w);
  let p: RoleProcess | undefined;
  try {
    await Promise.race([w.ready, w.result]);
    p = startRole(
      'retry-producer.ts',
      [
        JSON.stringify({
          url: server.url,
          app,
          task: probe.task,
          n,
          warmup,
          window: WINDOW,
          fails: probe.fails,
          rate: probe.paced ? RATE : 0,
          countdownFromMs: probe.countdown ? FROM_MS : 0,
          countdownToMs: probe.countdown ? TO_MS : 0,
          seed: SEED + repeat,
          storeResults: STORE_RESULTS,
        }),
      ],
      ROLE_TIMEOUT_MS,
    );
    const pStep = steps(p);
    const pids = { 'nats-server': server.pid, worker: w.proc.pid, producer: p.proc.pid };
    await Promise.race([wStep('warm'), pStep('never')]);
    const before = cpuSnapshot(pids);
    p.proc.kill('SIGUSR2');
    await Promise.race([wStep('done'), pStep('never')]);
    const after = cpuSnapshot(pids);
    const rss = {
      worker: procMemory(w.proc.pid ?? 0)?.hwmMb ?? null,
      producer: procMemory(p.proc.pid ?? 0)?.hwmMb ?? null,
      nats_server_now: procMemory(server.pid ?? 0)?.rssMb ?? null,
    };
    p.proc.kill('SIGUSR2');
    w.proc.kill('SIGUSR2');
    const [wr, pr] = await Promise.all([w.result, p.result]);
    const ms = field(wr, 't_last') - field(pr, 't_start');
    const executions = field(wr, 'executions');
    const cpu = cpuBetween(before, after, n);
    const lat = (wr.lateness_ms ?? null) as LatencyMs | null;
    return {
      n,
      tasks_s: Math.round((n / ms) * 1000),
      executions_s: Math.round((executions / ms) * 1000),
      cpu_us_per_task: cpu.usPerItem,
      cpu_us_per_execution: round((cpu.totalMs * 1000) / executions, 1),
      cpu_ms_by_process: cpu.byProcessMs,
      rss_mb: { worker: rss.worker === null ? null : round(rss.worker, 1), producer: rss.producer === null ? null : round(rss.producer, 1), nats_server_now: rss.nats_server_now === null ? null : round(rss.nats_server_now, 1) },
      delivery: {
        unique: field(wr, 'unique'),
        missing: field(wr, 'missing'),
        duplicates: field(wr, 'duplicates'),
        attempt_duplicates: field(wr, 'attempt_duplicates'),
        executions,
        executions_expected: n * (probe.fails + 1),
        early: probe.task === 'timed' ? field(wr, 'early') : null,
      },
      lateness_ms: lat,
      detail: { e2e_ms: round(ms, 1), cpu_unread: cpu.unread, producer: pr, worker: wr },
    };
  } catch (err) {
    p?.stop();
    w.stop();
    throw err;
  }
}

/** A run passes when nothing was lost, duplicated, out of range or early. */
function deliveryProblems(r: Omit<Run, 'probe' | 'repeat' | 'ok'>): string[] {
  const d = r.delivery;
  if (!d) return ['no delivery ledger'];
  const out: string[] = [];
  if (d.missing !== 0) out.push(`${d.missing} missing`);
  if (d.duplicates !== 0) out.push(`${d.duplicates} duplicate final executions`);
  if (d.early !== null && d.early !== 0) out.push(`${d.early} ran before their eta`);
  const oor = (r.detail?.worker as Record<string, unknown> | undefined)?.out_of_range;
  if (typeof oor === 'number' && oor !== 0) out.push(`${oor} out-of-range indexes`);
  return out;
}

interface Stat {
  median: number;
  min: number;
  max: number;
}

function stat(values: number[]): Stat | null {
  return values.length ? { median: round(median(values), 2), min: round(Math.min(...values), 2), max: round(Math.max(...values), 2) } : null;
}

interface ProbeSummary {
  id: string;
  label: string;
  baseline: string | null;
  runs_ok: number;
  runs_failed: number;
  tasks_s: Stat | null;
  executions_s: Stat | null;
  cpu_us_per_task: Stat | null;
  cpu_us_per_execution: Stat | null;
  /** Median CPU-ms per process over the runs, divided by n: µs per task by process. */
  cpu_us_per_task_by_process: Record<string, number>;
  worker_rss_hwm_mb: Stat | null;
  lateness_p50_ms: Stat | null;
  lateness_p99_ms: Stat | null;
  lateness_max_ms: Stat | null;
  /** Paired with the baseline's run of the same pass: probe / baseline. */
  vs_baseline: { tasks_s: Stat | null; cpu_us_per_task: Stat | null; executions_s: Stat | null } | null;
  delivery: { missing: number; duplicates: number; attempt_duplicates: number; extra_executions: number; early: number };
}

function summarize(runs: readonly Run[], probes: readonly Probe[]): ProbeSummary[] {
  return probes.map((p) => {
    const mine = runs.filter((r) => r.probe === p.id);
    const ok = mine.filter((r) => r.ok);
    const nums = (f: (r: Run) => number | null | undefined, from: Run[] = ok) => from.flatMap((r) => {
      const v = f(r);
      return typeof v === 'number' && Number.isFinite(v) ? [v] : [];
    });
    const byProc: Record<string, number> = {};
    for (const name of ['producer', 'worker', 'nats-server']) {
      const v = nums((r) => (r.cpu_ms_by_process?.[name] === undefined || !r.n ? null : ((r.cpu_ms_by_process[name] as number) * 1000) / r.n));
      if (v.length) byProc[name] = round(median(v), 1);
    }
    let vs: ProbeSummary['vs_baseline'] = null;
    if (p.baseline) {
      const pairs = ok.flatMap((r) => {
        const b = runs.find((x) => x.probe === p.baseline && x.repeat === r.repeat && x.ok);
        return b ? [[r, b] as const] : [];
      });
      const ratio = (f: (r: Run) => number | undefined) =>
        stat(pairs.flatMap(([r, b]) => {
          const x = f(r);
          const y = f(b);
          return typeof x === 'number' && typeof y === 'number' && y > 0 ? [x / y] : [];
        }));
      vs = { tasks_s: ratio((r) => r.tasks_s), cpu_us_per_task: ratio((r) => r.cpu_us_per_task), executions_s: ratio((r) => r.executions_s) };
    }
    const sum = (f: (r: Run) => number | null | undefined) => nums(f, mine).reduce((a, b) => a + b, 0);
    return {
      id: p.id,
      label: p.label,
      baseline: p.baseline,
      runs_ok: ok.length,
      runs_failed: mine.length - ok.length,
      tasks_s: stat(nums((r) => r.tasks_s)),
      executions_s: stat(nums((r) => r.executions_s)),
      cpu_us_per_task: stat(nums((r) => r.cpu_us_per_task)),
      cpu_us_per_execution: stat(nums((r) => r.cpu_us_per_execution)),
      cpu_us_per_task_by_process: byProc,
      worker_rss_hwm_mb: stat(nums((r) => r.rss_mb?.worker)),
      lateness_p50_ms: stat(nums((r) => r.lateness_ms?.p50)),
      lateness_p99_ms: stat(nums((r) => r.lateness_ms?.p99)),
      lateness_max_ms: stat(nums((r) => r.lateness_ms?.max)),
      vs_baseline: vs,
      delivery: {
        missing: sum((r) => r.delivery?.missing),
        duplicates: sum((r) => r.delivery?.duplicates),
        attempt_duplicates: sum((r) => r.delivery?.attempt_duplicates),
        extra_executions: sum((r) => (r.delivery ? r.delivery.executions - r.delivery.executions_expected : null)),
        early: sum((r) => r.delivery?.early),
      },
    };
  });
}

/** A plain-text table with aligned columns (first row: header). */
function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  const line = (r: readonly string[]) => `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c] ?? 0) : v.padStart(widths[c] ?? 0))).join(' | ')} |`;
  return [line(rows[0] ?? []), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

const int = (v: number | null | undefined) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—');
const range = (s: Stat | null, f: (v: number) => string = int) => (s ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : '—');
const ratio = (s: Stat | null | undefined) => (s ? `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : '—');
const one = (v: number) => v.toFixed(1);

function delivery(s: ProbeSummary): string {
  const d = s.delivery;
  const base = `${d.missing} / ${d.duplicates}`;
  return s.runs_failed > 0 ? `${base}, ${s.runs_failed} FAILED` : base;
}

function formatTables(summary: readonly ProbeSummary[]): string {
  const retry = summary.filter((s) => !PROBES.find((p) => p.id === s.id)?.paced);
  const paced = summary.filter((s) => PROBES.find((p) => p.id === s.id)?.paced);
  const out: string[] = [];
  if (retry.length) {
    out.push(
      `Retries: N = ${N.toLocaleString('en-US')} tasks per run, window ${WINDOW}, worker c=${CONCURRENCY}; median (min–max) of ${REPEAT} runs; ratios paired with plain in the same pass`,
      table([
        ['probe', 'completed tasks/s', 'vs plain', 'executions/s', 'CPU µs / completed task', 'vs plain', 'CPU µs / execution', 'missing / dup finals', 'extra executions', 'worker peak RSS MB'],
        ...retry.map((s) => [
          s.label,
          range(s.tasks_s),
          ratio(s.vs_baseline?.tasks_s),
          range(s.executions_s),
          range(s.cpu_us_per_task, one),
          ratio(s.vs_baseline?.cpu_us_per_task),
          s.cpu_us_per_execution ? one(s.cpu_us_per_execution.median) : '—',
          delivery(s),
          String(s.delivery.extra_executions),
          s.worker_rss_hwm_mb ? one(s.worker_rss_hwm_mb.median) : '—',
        ]),
      ]),
    );
  }
  if (paced.length) {
    out.push(
      '',
      `Delayed tasks: N = ${N_DELAYED.toLocaleString('en-US')} per run, paced ${RATE.toLocaleString('en-US')}/s for ${SECS} s, worker c=${CONCURRENCY} with its scheduler; lateness = start − eta (delayed) or start − publish (paced), ms, median over runs (max: of all runs)`,
      table([
        ['probe', 'lateness p50', 'p99', 'max', 'early', 'CPU µs / task', 'vs paced', 'missing / dup', 'worker peak RSS MB'],
        ...paced.map((s) => [
          s.label,
          range(s.lateness_p50_ms),
          range(s.lateness_p99_ms),
          int(s.lateness_max_ms?.max),
          String(s.delivery.early),
          range(s.cpu_us_per_task, one),
          ratio(s.vs_baseline?.cpu_us_per_task),
          delivery(s),
          s.worker_rss_hwm_mb ? one(s.worker_rss_hwm_mb.median) : '—',
        ]),
      ]),
    );
  }
  out.push('', 'CPU µs per completed task by process (median): producer / worker / nats-server');
  for (const s of summary) {
    const b = s.cpu_us_per_task_by_process;
    out.push(`  ${s.label.padEnd(44)} ${one(b.producer ?? NaN)} / ${one(b.worker ?? NaN)} / ${one(b['nats-server'] ?? NaN)}`);
  }
  return out.join('\n');
}

function chart(summary: readonly ProbeSummary[]): string | null {
  const get = (id: string) => summary.find((s) => s.id === id);
  const plain = get('plain')?.tasks_s?.median;
  if (plain === undefined) return null;
  const pts = (ids: string[], f: (s: ProbeSummary) => number | undefined) =>
    ids.flatMap((id, k) => {
      const s = get(id);
      const v = s ? f(s) : undefined;
      return typeof v === 'number' ? [[k + 1, v] as const] : [];
    });
  return lineChart({
    title: `Retries: throughput vs executions per task (N=${N.toLocaleString('en-US')}, c=${CONCURRENCY}, median of ${REPEAT})`,
    xLabel: 'executions per task (1 = plain, 2 = one retry, 3 = two retries)',
    yLabel: 'per second',
    width: 720,
    series: [
      { name: 'completed tasks/s', points: pts(['plain', 'retry1', 'retry2'], (s) => s.tasks_s?.median) },
      { name: 'executions/s', points: pts(['plain', 'retry1', 'retry2'], (s) => s.executions_s?.median) },
      { name: 'plain ÷ executions', points: [1, 2, 3].map((k) => [k, plain / k] as const) },
      { name: 'autoretry tasks/s', points: pts(['plain', 'autoretry1'], (s) => s.tasks_s?.median) },
    ],
  });
}

async function main(): Promise<number> {
  const machine = await machineInfo(num(process.env.BENCH_REDIS_PORT, 6379));
  const startedAt = new Date().toISOString();
  const only = process.env.BENCH_RETRY_ONLY?.split(',').map((x) => x.trim()).filter(Boolean);
  const probes = PROBES.filter((p) => !only || only.includes(p.id));
  console.log(
    `celeriac retries bench: N=${N} (warm-up ${WARMUP}), delayed ${RATE}/s × ${SECS} s = ${N_DELAYED} (warm-up ${WARMUP_PACED}), countdown U[${FROM_MS}, ${TO_MS}) ms, repeat=${REPEAT}, worker c=${CONCURRENCY}, window ${WINDOW}${STORE_RESULTS ? ', results stored' : ''}`,
  );
  console.log(`machine: ${machine.cores} x ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}, ${machine.natsServer}, load ${machine.loadavgStart.join(' ')}`);

  const server = await startBenchServer();
  let nc: NatsConnection | undefined;
  const runs: Run[] = [];
  let natsHwmMb: number | null = null;
  try {
    nc = await connect({ servers: server.url });
    for (let repeat = 1; repeat <= REPEAT; repeat++) {
      for (const probe of probes) {
        const t0 = Date.now();
        process.stdout.write(`[${repeat}/${REPEAT}] ${probe.label} ... `);
        try {
          const r = await runProbe(server, probe, repeat);
          const problems = deliveryProblems(r);
          runs.push({ probe: probe.id, repeat, ok: problems.length === 0, ...(problems.length ? { error: problems.join(', ') } : {}), ...r });
          const lat = r.lateness_ms ? `, lateness p50/p99/max ${r.lateness_ms.p50}/${r.lateness_ms.p99}/${r.lateness_ms.max} ms` : '';
          console.log(
            `${int(r.tasks_s)} tasks/s, ${int(r.executions_s)} exec/s, ${r.cpu_us_per_task} CPU-µs/task${lat}${problems.length ? ` FAILED: ${problems.join(', ')}` : ''} [${((Date.now() - t0) / 1000).toFixed(1)} s]`,
          );
        } catch (err) {
          const message = (err as Error).message ?? String(err);
          runs.push({ probe: probe.id, repeat, ok: false, error: message });
          console.log(`FAILED [${((Date.now() - t0) / 1000).toFixed(1)} s]\n${message}`);
        }
        killAllRoles();
        await wipeStreams(nc).catch((err: unknown) => console.log(`(could not wipe streams: ${(err as Error).message})`));
        await sleep(300);
      }
    }
    natsHwmMb = procMemory(server.pid ?? 0)?.hwmMb ?? null;
  } finally {
    killAllRoles();
    await nc?.close().catch(() => undefined);
    await server.stop();
  }

  const summary = summarize(runs, probes);
  console.log(`\n${formatTables(summary)}`);
  if (natsHwmMb !== null) console.log(`nats-server peak RSS over the whole bench: ${one(natsHwmMb)} MB`);
  const failed = runs.filter((r) => !r.ok);
  for (const r of failed) console.log(`FAILED: ${r.probe} run ${r.repeat}: ${r.error ?? ''}`);

  const out = {
    startedAt,
    finishedAt: new Date().toISOString(),
    config: {
      N,
      WARMUP,
      N_DELAYED,
      WARMUP_PACED,
      RATE,
      SECS,
      FROM_MS,
      TO_MS,
      REPEAT,
      CONCURRENCY,
      WINDOW,
      STORE_RESULTS,
      LINGER_MS,
      probes,
    },
    machine: { ...machine, loadavgEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    summary,
    nats_server_peak_rss_mb: natsHwmMb === null ? null : round(natsHwmMb, 1),
    ok: failed.length === 0,
    runs,
  };
  await mkdir(dirname(OUT), { recursive: true });
  await writeFile(OUT, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\nwrote ${relative(ROOT, OUT)}`);
  const svg = chart(summary);
  if (svg) {
    await mkdir(dirname(SVG), { recursive: true });
    await writeFile(SVG, svg);
    console.log(`wrote ${relative(ROOT, SVG)}`);
  }
  return failed.length > 0 ? 1 : 0;
}

runScenario(main);
