/**
 * `npm run bench -- scheduler`: delayed tasks at scale. A producer stores N delayed tasks (etas
 * uniform over [now + FROM, now + TO]) in the `<app>-delayed` stream; then one standalone scheduler
 * process (a `Scheduler` on its lease, as `celeriac beat` runs it; no worker slots) indexes them and
 * moves each to its queue when due; one worker process (concurrency 256, `scheduler: false`) runs
 * `sched.noop(i, eta)`, which records `startedAt - eta`. Each role is its own process against a
 * nats-server started here (random port, fresh store).
 *
 * Reports: fired / duplicates / missing (exact, by index), lateness p50/p99/max and early runs,
 * the scheduler's peak RSS (VmHWM) and RSS with all N pending, time to index N entries. Fails (exit
 * 1) on any lost, duplicate or early task; the performance targets get verdicts.
 *
 * Environment: BENCH_SCHED_N (default 100000), BENCH_SCHED_FROM_MS / BENCH_SCHED_TO_MS (eta window
 * from now, default 20000 / 50000), BENCH_SCHED_BATCH (publishes per awaited batch, 1000),
 * BENCH_SCHED_CONCURRENCY (worker slots, 256), BENCH_SCHED_SEED (eta PRNG, 1), BENCH_SCHED_GRACE_MS
 * (wait after the last eta before giving up, 30000), BENCH_SCHED_OUT (result file, default
 * bench/results/scheduler-latest.json). See docs/benchmarks.md.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { startBenchServer, runScenario } from './lib/scenario.ts';
import { ROOT, type RoleProcess, killAllRoles, runRoleProcess, startRole } from './lib/child.ts';
import type { LatencySummary } from './lib/latency.ts';
import { machineInfo } from './lib/machine.ts';
import { num, round } from './lib/measure.ts';
import { procMemory } from './lib/proc.ts';
import { table } from './lib/report.ts';

const N = num(process.env.BENCH_SCHED_N, 100_000);
const FROM_MS = num(process.env.BENCH_SCHED_FROM_MS, 20_000);
const TO_MS = num(process.env.BENCH_SCHED_TO_MS, 50_000);
const BATCH = num(process.env.BENCH_SCHED_BATCH, 1000);
const CONCURRENCY = num(process.env.BENCH_SCHED_CONCURRENCY, 256);
const SEED = num(process.env.BENCH_SCHED_SEED, 1);
const GRACE_MS = num(process.env.BENCH_SCHED_GRACE_MS, 30_000);
const LINGER_MS = 2_000;
/** Extra NODE_OPTIONS for the scheduler process only (e.g. `--max-old-space-size=128`), for experiments. */
const SCHED_NODE_OPTIONS = process.env.BENCH_SCHED_NODE_OPTIONS ?? '';
const OUT = resolve(ROOT, process.env.BENCH_SCHED_OUT ?? 'bench/results/scheduler-latest.json');

/** Targets: lateness p99 ≤ 1 s, scheduler RSS ≤ 200 MB, nothing early, lost or duplicated. */
const TARGETS = { p99LatenessMs: 1000, schedulerRssMb: 200 };

if (!(FROM_MS >= 0 && TO_MS > FROM_MS)) throw new Error(`need 0 <= BENCH_SCHED_FROM_MS < BENCH_SCHED_TO_MS, got ${FROM_MS}, ${TO_MS}`);

async function streamMessages(nc: NatsConnection, stream: string): Promise<number | null> {
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(stream)).state.messages;
  } catch {
    return null;
  }
}

/** Wait for a role's result, but no longer than `ms`: then SIGTERM it (it still reports what it has). */
async function resultWithin(role: RoleProcess, ms: number): Promise<Record<string, unknown>> {
  const t = setTimeout(() => role.stop(), ms);
  try {
    return await role.result;
  } finally {
    clearTimeout(t);
  }
}

/** Samples VmRSS / VmHWM of a process every `everyMs` from the outside (a cross-check of what it reports). */
function memorySampler(pid: number | undefined, everyMs = 100): { stop(): { rssMaxMb: number; hwmMb: number; samples: number } } {
  let rssMaxMb = 0;
  let hwmMb = 0;
  let samples = 0;
  const take = () => {
    if (pid === undefined) return;
    const m = procMemory(pid);
    if (!m) return;
    samples++;
    rssMaxMb = Math.max(rssMaxMb, m.rssMb);
    hwmMb = Math.max(hwmMb, m.hwmMb);
  };
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      take();
      clearInterval(timer);
      return { rssMaxMb: round(rssMaxMb, 1), hwmMb: round(hwmMb, 1), samples };
    },
  };
}

const int = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—');
const fix = (v: unknown, d = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '—');
const lat = (s: LatencySummary | null | undefined) => (s ? `${int(s.p50)} / ${int(s.p99)} / ${int(s.max)}` : '—');

interface Verdict {
  label: string;
  value: string;
  goal: string;
  met: boolean | null;
}

