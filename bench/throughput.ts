/**
 * `npm run bench`: raw JetStream probes, Celeriac probes and BullMQ side by side on one box, each
 * role in its own process, against a nats-server started here (fresh store) and Redis on
 * 127.0.0.1:$BENCH_REDIS_PORT (BullMQ probes are skipped when it does not answer).
 *
 * Environment: BENCH_N (throughput size, default 50000), BENCH_RT_N (round trips, default N/5),
 * BENCH_REPEAT (default 5), BENCH_SWEEP (worker concurrencies of the e2e sweep, default 16,64,256), BENCH_WORKER_CONCURRENCY (Celeriac worker slots, default 64),
 * BENCH_E2E_WINDOW (producer publishes outstanding in e2e, default 64), BENCH_REDIS_PORT (6379),
 * BENCH_OUT (result file, default bench/results/latest.json). See docs/benchmarks.md.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { numberOf, runScenario, startBenchServer, wipeStreams } from './lib/scenario.ts';
import { ROOT, killAllRoles, runRoleProcess, startRole } from './lib/child.ts';
import { machineInfo } from './lib/machine.ts';
import { num, sleep } from './lib/measure.ts';
import { type ProbeInfo, type ProbeRun, computeChecks, formatReport, summarize } from './lib/report.ts';
import { lineChart } from './lib/svg.ts';
import { celeryE2e, celeryRoundTrip, celeryUnavailable } from './lib/celery.ts';

const N = num(process.env.BENCH_N, 50_000);
const RT_N = num(process.env.BENCH_RT_N, Math.max(500, Math.round(N / 5)));
const REPEAT = num(process.env.BENCH_REPEAT, 5);
const CONCURRENCY = num(process.env.BENCH_WORKER_CONCURRENCY, 64);
const E2E_WINDOW = num(process.env.BENCH_E2E_WINDOW, 64);
const REDIS_PORT = num(process.env.BENCH_REDIS_PORT, 6379);
const WARMUP = Math.min(2_000, Math.max(100, Math.round(N / 25)));
const RT_WARMUP = 256;
const LANES = 64;
/** Hard limit per role process. */
const ROLE_TIMEOUT_MS = num(process.env.BENCH_ROLE_TIMEOUT_MS, 120_000);
const OUT = resolve(ROOT, process.env.BENCH_OUT ?? 'bench/results/latest.json');

const SIZES = {
  rawLeanPublish: 4 * N,
  rawConsume: 2 * N,
  rawStockPublish: N,
  enqueue: 2 * N,
  enqueueSingle: Math.max(1000, Math.round(N / 10)),
  e2e: N,
  roundTrip: RT_N,
};
/** Worker concurrencies of the e2e sweep (throughput vs concurrency chart); 64 is the main e2e probe. */
const SWEEP = (process.env.BENCH_SWEEP ?? '16,64,256')
  .split(',')
  .map((x) => Number(x.trim()))
  .filter((x) => Number.isInteger(x) && x > 0);
const CHART = resolve(ROOT, process.env.BENCH_CHART ?? 'docs/bench/throughput-concurrency.svg');

