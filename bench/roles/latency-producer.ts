/**
 * Producer of the W2 latency scenario (bench/latency.ts).
 *
 *   node --import tsx bench/roles/latency-producer.ts open     <url> <app>    <rate> <n> <warmupMs> <rtEvery>
 *   node --import tsx bench/roles/latency-producer.ts raw-open <url> <stream> <rate> <n> <warmupMs>
 *   node --import tsx bench/roles/latency-producer.ts max      <url> <app>    <n> <window> <warmupN>
 *
 * open: an open-loop Celeriac producer (same app shape as latency-worker.ts; the task bodies run
 * only in the worker). Task j (warm-up first, then seq 0..n-1) has the intended send time
 * t_j = t0 + j / rate and is sent at t_j, or at once when the producer is behind; it carries t_j,
 * so a stall anywhere (here, in the broker, in the worker) shows up in the latency of every task
 * that should have been sent meanwhile (no coordinated omission). Between sends the thread sleeps
 * in `Atomics.wait` (sub-ms, no spinning: broker, worker and producer share 2 cores) or, for gaps
 * over 2 ms, in a timer; after each burst it yields one event-loop turn so PubAcks and results are
 * read. Every `rtEvery`-th task is `lat.rt` (result stored) and the producer awaits its `get()`:
 * intended send → result visible here. Prints `{"event":"ready"}` once connected and primed (one
 * `lat.rt` ran in a worker), and starts the schedule right after, so the orchestrator can time the
 * measured window.
 *
 * raw-open: the same schedule with plain core `PUB` + PubAck inbox (no Celeriac) of a 24-byte
 * payload (seq, intended, sent as float64) to `<stream>.tasks`, for the raw baseline.
 *
 * With BENCH_LAT_PROFILE_DIR, open writes a CPU and an allocation profile there (diagnostics).
 *
 * max: closed loop, `window` publishes outstanding (like the celeriac-e2e probe) after `warmupN`
 * untimed tasks; the worker's last start time gives the maximum sustainable rate.
 * @module
 */
import { type NatsConnection, connect } from '@nats-io/transport-node';
import hdr from 'hdr-histogram-js';
import { createApp } from '../../src/index.ts';
import { createWindow, emit, epochMs, num, perSecond, round, runRole, sleep } from '../lib/measure.ts';
import { startProfiling } from '../lib/profile.ts';

const [mode, url = '', name = 'bench-lat', ...rest] = process.argv.slice(2);
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 150_000);
const GET_TIMEOUT_MS = 30_000;
/** Most tasks sent in one burst (when behind) before the producer yields to read its socket. */
const MAX_BURST = 256;

function buildApp() {
  const app = createApp({ name, broker: url });
  const runsInWorker = () => {
    throw new Error('runs in the worker');
  };
  const noop = app.task<[number, number, number], void>('lat.noop', runsInWorker, { ignoreResult: true });
  const rt = app.task<[number, number, number], number>('lat.rt', runsInWorker);
  return { app, noop, rt };
}

function histogram() {
  const h = hdr.build({ numberOfSignificantValueDigits: 3 });
  let negative = 0;
  return {
    record(ms: number) {
      if (ms < 0) negative++;
      h.recordValue(Math.max(0, Math.round(ms * 1000)));
    },
    summary(): Record<string, number> | null {
      if (h.totalCount === 0) return null;
      const at = (p: number) => round(h.getValueAtPercentile(p) / 1000, 3);
      return { count: h.totalCount, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: round(h.maxValue / 1000, 3), mean: round(h.mean / 1000, 3), negative };
    },
  };
}

const napCell = new Int32Array(new SharedArrayBuffer(4));
/** Block this thread for `ms` (fractional) without spinning. */
function nap(ms: number): void {
  Atomics.wait(napCell, 0, 0, ms);
}
const turn = () => new Promise<void>((r) => setImmediate(r));

/** Counts of one open-loop run, filled by the `send` callbacks. */
interface Tally {
  outstanding: number;
  maxOutstanding: number;
  publishErrors: number;
  rtErrors: number;
  wrongResults: number;
  firstError: string | undefined;
}

