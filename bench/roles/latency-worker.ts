/**
 * Worker of the W2 latency scenario (bench/latency.ts).
 *
 *   node --import tsx bench/roles/latency-worker.ts celeriac <url> <app> <n> <concurrency> <lingerMs>
 *   node --import tsx bench/roles/latency-worker.ts raw      <url> <stream> <n> <maxMessages> <lingerMs>
 *
 * celeriac: `app.worker({ concurrency })` running `lat.noop(seq, intended, sent)` (ignoreResult)
 * and `lat.rt(seq, intended, sent)` (result stored, for the producer's sampled round trips). Both
 * record at task start `now − intended`, the enqueue→start latency from the producer's *intended*
 * send time (open loop, free of coordinated omission), and `now − sent` (from the actual send,
 * without the producer's own lag). A `postrun` listener records `now − intended` once the task is
 * settled (acked; result written for `lat.rt`). The broker's stored-at time of each message (whole
 * ms, from the ack subject) splits the latency: intended→stored and stored→start.
 *
 * raw: the baseline without Celeriac: a plain @nats-io pull consumer (`consume({ max_messages })`
 * on a WorkQueue stream it creates, explicit ack) reading the same three numbers from a 24-byte
 * payload, recording the same latencies and acking each message at once.
 *
 * Times are epoch ms from `performance.timeOrigin + performance.now()` in every process. Sequence
 * numbers 0..n-1 are measured (exact-delivery ledger, HDR histograms in µs); negative ones are the
 * producer's priming and warm-up messages (counted only). It also reports GC pauses, event-loop
 * delay and utilisation (from its `ready` on), and its RSS; with BENCH_LAT_PROFILE_DIR (celeriac mode) it also writes
 * a CPU and an allocation profile there and adds their summaries. Prints `{"event":"ready"}` once it takes work; ends when
 * every measured task ran and settled and `lingerMs` passed with nothing new (late duplicates), on
 * SIGTERM, or at its deadline, and always reports what it saw. The closed-loop maximum-rate probe
 * uses the celeriac mode too: it reports the first and last start times.
 * @module
 */
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { AckPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import hdr from 'hdr-histogram-js';
import { createApp } from '../../src/index.ts';
import { silentLogger } from '../../src/testing.ts';
import { DeliveryLedger, emit, epochMs, num, perSecond, round, runRole, sleep } from '../lib/measure.ts';
import { startProfiling } from '../lib/profile.ts';
import { procMemory } from '../lib/proc.ts';

const [mode, url = '', name = 'bench-lat', nArg, concArg, lingerArg] = process.argv.slice(2);
const n = num(nArg, 100_000);
const concurrency = num(concArg, 64);
const lingerMs = num(lingerArg, 500);
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 150_000);

/** A histogram of µs values (3 significant digits); values below 0 (clock skew) are counted and recorded as 0. */
function histogram(): { record(ms: number): void; summary(): Record<string, number> | null } {
  const h = hdr.build({ numberOfSignificantValueDigits: 3 });
  let negative = 0;
  return {
    record(ms: number) {
      if (ms < 0) negative++;
      h.recordValue(Math.max(0, Math.round(ms * 1000)));
    },
    summary() {
      if (h.totalCount === 0) return null;
      const at = (p: number) => round(h.getValueAtPercentile(p) / 1000, 3);
      return { count: h.totalCount, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: round(h.maxValue / 1000, 3), mean: round(h.mean / 1000, 3), negative };
    },
  };
}

const ledger = new DeliveryLedger(n);
const fromIntended = histogram();
const fromSent = histogram();
const settled = histogram();
/** Diagnostics: the broker's stored-at time (ms, from the ack subject) splits the latency in two. */
const storedFromIntended = histogram();
const startFromStored = histogram();
let settledCount = 0;
let warmSeen = 0;
let tFirst = 0;
let tLast = 0;
let lastEvent = 0;
let allSettled: () => void = () => undefined;
const done = new Promise<'done'>((r) => (allSettled = () => r('done')));
let stopRequested: () => void = () => undefined;
const stopSignal = new Promise<'stopped'>((r) => (stopRequested = () => r('stopped')));
process.once('SIGTERM', () => stopRequested());

function onStart(seq: number, intended: number, sent: number, storedAt = 0): void {
  const now = epochMs();
  lastEvent = now;
  if (seq < 0) {
    warmSeen++;
    return;
  }
  if (ledger.mark(seq)) {
    fromIntended.record(now - intended);
    fromSent.record(now - sent);
    if (storedAt > 0) {
      storedFromIntended.record(storedAt - intended);
      startFromStored.record(now - storedAt);
    }
    if (ledger.unique === 1) tFirst = now;
    tLast = now;
  }
}

function onSettled(seq: number, intended: number): void {
  if (seq < 0) return;
  const now = epochMs();
  lastEvent = now;
  settled.record(now - intended);
  settledCount++;
  if (settledCount >= n && ledger.unique === n) allSettled();
}