const PROBES: ProbeInfo[] = [
  { id: 'raw-lean-publish', label: `(a) raw lean pipelined JS publish, window 2000, ${SIZES.rawLeanPublish}`, unit: 'msgs/s' },
  { id: 'raw-consume-ack', label: `(b) raw consume({max_messages:1000}) + ack, ${SIZES.rawConsume}`, unit: 'msgs/s' },
  { id: 'raw-e2e', label: `(b') raw e2e: lean publish (window ${E2E_WINDOW}) and consume+ack in two processes at once, ${N}`, unit: 'msgs/s' },
  { id: 'raw-e2e-msgid', label: `(b'') the same with a Nats-Msg-Id on every message, as Celeriac's protocol has`, unit: 'msgs/s' },
  { id: 'raw-stock-publish', label: `(c) raw stock js.publish(), window 1000, ${SIZES.rawStockPublish}`, unit: 'msgs/s' },
  { id: 'celeriac-enqueue', label: `(d) Celeriac noop.delay() pipelined, window 1000, ${SIZES.enqueue}`, unit: 'tasks/s' },
  { id: 'celeriac-enqueue-bulk', label: `(d') Celeriac noop.delayMany() bulk, chunks of 10000, ${SIZES.enqueue}`, unit: 'tasks/s' },
  { id: 'celeriac-enqueue-single', label: `(d'') Celeriac await noop.delay() one at a time, ${SIZES.enqueueSingle}`, unit: 'tasks/s' },
  { id: 'celeriac-e2e', label: `(e) Celeriac noop e2e (steady state), window ${E2E_WINDOW}, worker c=${CONCURRENCY}, ${SIZES.e2e}`, unit: 'tasks/s' },
  ...SWEEP.filter((c) => c !== CONCURRENCY).map((c) => ({ id: `celeriac-e2e-c${c}`, label: `(e) the same, worker c=${c}`, unit: 'tasks/s' })),
  { id: 'celeriac-e2e-results', label: `(e-r) the same with results stored in KV`, unit: 'tasks/s' },
  { id: 'celeriac-drain', label: `(e-d) Celeriac drain: ${SIZES.e2e} enqueued first, then one worker c=${CONCURRENCY}`, unit: 'tasks/s' },
  { id: 'celeriac-e2e-trace100', label: `(e') the same with an OpenTelemetry SDK sampling 100 %`, unit: 'tasks/s' },
  { id: 'celeriac-e2e-trace1', label: `(e'') the same with an OpenTelemetry SDK, parent-based 1 % sampling`, unit: 'tasks/s' },
  { id: 'celeriac-rt', label: `(f) Celeriac round trip (KV result), ${LANES} lanes, worker c=${CONCURRENCY}, ${SIZES.roundTrip}`, unit: 'tasks/s' },
  { id: 'bullmq-e2e', label: `BullMQ e2e, add x64 + Worker c=64, ${SIZES.e2e}`, unit: 'jobs/s' },
  { id: 'bullmq-rt-c64', label: `BullMQ round trip, ${LANES} lanes, Worker c=64, ${SIZES.roundTrip}`, unit: 'jobs/s' },
  { id: 'celery-e2e', label: `Celery 5 + Redis e2e, prefork worker c=2, ${Math.min(N, 10_000)}`, unit: 'tasks/s' },
  { id: 'celery-rt', label: `Celery 5 + Redis round trip, ${LANES} threads, prefork c=2, ${Math.min(RT_N, 2_000)}`, unit: 'tasks/s' },
  { id: 'bullmq-rt-c256', label: `BullMQ round trip, ${LANES} lanes, Worker c=256, ${SIZES.roundTrip}`, unit: 'jobs/s' },
];

interface Ctx {
  url: string;
  nc: NatsConnection;
  repeat: number;
  /** Env of every role: BENCH_NATS_PID, so the worker reads the server's CPU time. */
  env: Record<string, string>;
}
type ProbeResult = Omit<ProbeRun, 'probe' | 'repeat' | 'ok'>;

async function streamMessages(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(stream)).state.messages;
}

/** Start a worker role, wait until it is ready, run the producer role; stop the worker if the producer fails. */
async function workerAndProducer(
  worker: [string, (string | number)[]],
  producer: [string, (string | number)[]],
  env: Record<string, string> = {},
): Promise<{ w: Record<string, unknown>; p: Record<string, unknown> }> {
  const w = startRole(worker[0], worker[1], ROLE_TIMEOUT_MS, env);
  try {
    await Promise.race([w.ready, w.result]);
    const p = await runRoleProcess(producer[0], producer[1], ROLE_TIMEOUT_MS, env);
    return { w: await w.result, p };
  } catch (err) {
    w.stop();
    throw err;
  }
}