async function main(): Promise<number> {
  const machine = await machineInfo(num(process.env.BENCH_REDIS_PORT, 6379));
  const startedAt = new Date().toISOString();
  const appName = `bench-sched-${randomUUID().slice(0, 8)}`;
  console.log(`celeriac scheduler bench: N=${N} etas now+[${FROM_MS / 1000}, ${TO_MS / 1000}] s, batch ${BATCH}, worker c=${CONCURRENCY}, seed ${SEED}${SCHED_NODE_OPTIONS ? `, scheduler NODE_OPTIONS ${SCHED_NODE_OPTIONS}` : ''}`);
  console.log(`machine: ${machine.cores} x ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}, ${machine.natsServer}, load ${machine.loadavgStart.join(' ')}`);

  const server = await startBenchServer();
  let nc: NatsConnection | undefined;

  // Every role's hard limit covers the whole scenario: start-up, publishing, the eta window, grace.
  const roleTimeout = TO_MS + GRACE_MS + 90_000;
  let producer: Record<string, unknown> | undefined;
  let sched: Record<string, unknown> | undefined;
  let worker: Record<string, unknown> | undefined;
  let sampled: ReturnType<ReturnType<typeof memorySampler>['stop']> | undefined;
  let storedBeforeScheduler: number | null = null;
  let left: { delayed: number | null; tasks: number | null } = { delayed: null, tasks: null };
  let serverHwmMb: number | null = null;
  const errors: string[] = [];
  let base = 0;
  try {
    nc = await connect({ servers: server.url });
    const w = startRole('sched-worker.ts', [server.url, appName, N, CONCURRENCY, LINGER_MS], roleTimeout);
    process.stdout.write(`worker (c=${CONCURRENCY}, scheduler: false) ... `);
    await Promise.race([w.ready, w.result]);
    console.log('ready');

    base = Date.now();
    process.stdout.write(`producer: ${N.toLocaleString('en-US')} delayed tasks in batches of ${BATCH} ... `);
    producer = await runRoleProcess('sched-producer.ts', [server.url, appName, N, base, FROM_MS, TO_MS, BATCH, SEED], 120_000);
    console.log(`${int(producer.publish_tasks_s)} tasks/s, done ${fix((Number(producer.t_published) - base) / 1000)} s after t0`);
    storedBeforeScheduler = await streamMessages(nc, `${appName}-delayed`);
    if (storedBeforeScheduler !== N) errors.push(`the delayed stream holds ${String(storedBeforeScheduler)} tasks after publishing, expected ${N}`);

    const tSched = Date.now();
    const schedEnv: Record<string, string> = SCHED_NODE_OPTIONS ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${SCHED_NODE_OPTIONS}`.trim() } : {};
    const s = startRole('scheduler-standalone.ts', [server.url, appName, N], roleTimeout, schedEnv);
    const sampler = memorySampler(s.proc.pid);
    process.stdout.write(`scheduler (standalone, started ${fix((tSched - base) / 1000)} s after t0) ... `);
    try {
      await Promise.race([s.ready, s.result]);
      console.log('started; waiting for the etas');
      // Both roles stop on their own once all N ran; give up GRACE_MS after the last eta.
      const giveUp = Math.max(0, base + TO_MS + GRACE_MS - Date.now());
      worker = await resultWithin(w, giveUp);
      sched = await resultWithin(s, 10_000);
    } catch (err) {
      w.stop();
      s.stop();
      throw err;
    } finally {
      sampled = sampler.stop();
    }
    left = { delayed: await streamMessages(nc, `${appName}-delayed`), tasks: await streamMessages(nc, `${appName}-tasks`) };
    serverHwmMb = procMemory(server.pid ?? 0)?.hwmMb ?? null;
  } catch (err) {
    errors.push((err as Error).message ?? String(err));
  } finally {
    killAllRoles();
    await nc?.close().catch(() => undefined);
    await server.stop();
  }

  const wl = worker?.lateness_ms as LatencySummary | null | undefined;
  const fl = sched?.fire_lateness_ms as LatencySummary | null | undefined;
  const atIndexed = (sched?.at_indexed ?? null) as Record<string, number> | null;
  const missing = typeof worker?.missing === 'number' ? worker.missing : null;
  const duplicates = typeof worker?.duplicates === 'number' ? worker.duplicates : null;
  const early = typeof worker?.early === 'number' ? worker.early : null;
  const firedEarly = typeof sched?.fired_early === 'number' ? sched.fired_early : null;
  const hwm = typeof sched?.vm_hwm_mb === 'number' ? Math.max(sched.vm_hwm_mb, sampled?.hwmMb ?? 0) : (sampled?.hwmMb ?? null);
  const tIndexed = typeof sched?.t_indexed === 'number' ? sched.t_indexed : null;
  const etaMin = typeof producer?.eta_min === 'number' ? producer.eta_min : null;

  const rows = [
    ['measure', 'value'],
    ['tasks fired and run (unique indexes)', `${int(worker?.unique)} / ${int(N)}`],
    ['missing / duplicates', `${int(missing)} / ${int(duplicates)}`],
    ['early runs (startedAt < eta) / early fires (publish < eta)', `${int(early)} / ${int(firedEarly)}`],
    ['lateness startedAt − eta, p50 / p99 / max (ms)', lat(wl)],
    ['  of which scheduler publish − eta, p50 / p99 / max (ms)', lat(fl)],
    ['scheduler peak RSS, VmHWM (MB)', fix(hwm)],
    [`scheduler RSS with ${int(N)} pending (MB), at indexed / max`, `${fix(atIndexed?.rss_mb)} / ${fix(sched?.rss_pending_max_mb)}`],
    ['scheduler V8 heap used with all pending (MB)', fix(atIndexed?.heap_used_mb)],
    [`time to index ${int(N)} pending entries (ms, from start())`, int(sched?.ms_to_index)],
    ['  of which lease acquired (ms)', int(sched?.ms_to_lead)],
    ['scheduler CPU, indexing / whole run (ms)', `${int(sched?.cpu_index_ms)} / ${int(sched?.cpu_total_ms)}`],
    ['producer publish rate (delayed tasks/s)', int(producer?.publish_tasks_s)],
    ['index complete before the first eta', tIndexed !== null && etaMin !== null ? (tIndexed < etaMin ? `yes (${fix((etaMin - tIndexed) / 1000)} s ahead)` : `NO (${fix((tIndexed - etaMin) / 1000)} s after)`) : '—'],
    ['left in delayed stream / task stream after the run', `${int(left.delayed)} / ${int(left.tasks)}`],
  ];
  const verdicts: Verdict[] = [
    { label: 'lateness p99', value: wl ? `${int(wl.p99)} ms` : '—', goal: `≤ ${TARGETS.p99LatenessMs} ms`, met: wl ? wl.p99 <= TARGETS.p99LatenessMs : null },
    { label: 'scheduler RSS (peak, VmHWM)', value: hwm === null ? '—' : `${fix(hwm)} MB`, goal: `≤ ${TARGETS.schedulerRssMb} MB`, met: hwm === null ? null : hwm <= TARGETS.schedulerRssMb },
    { label: 'early (runs / fires before their eta)', value: `${int(early)} / ${int(firedEarly)}`, goal: '0', met: early === null ? null : early === 0 && firedEarly === 0 },
    { label: 'lost', value: int(missing), goal: '0', met: missing === null ? null : missing === 0 },
    { label: 'duplicates', value: int(duplicates), goal: '0', met: duplicates === null ? null : duplicates === 0 },
  ];
  const vrows = [['target', 'value', 'goal', 'verdict'], ...verdicts.map((v) => [v.label, v.value, v.goal, v.met === null ? 'n/a' : v.met ? 'met' : 'NOT met'])];
  console.log(`\n${table(rows)}\n\n${table(vrows)}`);
  const slices = worker?.lateness_by_5s as Array<Record<string, number>> | undefined;
  if (slices?.length) {
    console.log(`\nlateness by 5 s of eta (ms): ${slices.map((x) => `+${x.from_s}s p99 ${int(x.p99)}`).join(', ')}`);
  }
  if (worker && worker.outcome !== 'done') errors.push(`worker ${String(worker.outcome)} before every task ran`);
  if (sched && sched.outcome !== 'done') errors.push(`scheduler ${String(sched.outcome)} before it fired every task`);
  const correctnessFailed = !worker || missing !== 0 || duplicates !== 0 || early !== 0 || firedEarly !== 0;
  for (const e of errors) console.log(`error: ${e}`);

  const out = {
    startedAt,
    finishedAt: new Date().toISOString(),
    config: { N, FROM_MS, TO_MS, BATCH, CONCURRENCY, SEED, GRACE_MS, LINGER_MS, SCHED_NODE_OPTIONS, app: appName, t0: base },
    machine: { ...machine, loadavgEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    summary: {
      fired: worker?.unique ?? null,
      missing,
      duplicates,
      early,
      fired_early: firedEarly,
      lateness_ms: wl ?? null,
      fire_lateness_ms: fl ?? null,
      scheduler_peak_rss_mb: hwm,
      scheduler_rss_pending_mb: atIndexed?.rss_mb ?? null,
      scheduler_rss_pending_max_mb: sched?.rss_pending_max_mb ?? null,
      scheduler_heap_used_pending_mb: atIndexed?.heap_used_mb ?? null,
      ms_to_index: sched?.ms_to_index ?? null,
      ms_to_lead: sched?.ms_to_lead ?? null,
      nats_server_peak_rss_mb: serverHwmMb === null ? null : round(serverHwmMb, 1),
    },
    verdicts,
    ok: !correctnessFailed && errors.length === 0,
    errors,
    streams: { stored_before_scheduler: storedBeforeScheduler, left_after: left },
    scheduler_memory_sampled_outside: sampled ?? null,
    roles: { producer: producer ?? null, scheduler: sched ?? null, worker: worker ?? null },
  };
  await mkdir(dirname(OUT), { recursive: true });
  await writeFile(OUT, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\nwrote ${relative(ROOT, OUT)}`);
  return out.ok ? 0 : 1;
}

runScenario(main);