/** GC pauses and event-loop delay from now on (diagnostics: where a latency tail may come from). */
function diagnostics(): () => Record<string, unknown> {
  const gc = { count: 0, totalMs: 0, maxMs: 0, over5ms: 0 };
  /** The same per kind of collection (scavenge, mark-compact, incremental marking step, weak callbacks). */
  const byKind: Record<string, { count: number; total_ms: number; max_ms: number; over_5ms: number }> = {};
  const kindName = (k: unknown): string => ({ 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' })[Number(k)] ?? String(k);
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count++;
      gc.totalMs += e.duration;
      if (e.duration > gc.maxMs) gc.maxMs = e.duration;
      if (e.duration > 5) gc.over5ms++;
      const name = kindName((e as unknown as { detail?: { kind?: number } }).detail?.kind);
      const k = (byKind[name] ??= { count: 0, total_ms: 0, max_ms: 0, over_5ms: 0 });
      k.count++;
      k.total_ms = round(k.total_ms + e.duration);
      k.max_ms = round(Math.max(k.max_ms, e.duration));
      if (e.duration > 5) k.over_5ms++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  const elu = performance.eventLoopUtilization();
  return () => {
    const used = performance.eventLoopUtilization(elu);
    eld.disable();
    obs.disconnect();
    return {
      gc: { count: gc.count, total_ms: round(gc.totalMs), max_ms: round(gc.maxMs), over_5ms: gc.over5ms, by_kind: byKind },
      event_loop_delay_ms: { p50: round(eld.percentile(50) / 1e6), p99: round(eld.percentile(99) / 1e6), max: round(eld.max / 1e6) },
      event_loop_utilization: round(used.utilization, 3),
    };
  };
}

/** Wait until every measured task settled (then `lingerMs` of quiet), SIGTERM, or the deadline. */
async function waitForAll(): Promise<'done' | 'stopped' | 'timeout'> {
  const outcome = await Promise.race([done, stopSignal, sleep(deadlineMs - 5_000).then(() => 'timeout' as const)]);
  if (outcome === 'done') while (epochMs() - lastEvent < lingerMs) await sleep(Math.max(10, lingerMs - (epochMs() - lastEvent)));
  return outcome;
}

function report(outcome: string, diag: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const mem = procMemory('self');
  return {
    outcome,
    mode,
    n,
    concurrency,
    unique: ledger.unique,
    duplicates: ledger.duplicates,
    missing: ledger.missing,
    out_of_range: ledger.outOfRange,
    warmup_seen: warmSeen,
    settled: settledCount,
    t_first: tFirst,
    t_last: tLast,
    start_tasks_s: perSecond(Math.max(0, ledger.unique - 1), tLast - tFirst),
    start_from_intended_ms: fromIntended.summary(),
    start_from_sent_ms: fromSent.summary(),
    settled_from_intended_ms: settled.summary(),
    stored_from_intended_ms: storedFromIntended.summary(),
    start_from_stored_ms: startFromStored.summary(),
    rss_mb: mem ? round(mem.rssMb, 1) : null,
    hwm_mb: mem ? round(mem.hwmMb, 1) : null,
    ...diag,
    ...extra,
  };
}

async function celeriac(): Promise<Record<string, unknown>> {
  const app = createApp({ name, broker: url });
  app.task('lat.noop', async (ctx, seq: number, intended: number, sent: number) => onStart(seq, intended, sent, ctx.delivery.storedAt), { ignoreResult: true });
  app.task('lat.rt', async (ctx, seq: number, intended: number, sent: number) => {
    onStart(seq, intended, sent, ctx.delivery.storedAt);
    return seq;
  });
  app.signals.on('postrun', (e) => {
    const [seq, intended] = e.args as [number, number];
    if (e.state === 'SUCCESS') onSettled(seq, intended);
  });
  const worker = app.worker({ concurrency, logger: silentLogger, events: process.env.BENCH_EVENTS !== '0' });
  await worker.start();
  const diag = diagnostics();
  // Diagnostics only: BENCH_LAT_PROFILE_DIR writes a CPU and an allocation profile of the run.
  const profiler = process.env.BENCH_LAT_PROFILE_DIR ? await startProfiling() : undefined;
  emit('ready', { role: 'latency-worker:celeriac' });
  const outcome = await waitForAll();
  const d = diag();
  if (profiler) d.profile = await profiler.stop(process.env.BENCH_LAT_PROFILE_DIR as string, `latency-worker-${process.pid}`);
  const stats = worker.stats();
  await worker.stop(5_000);
  await app.close();
  return report(outcome, d, { stats });
}

async function raw(): Promise<Record<string, unknown>> {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name, subjects: [`${name}.tasks`], storage: StorageType.File, retention: RetentionPolicy.Workqueue, max_msgs: -1, max_bytes: -1 });
  await jsm.consumers.add(name, { durable_name: 'w', ack_policy: AckPolicy.Explicit, max_ack_pending: 20_000, ack_wait: 30_000_000_000 });
  const c = await jetstream(nc).consumers.get(name, 'w');
  const msgs = await c.consume({ max_messages: concurrency });
  const diag = diagnostics();
  emit('ready', { role: 'latency-worker:raw' });
  void (async () => {
    for await (const m of msgs) {
      const f = new Float64Array(m.data.buffer.slice(m.data.byteOffset, m.data.byteOffset + 24));
      const seq = f[0] as number;
      const intended = f[1] as number;
      onStart(seq, intended, f[2] as number, Math.floor(Number(m.info.timestampNanos) / 1e6));
      m.ack();
      onSettled(seq, intended);
    }
  })();
  const outcome = await waitForAll();
  const d = diag();
  await nc.flush();
  msgs.stop();
  await nc.close();
  return report(outcome, d, {});
}

if (mode !== 'celeriac' && mode !== 'raw') {
  console.error(`unknown mode ${JSON.stringify(mode)}; celeriac or raw`);
  process.exit(2);
}
runRole(`latency-worker:${mode}`, deadlineMs, mode === 'celeriac' ? celeriac : raw);