/**
 * Noop e2e: producer and worker processes, optionally with an OpenTelemetry SDK in both
 * (BENCH_TRACING), results stored (`results`), or another worker concurrency. CPU-µs per task is
 * the producer's, the worker's and the nats-server's CPU time over the measured window.
 */
async function e2e(c: Ctx, tag: string, env: Record<string, string>, opts: { concurrency?: number; results?: boolean } = {}): Promise<ProbeResult> {
  const app = `bench-${tag}-${c.repeat}`;
  const { w, p } = await workerAndProducer(
    ['celeriac-worker.ts', ['e2e', c.url, app, SIZES.e2e, WARMUP, opts.concurrency ?? CONCURRENCY]],
    ['celeriac-producer.ts', [opts.results ? 'e2e-results' : 'e2e', c.url, app, SIZES.e2e, E2E_WINDOW, WARMUP]],
    { ...c.env, ...env },
  );
  checkDelivery(w);
  if (env.BENCH_TRACING) {
    // The SDK must have been in the path: a run that recorded no spans measured nothing.
    const least = env.BENCH_TRACING === 'sdk-100' ? SIZES.e2e : 1;
    for (const [role, r] of [['worker', w], ['producer', p]] as const) {
      if (typeof r.spans !== 'number' || r.spans < least) throw new Error(`tracing ${env.BENCH_TRACING}: the ${role} ended ${String(r.spans)} spans, expected at least ${least}`);
    }
  }
  const ms = numberOf(w, 't_last') - numberOf(p, 't_start');
  return { value: Math.round((SIZES.e2e / ms) * 1000), cpuUs: cpuPerTask(SIZES.e2e, [p.cpu_ms, w.cpu_ms, w.nats_cpu_ms]), detail: { producer: p, worker: w, e2e_ms: ms } };
}

/** µs of CPU per task from the processes' CPU ms (null when one could not be read). */
function cpuPerTask(n: number, ms: unknown[]): number | undefined {
  if (!ms.every((v): v is number => typeof v === 'number')) return undefined;
  return Math.round((ms.reduce((a, b) => a + b, 0) * 10_000) / n) / 10;
}

/** Enqueue only, one of three ways; the stream must hold exactly what was sent. */
async function enqueue(c: Ctx, mode: 'pipelined' | 'bulk' | 'single', n: number): Promise<ProbeResult> {
  const app = `bench-enq-${mode}-${c.repeat}`;
  const r = await runRoleProcess('celeriac-enqueue.ts', [c.url, app, n, 1000, WARMUP, mode], ROLE_TIMEOUT_MS, c.env);
  const stored = await streamMessages(c.nc, `${app}-tasks`);
  if (stored !== r.expected_msgs) throw new Error(`stream ${app}-tasks holds ${stored} tasks, expected ${String(r.expected_msgs)}`);
  return { value: numberOf(r, 'tasks_s'), detail: { ...r, stream_msgs: stored } };
}

function checkDelivery(r: Record<string, unknown>): void {
  if (r.missing !== 0 || r.duplicates !== 0) throw new Error(`delivery check failed: ${JSON.stringify({ missing: r.missing, duplicates: r.duplicates })}`);
}

