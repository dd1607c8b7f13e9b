/**
 * Worker of the scheduler bench: `app.worker({ concurrency, scheduler: false })` (the standalone
 * scheduler process is the only one that fires delayed tasks) running `sched.noop(i, eta)`, which
 * records `startedAt - eta` (both epoch ms, `Date.now()`, the clock the scheduler compares etas
 * with) for index `i` and marks `i` in the exact-delivery ledger.
 *
 * It prints `{"event":"ready"}` once it takes tasks. It ends when every index 0..n-1 ran and
 * `lingerMs` more passed without anything new (to catch late duplicates), on SIGTERM, or at its
 * deadline, and always reports what it saw (lost and duplicate counts included).
 *
 *   node --import tsx bench/roles/sched-worker.ts <url> <app> <n> <concurrency> <lingerMs>
 * @module
 */
import { silentLogger } from '../../src/testing.ts';
import { latencySummary } from '../lib/latency.ts';
import { DeliveryLedger, emit, num, runRole, sleep } from '../lib/measure.ts';
import { schedApp } from './sched-app.ts';

const [url = '', appName = 'bench-sched', nArg, concArg, lingerArg] = process.argv.slice(2);
const n = num(nArg, 100_000);
const concurrency = num(concArg, 256);
const lingerMs = num(lingerArg, 2_000);
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 150_000);

const ledger = new DeliveryLedger(n);
/** Lateness (ms) of the first run of each index; NaN until it ran. */
const late = new Float64Array(n).fill(Number.NaN);
/** Eta (epoch ms) of each index that ran. */
const etaOf = new Float64Array(n);
let early = 0;
let runs = 0;
let tFirst = 0;
let tLast = 0;
let etaMin = Number.POSITIVE_INFINITY;
let etaMax = 0;
let allSeen: () => void = () => undefined;
const done = new Promise<'done'>((r) => (allSeen = () => r('done')));
let stopRequested: () => void = () => undefined;
const stopSignal = new Promise<'stopped'>((r) => (stopRequested = () => r('stopped')));
process.once('SIGTERM', () => stopRequested());

const { app } = schedApp(appName, url, (i, eta) => {
  const startedAt = Date.now();
  runs++;
  tLast = startedAt;
  if (tFirst === 0) tFirst = startedAt;
  const lateness = startedAt - eta;
  if (lateness < 0) early++;
  if (ledger.mark(i)) {
    late[i] = lateness;
    etaOf[i] = eta;
    if (eta < etaMin) etaMin = eta;
    if (eta > etaMax) etaMax = eta;
    if (ledger.unique === n) allSeen();
  }
});

/** Lateness (p50/p99/max) by slices of `sliceMs` of the eta range: does it grow as the scheduler fires? */
function bySlice(sliceMs: number): Array<Record<string, number>> {
  const slices = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const l = late[i] ?? Number.NaN;
    if (Number.isNaN(l)) continue;
    const k = Math.floor(((etaOf[i] ?? 0) - etaMin) / sliceMs);
    let a = slices.get(k);
    if (!a) slices.set(k, (a = []));
    a.push(l);
  }
  return [...slices.entries()]
    .sort((x, y) => x[0] - y[0])
    .map(([k, a]) => {
      const s = latencySummary(Float64Array.from(a));
      return { from_s: (k * sliceMs) / 1000, count: a.length, p50: s?.p50 ?? Number.NaN, p99: s?.p99 ?? Number.NaN, max: s?.max ?? Number.NaN };
    });
}

runRole('sched-worker', deadlineMs, async () => {
  const worker = app.worker({ concurrency, scheduler: false, logger: silentLogger });
  await worker.start();
  emit('ready', { role: 'sched-worker' });
  let outcome: 'done' | 'stopped' | 'timeout' = await Promise.race([done, stopSignal, sleep(deadlineMs - 5_000).then(() => 'timeout' as const)]);
  if (outcome === 'done') {
    // Linger: a duplicate arriving after the last first-run still counts.
    let lastRuns = -1;
    while (runs !== lastRuns) {
      lastRuns = runs;
      const r = await Promise.race([sleep(lingerMs), stopSignal]);
      if (r === 'stopped') {
        outcome = 'stopped';
        break;
      }
    }
  }
  const stats = worker.stats();
  await worker.stop(5_000);
  await app.close();
  const seen = late.filter((l) => !Number.isNaN(l));
  return {
    probe: 'sched-worker',
    n,
    concurrency,
    outcome,
    unique: ledger.unique,
    runs,
    duplicates: ledger.duplicates,
    missing: ledger.missing,
    out_of_range: ledger.outOfRange,
    early,
    t_first: tFirst || null,
    t_last: tLast || null,
    eta_min: Number.isFinite(etaMin) ? etaMin : null,
    eta_max: etaMax || null,
    lateness_ms: latencySummary(seen),
    lateness_by_5s: bySlice(5_000),
    stats,
  };
});
