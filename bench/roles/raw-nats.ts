/**
 * Raw JetStream probes with plain @nats-io clients and no Celeriac code: the ceilings Celeriac is
 * compared with. Mirrors `nats-bench.mjs` of docs/benchmarks.md (jspubraw, jspub async, jsconsume).
 *
 *   node --import tsx bench/roles/raw-nats.ts lean-pub  <url> <n> <window> <warmup>
 *   node --import tsx bench/roles/raw-nats.ts stock-pub <url> <n> <window> <warmup>
 *   node --import tsx bench/roles/raw-nats.ts consume   <url> <n> <maxMessages> <warmup>
 *   node --import tsx bench/roles/raw-nats.ts e2e-consume <url> <n> <maxMessages> <warmup>
 *   node --import tsx bench/roles/raw-nats.ts e2e-pub     <url> <n> <window> <warmup>
 *   node --import tsx bench/roles/raw-nats.ts e2e-pub-msgid <url> <n> <window> <warmup>
 *
 * e2e-consume / e2e-pub: the raw analogue of Celeriac's steady-state e2e, in two processes: the
 * consumer (WorkQueue stream, explicit acks) is ready first, then the publisher sends n messages
 * (after `warmup`) with `window` un-acknowledged; the consumer reports its last-message time.
 * e2e-pub-msgid: the same publisher with a `Nats-Msg-Id` header on every message (through the
 * stock header object), as Celeriac's protocol has: the like-for-like ceiling that includes the
 * broker's duplicate tracking.
 * @module
 */
import { AckPolicy, type JetStreamManager, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect, headers as natsHeaders } from '@nats-io/transport-node';
import { cpuTimeMs } from '../lib/cpu.ts';
import { createWindow, emit, epochMs, num, perSecond, runRole } from '../lib/measure.ts';

const PAYLOAD = new Uint8Array(256).fill(120);
const [mode, url = '', nArg, windowArg, warmArg] = process.argv.slice(2);
const n = num(nArg, 200_000);
const window = num(windowArg, 2000);
const warmup = num(warmArg, 1000);

async function freshStream(jsm: JetStreamManager, name: string, subject: string, retention: RetentionPolicy): Promise<void> {
  try {
    await jsm.streams.delete(name);
  } catch {
    /* not there */
  }
  await jsm.streams.add({ name, subjects: [subject], storage: StorageType.File, retention, max_msgs: -1, max_bytes: -1 });
}

/**
 * Lean pipelined publish: core PUB with reply `<inbox>.<seq>`, ONE wildcard subscription for all
 * PubAcks, a counter instead of per-message promises. Returns a function publishing `count`
 * messages with at most `win` un-acknowledged, resolving with the number of error PubAcks.
 */
function leanPipeline(nc: NatsConnection, subject: string, win: number, msgIds = false): (count: number) => Promise<number> {
  const inbox = `_BENCH.${Math.random().toString(36).slice(2)}`;
  const dec = new TextDecoder();
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let waiter: (() => void) | undefined;
  nc.subscribe(`${inbox}.*`, {
    callback: (_err, m) => {
      if (m.data.length > 0 && dec.decode(m.data).includes('"error"')) errors++;
      acked++;
      const w = waiter;
      waiter = undefined;
      w?.();
    },
  });
  return async (count) => {
    const end = sent + count;
    const errorsBefore = errors;
    while (sent < end) {
      while (sent - acked >= win) await new Promise<void>((r) => (waiter = r));
      if (msgIds) {
        // As Celeriac's protocol requires (Nats-Msg-Id = task id): the broker keeps each id for
        // its duplicate window. A 36-character id, like a UUID.
        const h = natsHeaders();
        h.set('Nats-Msg-Id', `${inbox.slice(-12).padStart(12, '0')}-0000-4000-8000-${String(sent).padStart(12, '0')}`);
        nc.publish(subject, PAYLOAD, { reply: `${inbox}.${sent}`, headers: h });
      } else nc.publish(subject, PAYLOAD, { reply: `${inbox}.${sent}` });
      sent++;
    }
    while (acked < end) await new Promise<void>((r) => (waiter = r));
    return errors - errorsBefore;
  };
}

async function leanPub(): Promise<Record<string, unknown>> {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  await freshStream(jsm, 'BENCH_LEAN', 'bench.lean', RetentionPolicy.Limits);
  const publish = leanPipeline(nc, 'bench.lean', window);
  await nc.flush();
  await publish(warmup);
  const t0 = epochMs();
  const errors = await publish(n);
  const ms = epochMs() - t0;
  const stored = (await jsm.streams.info('BENCH_LEAN')).state.messages;
  await jsm.streams.delete('BENCH_LEAN');
  await nc.close();
  return { probe: 'raw-lean-publish', n, window, payload_bytes: 256, msgs_s: perSecond(n, ms), secs: ms / 1000, errors, stream_msgs: stored, expected_msgs: n + warmup };
}