const RUNNERS: Record<string, (c: Ctx) => Promise<ProbeResult>> = {
  async 'raw-lean-publish'(c) {
    const r = await runRoleProcess('raw-nats.ts', ['lean-pub', c.url, SIZES.rawLeanPublish, 2000, WARMUP], ROLE_TIMEOUT_MS);
    if (r.stream_msgs !== r.expected_msgs || r.errors !== 0) throw new Error(`stored ${String(r.stream_msgs)} of ${String(r.expected_msgs)}, ${String(r.errors)} errors`);
    return { value: numberOf(r, 'msgs_s'), detail: r };
  },
  async 'raw-consume-ack'(c) {
    const r = await runRoleProcess('raw-nats.ts', ['consume', c.url, SIZES.rawConsume, 1000, WARMUP], ROLE_TIMEOUT_MS);
    return { value: numberOf(r, 'msgs_s'), detail: r };
  },
  async 'raw-e2e'(c) {
    const { w, p } = await workerAndProducer(['raw-nats.ts', ['e2e-consume', c.url, N, 1000, WARMUP]], ['raw-nats.ts', ['e2e-pub', c.url, N, E2E_WINDOW, WARMUP]], c.env);
    const ms = numberOf(w, 't_last') - numberOf(p, 't_start');
    return { value: Math.round((N / ms) * 1000), cpuUs: cpuPerTask(N, [p.cpu_ms, w.cpu_ms, w.nats_cpu_ms]), detail: { producer: p, consumer: w, e2e_ms: ms } };
  },
  async 'raw-e2e-msgid'(c) {
    const { w, p } = await workerAndProducer(['raw-nats.ts', ['e2e-consume', c.url, N, 1000, WARMUP]], ['raw-nats.ts', ['e2e-pub-msgid', c.url, N, E2E_WINDOW, WARMUP]], c.env);
    const ms = numberOf(w, 't_last') - numberOf(p, 't_start');
    return { value: Math.round((N / ms) * 1000), cpuUs: cpuPerTask(N, [p.cpu_ms, w.cpu_ms, w.nats_cpu_ms]), detail: { producer: p, consumer: w, e2e_ms: ms } };
  },
  async 'raw-stock-publish'(c) {
    const r = await runRoleProcess('raw-nats.ts', ['stock-pub', c.url, SIZES.rawStockPublish, 1000, WARMUP], ROLE_TIMEOUT_MS);
    return { value: numberOf(r, 'msgs_s'), detail: r };
  },
  'celeriac-enqueue': (c) => enqueue(c, 'pipelined', SIZES.enqueue),
  'celeriac-enqueue-bulk': (c) => enqueue(c, 'bulk', SIZES.enqueue),
  'celeriac-enqueue-single': (c) => enqueue(c, 'single', SIZES.enqueueSingle),
  'celeriac-e2e': (c) => e2e(c, 'e2e', {}),
  ...Object.fromEntries(SWEEP.filter((k) => k !== CONCURRENCY).map((k) => [`celeriac-e2e-c${k}`, (c: Ctx) => e2e(c, `e2e-c${k}`, {}, { concurrency: k })])),
  'celeriac-e2e-results': (c) => e2e(c, 'e2e-res', {}, { results: true }),
  async 'celeriac-drain'(c) {
    const app = `bench-drain-${c.repeat}`;
    const enq = await runRoleProcess('celeriac-enqueue.ts', [c.url, app, SIZES.e2e, 1000, 0, 'pipelined'], ROLE_TIMEOUT_MS, c.env);
    const w = await runRoleProcess('celeriac-worker.ts', ['e2e', c.url, app, SIZES.e2e, 0, CONCURRENCY], ROLE_TIMEOUT_MS, c.env);
    checkDelivery(w);
    return { value: numberOf(w, 'drain_tasks_s'), cpuUs: cpuPerTask(SIZES.e2e, [w.cpu_ms, w.nats_cpu_ms]), detail: { enqueue: enq, worker: w } };
  },
  'celeriac-e2e-trace100': (c) => e2e(c, 'e2e-t100', { BENCH_TRACING: 'sdk-100' }),
  'celeriac-e2e-trace1': (c) => e2e(c, 'e2e-t1', { BENCH_TRACING: 'sdk-1' }),
  async 'celeriac-rt'(c) {
    const app = `bench-rt-${c.repeat}`;
    const { w, p } = await workerAndProducer(
      ['celeriac-worker.ts', ['rt', c.url, app, SIZES.roundTrip, RT_WARMUP, CONCURRENCY]],
      ['celeriac-producer.ts', ['rt', c.url, app, SIZES.roundTrip, LANES, RT_WARMUP]],
    );
    if (p.wrong_results !== 0) throw new Error(`${String(p.wrong_results)} wrong results`);
    return { value: numberOf(p, 'tasks_s'), p50: numberOf(p, 'p50_ms'), p99: numberOf(p, 'p99_ms'), detail: { producer: p, worker: w } };
  },
  async 'bullmq-e2e'() {
    const queue = `celeriac-bench-${randomUUID().slice(0, 8)}-e2e`;
    try {
      const { w, p } = await workerAndProducer(['bullmq.ts', ['e2e-worker', queue, SIZES.e2e, 64]], ['bullmq.ts', ['e2e-producer', queue, SIZES.e2e, 64, WARMUP]]);
      checkDelivery(w);
      const ms = numberOf(w, 't_last') - numberOf(p, 't_start');
      return { value: Math.round((SIZES.e2e / ms) * 1000), detail: { producer: p, worker: w, e2e_ms: ms, queue } };
    } finally {
      await runRoleProcess('bullmq.ts', ['cleanup', queue], 30_000).catch(() => undefined);
    }
  },
  'celery-e2e': () => celeryE2e(REDIS_PORT, Math.min(N, 10_000), 100, 2, ROLE_TIMEOUT_MS),
  'celery-rt': () => celeryRoundTrip(REDIS_PORT, Math.min(RT_N, 2_000), LANES, 64, 2, ROLE_TIMEOUT_MS),
  'bullmq-rt-c64': () => bullRoundTrip(64),
  'bullmq-rt-c256': () => bullRoundTrip(256),
};