function newTally(): Tally {
  return { outstanding: 0, maxOutstanding: 0, publishErrors: 0, rtErrors: 0, wrongResults: 0, firstError: undefined };
}

function failed(t: Tally, kind: 'publish' | 'rt', err: unknown): void {
  if (kind === 'publish') t.publishErrors++;
  else t.rtErrors++;
  t.firstError ??= `${kind}: ${(err as Error)?.message ?? String(err)}`;
}

/**
 * The open-loop schedule: `warmN` warm-up sends (seq −2, −3, …) then `n` measured ones (seq 0..n-1)
 * at `rate` per second from now on; `send(j, seq, intended, now)` publishes one. Resolves when the
 * last one was sent, with the timing fields of the report.
 */
async function schedule(rate: number, warmN: number, n: number, send: (j: number, seq: number, intended: number, now: number) => void): Promise<Record<string, unknown>> {
  const total = warmN + n;
  const interval = 1000 / rate;
  const sendLag = histogram();
  emit('ready', { role: `latency-producer:${mode}` });
  const t0 = epochMs() + 1;
  let tFirstSent = 0;
  let tLastSent = 0;
  let j = 0;
  while (j < total) {
    let now = epochMs();
    const wait = t0 + j * interval - now;
    if (wait > 0) {
      if (wait > 2) await sleep(wait - 1.5);
      else nap(wait);
      continue;
    }
    // Send everything due (bounded), each with its intended time, then read the socket.
    for (let burst = 0; j < total && burst < MAX_BURST && t0 + j * interval <= now; burst++, j++) {
      const intended = t0 + j * interval;
      const seq = j < warmN ? -2 - j : j - warmN;
      now = epochMs();
      if (seq >= 0) {
        sendLag.record(now - intended);
        if (seq === 0) tFirstSent = now;
        tLastSent = now;
      }
      send(j, seq, intended, now);
    }
    await turn();
  }
  return {
    rate,
    n,
    warmup_n: warmN,
    t0_measured: t0 + warmN * interval,
    t_end_intended: t0 + (total - 1) * interval,
    t_first_sent: tFirstSent,
    t_last_sent: tLastSent,
    send_tasks_s: perSecond(Math.max(0, n - 1), tLastSent - tFirstSent),
    send_lag_ms: sendLag.summary(),
  };
}

function tallyFields(t: Tally): Record<string, unknown> {
  return { max_outstanding_pubacks: t.maxOutstanding, publish_errors: t.publishErrors, rt_errors: t.rtErrors, wrong_results: t.wrongResults, first_error: t.firstError ?? null };
}

async function openLoop(): Promise<Record<string, unknown>> {
  const rate = num(rest[0], 1000);
  const n = num(rest[1], 10_000);
  const warmN = Math.round((rate * num(rest[2], 2_000)) / 1000);
  const rtEvery = num(rest[3], 0);
  const { app, noop, rt } = buildApp();
  // Priming, not on the schedule: connect, stream and consumer lookup, result router, and one task
  // run by the worker (so `ready` also means a worker takes tasks).
  await noop.delay(-1, epochMs(), epochMs());
  await (await rt.delay(-1, epochMs(), epochMs())).get({ timeout: GET_TIMEOUT_MS });

  const t = newTally();
  const roundTrip = histogram();
  const pending = new Set<Promise<unknown>>();
  // Diagnostics only: BENCH_LAT_PROFILE_DIR writes a CPU and an allocation profile of the run.
  const profiler = process.env.BENCH_LAT_PROFILE_DIR ? await startProfiling() : undefined;
  const timing = await schedule(rate, warmN, n, (j, seq, intended, now) => {
    if (rtEvery > 0 && j % rtEvery === 0) {
      const p = rt.delay(seq, intended, now).then(
        (r) =>
          r.get({ timeout: GET_TIMEOUT_MS }).then(
            (v) => {
              if (v !== seq) t.wrongResults++;
              else if (seq >= 0) roundTrip.record(epochMs() - intended);
            },
            (err: unknown) => failed(t, 'rt', err),
          ),
        (err: unknown) => failed(t, 'publish', err),
      );
      pending.add(p);
      void p.finally(() => pending.delete(p));
      return;
    }
    t.outstanding++;
    if (t.outstanding > t.maxOutstanding) t.maxOutstanding = t.outstanding;
    noop.delay(seq, intended, now).then(
      () => t.outstanding--,
      (err: unknown) => {
        t.outstanding--;
        failed(t, 'publish', err);
      },
    );
  });
  while (t.outstanding > 0) await sleep(5);
  await Promise.all(pending);
  const tAcked = epochMs();
  const profile = profiler ? await profiler.stop(process.env.BENCH_LAT_PROFILE_DIR as string, `latency-producer-${process.pid}`) : undefined;
  await app.close();
  return { probe: 'latency-open', rt_every: rtEvery, ...timing, t_acked: tAcked, round_trip_ms: roundTrip.summary(), ...tallyFields(t), ...(profile ? { profile } : {}) };
}