async function stockPub(): Promise<Record<string, unknown>> {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await freshStream(jsm, 'BENCH_STOCK', 'bench.stock', RetentionPolicy.Limits);
  const run = async (count: number) => {
    const w = createWindow(window);
    for (let i = 0; i < count; i++) {
      await w.room();
      w.add(js.publish('bench.stock', PAYLOAD));
    }
    await w.drain();
  };
  await run(warmup);
  const t0 = epochMs();
  await run(n);
  const ms = epochMs() - t0;
  const stored = (await jsm.streams.info('BENCH_STOCK')).state.messages;
  await jsm.streams.delete('BENCH_STOCK');
  await nc.close();
  return { probe: 'raw-stock-publish', n, window, payload_bytes: 256, msgs_s: perSecond(n, ms), secs: ms / 1000, stream_msgs: stored, expected_msgs: n + warmup };
}

async function consume(): Promise<Record<string, unknown>> {
  const maxMessages = window;
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await freshStream(jsm, 'BENCH_CONSUME', 'bench.consume', RetentionPolicy.Workqueue);
  const total = n + warmup;
  const prefillErrors = await leanPipeline(nc, 'bench.consume', 2000)(total);
  if (prefillErrors > 0) throw new Error(`pre-fill: ${prefillErrors} publishes were refused`);
  await jsm.consumers.add('BENCH_CONSUME', {
    durable_name: 'w',
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: 20_000,
    ack_wait: 30_000_000_000,
  });
  const c = await js.consumers.get('BENCH_CONSUME', 'w');
  const msgs = await c.consume({ max_messages: maxMessages });
  let got = 0;
  let t0 = epochMs();
  for await (const m of msgs) {
    m.ack();
    got++;
    if (got === warmup) t0 = epochMs();
    if (got === total) break;
  }
  await nc.flush(); // the acks have left the client
  const ms = epochMs() - t0;
  const info = await c.info();
  await jsm.streams.delete('BENCH_CONSUME');
  await nc.close();
  return {
    probe: 'raw-consume-ack',
    n,
    max_messages: maxMessages,
    payload_bytes: 256,
    msgs_s: perSecond(n, ms),
    secs: ms / 1000,
    ack_pending_after: info.num_ack_pending,
  };
}

async function e2eConsume(): Promise<Record<string, unknown>> {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await freshStream(jsm, 'BENCH_E2E', 'bench.e2e', RetentionPolicy.Workqueue);
  await jsm.consumers.add('BENCH_E2E', { durable_name: 'w', ack_policy: AckPolicy.Explicit, max_ack_pending: 20_000, ack_wait: 30_000_000_000 });
  const c = await js.consumers.get('BENCH_E2E', 'w');
  const msgs = await c.consume({ max_messages: window });
  emit('ready', { role: 'raw-nats:e2e-consume' });
  const total = n + warmup;
  let got = 0;
  let tLast = 0;
  // CPU over the measured messages (first to last), this process and the nats-server
  // (BENCH_NATS_PID), like the Celeriac worker role reports them.
  const natsPid = process.env.BENCH_NATS_PID ? Number(process.env.BENCH_NATS_PID) : undefined;
  let cpu0: NodeJS.CpuUsage | undefined;
  let nats0: number | null = null;
  let cpu: NodeJS.CpuUsage | undefined;
  let natsMs: number | null = null;
  for await (const m of msgs) {
    m.ack();
    got++;
    if (got === warmup + 1) {
      cpu0 = process.cpuUsage();
      nats0 = natsPid === undefined ? null : cpuTimeMs(natsPid);
    }
    if (got === total) {
      tLast = epochMs();
      cpu = process.cpuUsage(cpu0);
      const nats1 = natsPid === undefined ? null : cpuTimeMs(natsPid);
      natsMs = nats0 === null || nats1 === null ? null : nats1 - nats0;
      break;
    }
  }
  await nc.flush();
  await jsm.streams.delete('BENCH_E2E');
  await nc.close();
  const cpuMs = cpu === undefined ? null : Math.round((cpu.user + cpu.system) / 1000);
  return { probe: 'raw-e2e-consumer', n, got, t_last: tLast, cpu_ms: cpuMs, nats_cpu_ms: natsMs === null ? null : Math.round(natsMs) };
}

async function e2ePub(): Promise<Record<string, unknown>> {
  const nc = await connect({ servers: url });
  const publish = leanPipeline(nc, 'bench.e2e', window, process.argv[2] === 'e2e-pub-msgid');
  await nc.flush();
  await publish(warmup);
  const cpu0 = process.cpuUsage();
  const t0 = epochMs();
  const errors = await publish(n);
  const ms = epochMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  await nc.close();
  if (errors > 0) throw new Error(`${errors} publishes were refused`);
  return { probe: 'raw-e2e-publisher', n, window, t_start: t0, publish_msgs_s: perSecond(n, ms), cpu_ms: Math.round((cpu.user + cpu.system) / 1000) };
}

const mains: Record<string, () => Promise<Record<string, unknown>>> = { 'lean-pub': leanPub, 'stock-pub': stockPub, consume, 'e2e-consume': e2eConsume, 'e2e-pub': e2ePub, 'e2e-pub-msgid': e2ePub };
const main = mains[mode ?? ''];
if (!main) {
  console.error(`unknown mode ${JSON.stringify(mode)}; one of ${Object.keys(mains).join(', ')}`);
  process.exit(2);
}
runRole(`raw-nats:${mode}`, num(process.env.BENCH_ROLE_DEADLINE_MS, 120_000), main);
