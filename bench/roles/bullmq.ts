/**
 * BullMQ side-by-side probes (mirrors `bullmq-bench.cjs` of docs/benchmarks.md), each role its own
 * process. Queue names are unique per run; `cleanup` obliterates them.
 *
 *   node --import tsx bench/roles/bullmq.ts e2e-worker   <queue> <n> <concurrency>
 *   node --import tsx bench/roles/bullmq.ts e2e-producer <queue> <n> <window> <warmup>
 *   node --import tsx bench/roles/bullmq.ts rt-worker    <queue> <n+warmup> <concurrency>
 *   node --import tsx bench/roles/bullmq.ts rt-producer  <queue> <n> <lanes> <warmup>
 *   node --import tsx bench/roles/bullmq.ts cleanup      <queue> [<queue> ...]
 * Redis: 127.0.0.1:$BENCH_REDIS_PORT (default 6379).
 * @module
 */
import { type ConnectionOptions, type Job, Queue, QueueEvents, Worker } from 'bullmq';
import { DeliveryLedger, createWindow, emit, epochMs, num, perSecond, roundTrip, runRole, sleep } from '../lib/measure.ts';

const connection: ConnectionOptions = { host: '127.0.0.1', port: num(process.env.BENCH_REDIS_PORT, 6379) };
/** ~230-byte JSON job, comparable to the 256-byte raw NATS payload. */
const PAD = 'x'.repeat(200);
const JOB_OPTS = { removeOnComplete: true, removeOnFail: true };
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 150_000);
const [mode, queue = 'bench', a, b, c] = process.argv.slice(2);

interface BenchJob {
  i: number;
  x: number;
  y: number;
  pad: string;
}

let stopRequested: () => void = () => undefined;
const stopSignal = new Promise<void>((r) => (stopRequested = r));
process.once('SIGTERM', () => stopRequested());

async function e2eWorker(): Promise<Record<string, unknown>> {
  const n = num(a, 50_000);
  const concurrency = num(b, 64);
  const ledger = new DeliveryLedger(n);
  let tFirst = 0;
  let tLast = 0;
  let allSeen: () => void = () => undefined;
  const done = new Promise<void>((r) => (allSeen = r));
  const w = new Worker<BenchJob>(
    queue,
    async (job: Job<BenchJob>) => {
      const i = job.data.i;
      if (i >= 0 && ledger.mark(i)) {
        const t = epochMs();
        if (ledger.unique === 1) tFirst = t;
        if (ledger.unique === n) {
          tLast = t;
          allSeen();
        }
      }
      return 1;
    },
    { connection, concurrency },
  );
  await w.waitUntilReady();
  emit('ready', { role: 'bullmq:e2e-worker' });
  const outcome = await Promise.race([done.then(() => 'done'), stopSignal.then(() => 'stopped'), sleep(deadlineMs - 5_000).then(() => 'timeout')]);
  await w.close();
  if (outcome !== 'done') throw new Error(`worker ${outcome} with ${ledger.unique}/${n} jobs seen`);
  return {
    probe: 'bullmq-e2e-worker',
    n,
    concurrency,
    t_first: tFirst,
    t_last: tLast,
    drain_jobs_s: perSecond(n - 1, tLast - tFirst),
    unique: ledger.unique,
    duplicates: ledger.duplicates,
    missing: ledger.missing,
  };
}

async function e2eProducer(): Promise<Record<string, unknown>> {
  const n = num(a, 50_000);
  const window = num(b, 64);
  const warmup = num(c, 0);
  const q = new Queue<BenchJob>(queue, { connection });
  const publish = async (from: number, count: number) => {
    const w = createWindow(window);
    for (let i = from; i < from + count; i++) {
      await w.room();
      w.add(q.add('noop', { i, x: 1, y: 2, pad: PAD }, JOB_OPTS));
    }
    await w.drain();
  };
  await publish(-warmup, warmup);
  await sleep(300);
  const tStart = epochMs();
  await publish(0, n);
  const tAdded = epochMs();
  await q.close();
  return { probe: 'bullmq-e2e-producer', n, window, t_start: tStart, add_jobs_s: perSecond(n, tAdded - tStart) };
}

async function rtWorker(): Promise<Record<string, unknown>> {
  const expect = num(a, 10_000);
  const concurrency = num(b, 256);
  let completed = 0;
  let failed = 0;
  const w = new Worker<BenchJob, number>(queue, async (job: Job<BenchJob>) => job.data.x + job.data.y, { connection, concurrency });
  w.on('completed', () => completed++);
  w.on('failed', () => failed++);
  await w.waitUntilReady();
  emit('ready', { role: 'bullmq:rt-worker' });
  let stop = false;
  void stopSignal.then(() => (stop = true));
  const giveUpAt = Date.now() + deadlineMs - 5_000;
  while (completed + failed < expect && !stop && Date.now() < giveUpAt) await sleep(20);
  await w.close();
  if (completed + failed < expect) throw new Error(`worker stopped with ${completed}/${expect} jobs completed`);
  return { probe: 'bullmq-rt-worker', concurrency, completed, failed };
}

async function rtProducer(): Promise<Record<string, unknown>> {
  const n = num(a, 10_000);
  const lanes = num(b, 64);
  const warmup = num(c, 0);
  const q = new Queue<BenchJob, number>(queue, { connection });
  const qe = new QueueEvents(queue, { connection });
  await qe.waitUntilReady();
  const report = await roundTrip('bullmq-roundtrip', n, lanes, warmup, async (i) => {
    const job = await q.add('add', { i, x: i, y: 1, pad: PAD }, { removeOnComplete: 1000, removeOnFail: true });
    return job.waitUntilFinished(qe, 30_000);
  });
  await qe.close();
  await q.close();
  return report;
}

async function cleanup(): Promise<Record<string, unknown>> {
  const names = process.argv.slice(3);
  for (const name of names) {
    const q = new Queue(name, { connection });
    await q.obliterate({ force: true });
    await q.close();
  }
  return { probe: 'bullmq-cleanup', queues: names };
}

const mains: Record<string, () => Promise<Record<string, unknown>>> = {
  'e2e-worker': e2eWorker,
  'e2e-producer': e2eProducer,
  'rt-worker': rtWorker,
  'rt-producer': rtProducer,
  cleanup,
};
const main = mains[mode ?? ''];
if (!main) {
  console.error(`unknown mode ${JSON.stringify(mode)}; one of ${Object.keys(mains).join(', ')}`);
  process.exit(2);
}
runRole(`bullmq:${mode}`, deadlineMs, main);
