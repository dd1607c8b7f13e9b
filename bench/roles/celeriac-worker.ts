/**
 * A Celeriac worker process for the e2e and round-trip probes. Prints `{"event":"ready"}` once it
 * takes tasks, and its result once it has run the expected number of tasks (or its deadline passes).
 *
 *   node --import tsx bench/roles/celeriac-worker.ts e2e <url> <app> <n> <warmup> <concurrency>
 *   node --import tsx bench/roles/celeriac-worker.ts rt  <url> <app> <n> <warmup> <concurrency>
 *
 * e2e: counts `noop` ids 0..n-1 in the task (negative ids are the producer's warm-up) and reports
 * the first and last completion times (epoch ms) plus the exact-delivery ledger. rt: waits until
 * `stats().succeeded` reaches n + warmup.
 * @module
 */
// First: with BENCH_TRACING set, an OpenTelemetry SDK is registered before Celeriac loads.
import { spansEnded } from './tracing.ts';
import { silentLogger } from '../../src/testing.ts';
import { DeliveryLedger, emit, epochMs, num, perSecond, runRole, sleep } from '../lib/measure.ts';
import { startProfiling } from '../lib/profile.ts';
import { cpuTimeMs } from '../lib/cpu.ts';
import { benchApp } from './bench-app.ts';

const [mode, url = '', appName = 'bench', nArg, warmArg, concArg] = process.argv.slice(2);
const n = num(nArg, 50_000);
const warmup = num(warmArg, 0);
const concurrency = num(concArg, 64);
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 150_000);

if (mode !== 'e2e' && mode !== 'rt') {
  console.error(`unknown mode ${JSON.stringify(mode)}; e2e or rt`);
  process.exit(2);
}

const ledger = new DeliveryLedger(n);
let tFirst = 0;
let tLast = 0;
let warmSeen = 0;
let allSeen: () => void = () => undefined;
const done = new Promise<void>((r) => (allSeen = r));
let stopRequested: () => void = () => undefined;
const stopSignal = new Promise<void>((r) => (stopRequested = r));
process.once('SIGTERM', () => stopRequested());

// CPU time over the measured window (first to last measured task): this process, and the
// nats-server (BENCH_NATS_PID) read from /proc at the same two instants.
const natsPid = process.env.BENCH_NATS_PID ? Number(process.env.BENCH_NATS_PID) : undefined;
let cpu0: NodeJS.CpuUsage | undefined;
let cpuWorker: NodeJS.CpuUsage | undefined;
let nats0: number | null = null;
let natsMs: number | null = null;

const { app } = benchApp(appName, url, (i) => {
  if (i < 0) {
    warmSeen++;
    return;
  }
  if (ledger.mark(i)) {
    const t = epochMs();
    if (ledger.unique === 1) {
      tFirst = t;
      cpu0 = process.cpuUsage();
      nats0 = natsPid === undefined ? null : cpuTimeMs(natsPid);
    }
    if (ledger.unique === n) {
      tLast = t;
      cpuWorker = process.cpuUsage(cpu0);
      const nats1 = natsPid === undefined ? null : cpuTimeMs(natsPid);
      natsMs = nats0 !== null && nats1 !== null ? nats1 - nats0 : null;
      allSeen();
    }
  }
});

runRole(`celeriac-worker:${mode}`, deadlineMs, async () => {
  const worker = app.worker({ concurrency, logger: silentLogger, events: process.env.BENCH_EVENTS !== '0' });
  await worker.start();
  // Diagnostics only: BENCH_WORKER_PROFILE_DIR writes a CPU and an allocation profile of the run.
  const profiler = process.env.BENCH_WORKER_PROFILE_DIR ? await startProfiling() : undefined;
  emit('ready', { role: `celeriac-worker:${mode}` });
  const giveUpAt = Date.now() + deadlineMs - 5_000;
  let outcome: 'done' | 'stopped' | 'timeout' = 'done';
  if (mode === 'e2e') {
    const r = await Promise.race([done.then(() => 'done' as const), stopSignal.then(() => 'stopped' as const), sleep(deadlineMs - 5_000).then(() => 'timeout' as const)]);
    outcome = r;
  } else {
    let stop = false;
    void stopSignal.then(() => (stop = true));
    while (worker.stats().succeeded + worker.stats().failed < n + warmup) {
      if (stop) {
        outcome = 'stopped';
        break;
      }
      if (Date.now() > giveUpAt) {
        outcome = 'timeout';
        break;
      }
      await sleep(20);
    }
  }
  // Every task of e2e has run; wait (bounded) until the executor counted it, i.e. it was acked.
  const total = n + warmup;
  const ackDeadline = Date.now() + 10_000;
  while (outcome === 'done' && worker.stats().succeeded < total && Date.now() < ackDeadline) await sleep(5);
  const tAcked = epochMs();
  const stats = worker.stats();
  if (profiler) {
    const summary = await profiler.stop(process.env.BENCH_WORKER_PROFILE_DIR as string, `worker-${mode}-${process.pid}`);
    process.stderr.write(`${JSON.stringify(summary.cpu, null, 1).slice(0, 6000)}\n`);
  }
  await worker.stop(5_000);
  await app.close();
  if (outcome !== 'done') {
    throw new Error(`worker ${outcome} before all tasks ran: ${JSON.stringify({ unique: ledger.unique, warmSeen, stats })}`);
  }
  return mode === 'e2e'
    ? {
        probe: 'celeriac-e2e-worker',
        n,
        concurrency,
        t_first: tFirst,
        t_last: tLast,
        t_acked: tAcked,
        drain_tasks_s: perSecond(n - 1, tLast - tFirst),
        cpu_ms: cpuWorker ? Math.round((cpuWorker.user + cpuWorker.system) / 1000) : null,
        nats_cpu_ms: natsMs === null ? null : Math.round(natsMs),
        unique: ledger.unique,
        duplicates: ledger.duplicates,
        missing: ledger.missing,
        warmup_seen: warmSeen,
        stats,
        spans: spansEnded(),
      }
    : { probe: 'celeriac-rt-worker', n, concurrency, stats, spans: spansEnded() };
});
