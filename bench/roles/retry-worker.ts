/**
 * Worker of the retries bench: `app.worker({ concurrency })` with the defaults (the scheduler on,
 * events on), running the tasks of retry-app.ts. It keeps the exact-delivery ledgers of indexes
 * 0..n-1 (negative indexes are the producer's warm-up):
 *
 * - `bench.retry` / `bench.autoretry`: the final execution (`ctx.retries === fails`) of each index
 *   must happen exactly once; every attempt `k` of an index is recorded too, so an attempt that ran
 *   twice (a redelivery) counts as an attempt duplicate.
 * - `bench.timed`: each index exactly once; lateness `Date.now() - t` in an HDR histogram (ms), and
 *   a run before its `t` counts as early.
 *
 * Steps: `ready` once it takes tasks; `warm` once every warm-up task ran its final attempt and was
 * acked; `done` once indexes 0..n-1 all did (the orchestrator's end-of-window CPU snapshot). Then
 * it waits for `SIGUSR2` (or 15 s), lingers `lingerMs` to catch late duplicates, and reports.
 *
 *   node --import tsx bench/roles/retry-worker.ts '<json config>'
 *
 * Config: `{ url, app, n, warmup, concurrency, lingerMs, storeResults }`. Diagnostics:
 * `BENCH_RETRY_PROFILE_DIR` writes a CPU and an allocation profile of the measured phase there and
 * adds the CPU summary to the result (the profiler slows the worker down).
 * @module
 */
import hdr from 'hdr-histogram-js';
import { silentLogger } from '../../src/testing.ts';
import { DeliveryLedger, emit, epochMs, num, round, runRole, sleep } from '../lib/measure.ts';
import { type ProfileSummary, startProfiling } from '../lib/profile.ts';
import { parentSignals, retryApp, step } from './retry-app.ts';

interface WorkerConfig {
  url: string;
  app: string;
  n: number;
  warmup: number;
  concurrency: number;
  lingerMs: number;
  storeResults: boolean;
}

const parent = parentSignals();
const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const n = cfg.n;
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 150_000);

const finals = new DeliveryLedger(n);
/** Bit k set: the attempt with `ctx.retries === k` of index i ran. */
const attempts = new Uint8Array(n);
let attemptDuplicates = 0;
let executions = 0;
const byRetries = [0, 0, 0, 0];
let warmFinals = 0;
let tFirst = 0;
let tLast = 0;
let early = 0;
let earliestMs = Number.POSITIVE_INFINITY;
const lateness = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 });
let allSeen: () => void = () => undefined;
const done = new Promise<'done'>((r) => (allSeen = () => r('done')));

function final(i: number): void {
  if (finals.mark(i)) {
    const t = epochMs();
    if (finals.unique === 1) tFirst = t;
    if (finals.unique === n) {
      tLast = t;
      allSeen();
    }
  }
}

const { app } = retryApp(
  cfg.app,
  cfg.url,
  {
    onExec(i, fails, retries) {
      const last = retries >= fails;
      if (i < 0) {
        if (last) warmFinals++;
        return;
      }
      executions++;
      const k = Math.min(retries, 3);
      byRetries[k] = (byRetries[k] ?? 0) + 1;
      if (i < n) {
        const bit = 1 << Math.min(retries, 7);
        if ((attempts[i] as number) & bit) attemptDuplicates++;
        attempts[i] = (attempts[i] as number) | bit;
      }
      if (last) final(i);
    },
    onTimed(i, t) {
      const l = Date.now() - t;
      if (i < 0) {
        warmFinals++;
        return;
      }
      executions++;
      if (l < 0) early++;
      if (l < earliestMs) earliestMs = l;
      // Only first runs are timed (a duplicate is reported, not timed).
      if (i < n && ((attempts[i] as number) & 1) === 0) {
        attempts[i] = 1;
        lateness.recordValue(Math.max(0, l));
      }
      final(i);
    },
  },
  cfg.storeResults,
);

/** Poll `cond` every 5 ms until it holds or `ms` passed; true when it held. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

runRole('retry-worker', deadlineMs, async () => {
  const worker = app.worker({ concurrency: cfg.concurrency, logger: silentLogger });
  await worker.start();
  emit('ready', { role: 'retry-worker' });
  const budget = deadlineMs - 20_000;
  if (!(await until(() => warmFinals >= cfg.warmup && worker.stats().succeeded >= cfg.warmup, budget))) {
    throw new Error(`warm-up did not finish: ${JSON.stringify({ warmFinals, warmup: cfg.warmup, stats: worker.stats() })}`);
  }
  const profileDir = process.env.BENCH_RETRY_PROFILE_DIR;
  const profiler = profileDir ? await startProfiling() : undefined;
  step('warm');
  const outcome = await Promise.race([done, sleep(budget).then(() => 'timeout' as const)]);
  // Every index ran its final attempt; wait (bounded) until the executor counted each as acked.
  const acked = outcome === 'done' && (await until(() => worker.stats().succeeded >= cfg.warmup + n, 10_000));
  const tAcked = epochMs();
  step('done');
  let profile: ProfileSummary['cpu'] | undefined;
  if (profiler && profileDir) profile = (await profiler.stop(profileDir, `retry-worker-${cfg.app}`)).cpu;
  await Promise.race([parent.signal(1), sleep(15_000)]);
  // Linger: a duplicate arriving after the last first run still counts.
  await sleep(cfg.lingerMs);
  const stats = worker.stats();
  const scheduler = worker.schedulerStats() ?? null;
  await worker.stop(5_000);
  await app.close();
  if (outcome !== 'done') {
    throw new Error(`worker timed out before all tasks ran: ${JSON.stringify({ unique: finals.unique, n, executions, stats })}`);
  }
  const total = lateness.totalCount;
  return {
    probe: 'retry-worker',
    n,
    concurrency: cfg.concurrency,
    t_first: tFirst,
    t_last: tLast,
    t_acked: tAcked,
    all_acked: acked,
    unique: finals.unique,
    missing: finals.missing,
    duplicates: finals.duplicates,
    out_of_range: finals.outOfRange,
    attempt_duplicates: attemptDuplicates,
    executions,
    executions_by_retries: byRetries,
    early,
    earliest_ms: Number.isFinite(earliestMs) ? earliestMs : null,
    lateness_ms:
      total > 0
        ? {
            count: total,
            p50: lateness.getValueAtPercentile(50),
            p90: lateness.getValueAtPercentile(90),
            p99: lateness.getValueAtPercentile(99),
            p999: lateness.getValueAtPercentile(99.9),
            max: lateness.maxValue,
            mean: round(lateness.mean),
          }
        : null,
    stats,
    scheduler,
    ...(profile ? { profile } : {}),
  };
});