async function bullRoundTrip(concurrency: number): Promise<ProbeResult> {
  const queue = `celeriac-bench-${randomUUID().slice(0, 8)}-rt`;
  try {
    const { w, p } = await workerAndProducer(
      ['bullmq.ts', ['rt-worker', queue, SIZES.roundTrip + RT_WARMUP, concurrency]],
      ['bullmq.ts', ['rt-producer', queue, SIZES.roundTrip, LANES, RT_WARMUP]],
    );
    if (p.wrong_results !== 0) throw new Error(`${String(p.wrong_results)} wrong results`);
    return { value: numberOf(p, 'tasks_s'), p50: numberOf(p, 'p50_ms'), p99: numberOf(p, 'p99_ms'), detail: { producer: p, worker: w, queue } };
  } finally {
    await runRoleProcess('bullmq.ts', ['cleanup', queue], 30_000).catch(() => undefined);
  }
}

async function main(): Promise<number> {
  const machine = await machineInfo(REDIS_PORT);
  const startedAt = new Date().toISOString();
  console.log(`celeriac bench: N=${N} RT_N=${RT_N} repeat=${REPEAT} warm-up=${WARMUP} concurrency=${CONCURRENCY} e2e window=${E2E_WINDOW}`);
  console.log(`machine: ${machine.cores} x ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}, ${machine.natsServer}, redis ${machine.redis ?? 'not answering'}, ioredis ${machine.ioredis ?? 'not installed'}`);
  const bullmqSkip =
    machine.redis === null
      ? `no Redis answers on 127.0.0.1:${REDIS_PORT}`
      : machine.ioredis === null
        ? "the 'ioredis' package (an optional peer of bullmq) is not installed: npm install -D ioredis"
        : null;
  // BENCH_ONLY=raw-consume-ack,celeriac-e2e runs a subset (for iterating on one path).
  const only = process.env.BENCH_ONLY?.split(',').map((x) => x.trim()).filter(Boolean);
  // The Celery peer runs where Debian's python3-celery and python3-redis are installed (and Redis answers).
  const celerySkip = bullmqSkip ? `no Redis for Celery either (${bullmqSkip})` : celeryUnavailable();
  const probes = PROBES.filter((p) => !(bullmqSkip && p.id.startsWith('bullmq')) && !(celerySkip && p.id.startsWith('celery-')) && (!only || only.includes(p.id)));
  if (bullmqSkip) console.log(`note: BullMQ probes skipped: ${bullmqSkip}`);
  if (celerySkip) console.log(`note: Celery probes skipped: ${celerySkip}`);

  const server = await startBenchServer();
  let nc: NatsConnection | undefined;
  const runs: ProbeRun[] = [];
  try {
    nc = await connect({ servers: server.url });
    for (let repeat = 1; repeat <= REPEAT; repeat++) {
      for (const probe of probes) {
        const runner = RUNNERS[probe.id];
        if (!runner) continue;
        const t0 = Date.now();
        process.stdout.write(`[${repeat}/${REPEAT}] ${probe.label} ... `);
        try {
          const r = await runner({ url: server.url, nc, repeat, env: server.pid === undefined ? {} : { BENCH_NATS_PID: String(server.pid) } });
          runs.push({ probe: probe.id, repeat, ok: true, ...r });
          const lat = (r.p50 === undefined ? '' : ` (p50 ${r.p50} ms, p99 ${r.p99} ms)`) + (r.cpuUs === undefined ? '' : ` ${r.cpuUs} CPU-µs/task`);
          console.log(`${(r.value ?? 0).toLocaleString('en-US')} ${probe.unit}${lat} [${((Date.now() - t0) / 1000).toFixed(1)} s]`);
        } catch (err) {
          const message = (err as Error).message ?? String(err);
          runs.push({ probe: probe.id, repeat, ok: false, error: message });
          console.log(`FAILED [${((Date.now() - t0) / 1000).toFixed(1)} s]\n${message}`);
        }
        killAllRoles();
        await wipeStreams(nc).catch((err: unknown) => console.log(`(could not wipe streams: ${(err as Error).message})`));
        await sleep(500);
      }
    }
  } finally {
    killAllRoles();
    await nc?.close().catch(() => undefined);
    await server.stop();
  }

  const summary = summarize(probes, runs);
  const checks = computeChecks(summary);
  console.log(`\n${formatReport(summary, checks)}`);
  const out = {
    startedAt,
    finishedAt: new Date().toISOString(),
    bullmqSkipped: bullmqSkip,
    config: { N, RT_N, REPEAT, WARMUP, RT_WARMUP, LANES, CONCURRENCY, E2E_WINDOW, SWEEP, sizes: SIZES },
    machine: { ...machine, loadavgEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    summary,
    checks,
    runs,
  };
  await mkdir(dirname(OUT), { recursive: true });
  await writeFile(OUT, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\nwrote ${relative(ROOT, OUT)}`);
  // Throughput vs worker concurrency, against raw consume+ack and BullMQ of the same run.
  const med = (id: string) => summary.find((x) => x.id === id)?.median ?? null;
  const sweep = SWEEP.map((k) => [k, med(k === CONCURRENCY ? 'celeriac-e2e' : `celeriac-e2e-c${k}`)] as const).filter((x): x is readonly [number, number] => x[1] !== null);
  if (sweep.length > 1) {
    const flat = (id: string, name: string) => (med(id) === null ? [] : [{ name, points: SWEEP.map((k) => [k, med(id) as number] as const) }]);
    await mkdir(dirname(CHART), { recursive: true });
    await writeFile(
      CHART,
      lineChart({
        title: `Noop e2e throughput vs worker concurrency (median of ${REPEAT})`,
        xLabel: 'worker concurrency (async slots)',
        yLabel: 'tasks/s',
        logX: true,
        series: [{ name: 'Celeriac e2e', points: sweep }, ...flat('raw-e2e', 'raw e2e (window 64)'), ...flat('raw-consume-ack', 'raw consume+ack'), ...flat('bullmq-e2e', 'BullMQ e2e (c=64)')],
      }),
    );
    console.log(`wrote ${relative(ROOT, CHART)}`);
  }
  return runs.some((r) => !r.ok) ? 1 : 0;
}

runScenario(main);