/** Core PUB with reply `<inbox>.<j>` and one wildcard subscription for the PubAcks. */
function rawPublisher(nc: NatsConnection, subject: string, t: Tally): (seq: number, intended: number, sent: number) => void {
  const inbox = `_LAT.${Math.random().toString(36).slice(2)}`;
  const dec = new TextDecoder();
  let k = 0;
  nc.subscribe(`${inbox}.*`, {
    callback: (_err, m) => {
      t.outstanding--;
      if (m.data.length > 0 && dec.decode(m.data).includes('"error"')) failed(t, 'publish', new Error(dec.decode(m.data)));
    },
  });
  return (seq, intended, sent) => {
    t.outstanding++;
    if (t.outstanding > t.maxOutstanding) t.maxOutstanding = t.outstanding;
    nc.publish(subject, new Uint8Array(Float64Array.of(seq, intended, sent).buffer), { reply: `${inbox}.${k++}` });
  };
}

async function rawOpen(): Promise<Record<string, unknown>> {
  const rate = num(rest[0], 1000);
  const n = num(rest[1], 10_000);
  const warmN = Math.round((rate * num(rest[2], 2_000)) / 1000);
  const nc = await connect({ servers: url });
  const t = newTally();
  const publish = rawPublisher(nc, `${name}.tasks`, t);
  publish(-1, epochMs(), epochMs());
  while (t.outstanding > 0) await sleep(5);
  const timing = await schedule(rate, warmN, n, (_j, seq, intended, now) => publish(seq, intended, now));
  while (t.outstanding > 0) await sleep(5);
  await nc.close();
  return { probe: 'latency-raw-open', ...timing, ...tallyFields(t) };
}

async function maxRate(): Promise<Record<string, unknown>> {
  const n = num(rest[0], 30_000);
  const window = num(rest[1], 64);
  const warmupN = num(rest[2], 2_000);
  const { app, noop } = buildApp();
  const publish = async (from: number, count: number) => {
    const w = createWindow(window);
    for (let i = from; i < from + count; i++) {
      await w.room();
      const t = epochMs();
      w.add(noop.delay(i, t, t));
    }
    await w.drain();
  };
  await publish(-1 - warmupN, warmupN);
  await sleep(300);
  const tStart = epochMs();
  await publish(0, n);
  const tPublished = epochMs();
  await app.close();
  return { probe: 'latency-max', n, window, t_start: tStart, publish_tasks_s: perSecond(n, tPublished - tStart) };
}

const mains: Record<string, () => Promise<Record<string, unknown>>> = { open: openLoop, 'raw-open': rawOpen, max: maxRate };
const main = mains[mode ?? ''];
if (!main) {
  console.error(`unknown mode ${JSON.stringify(mode)}; one of ${Object.keys(mains).join(', ')}`);
  process.exit(2);
}
runRole(`latency-producer:${mode}`, deadlineMs, main);
