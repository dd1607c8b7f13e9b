/**
 * `npx tsx bench/server-cost.ts`: what nats-server itself spends per stored message, for the three
 * forms a publish can take (docs/benchmarks.md, "What bounds bulk enqueue"):
 *
 * 1. the raw probe's message: a 40-byte body, no headers;
 * 2. the same body with a Celeriac task's header block (task, id, origin, ignore_result,
 *    content-type), no `Nats-Msg-Id`;
 * 3. the same with `Nats-Msg-Id` (what every Celeriac task carries: publish deduplication).
 *
 * Each is published pipelined (1,000 PubAcks outstanding) into a fresh WorkQueue stream with a
 * 2-minute duplicate window, on a nats-server started here; the server's CPU time comes from
 * /proc.
 *
 * Then the same for result writes: a 180-byte record put under a new key of a results bucket
 * configured as Celeriac provisions it (`kvStreamConfig`: history 1, `allow_direct`, `republish`),
 *
 * 4. with no headers;
 * 5. with `Nats-Expected-Last-Subject-Sequence: 0` (the fenced write);
 * 6. with that and `Nats-Msg-Id` (what every result write carries);
 * 7. the same on a bucket without `republish` (what the re-publish of stored writes costs).
 *
 * Environment: BENCH_SERVER_COST_N (messages per form and pass, default 150000).
 * @module
 */
import { randomUUID } from 'node:crypto';
import { type JetStreamManager, RetentionPolicy, StorageType, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { encodedHeaders } from '../src/transport/nats/lean-publisher.ts';
import { kvStreamConfig } from '../src/transport/nats/provision.ts';
import { cpuTimeMs } from './lib/cpu.ts';
import { runScenario, startBenchServer } from './lib/scenario.ts';

const N = Number(process.env.BENCH_SERVER_COST_N ?? 150_000);
const BODY = new Uint8Array(40);

/**
 * Publish N messages with `send(i, reply)`, 1,000 PubAcks outstanding, and return nats-server's CPU
 * per message over the run and the rate.
 */
async function pipelined(nc: NatsConnection, pid: number, send: (i: number, reply: string) => void): Promise<{ serverUs: number; msgsPerSec: number }> {
  const inbox = `_COST.${randomUUID()}`;
  let acked = 0;
  let waiter: (() => void) | undefined;
  const sub = nc.subscribe(`${inbox}.*`, {
    callback: () => {
      acked++;
      const w = waiter;
      waiter = undefined;
      w?.();
    },
  });
  const cpu0 = cpuTimeMs(pid) ?? 0;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    while (i - acked >= 1000) await new Promise<void>((r) => (waiter = r));
    send(i, `${inbox}.${i}`);
  }
  while (acked < N) await new Promise<void>((r) => (waiter = r));
  const ms = performance.now() - t0;
  const serverMs = (cpuTimeMs(pid) ?? 0) - cpu0;
  sub.unsubscribe();
  return { serverUs: (serverMs * 1000) / N, msgsPerSec: Math.round((N / ms) * 1000) };
}

/** Server CPU per task message of `form` (see the module comment). */
async function measure(nc: NatsConnection, jsm: JetStreamManager, pid: number, form: 'bare' | 'headers' | 'msg-id'): Promise<{ serverUs: number; msgsPerSec: number }> {
  await jsm.streams.add({ name: 'COST', subjects: ['cost.x'], storage: StorageType.File, retention: RetentionPolicy.Workqueue, duplicate_window: 120e9 });
  const r = await pipelined(nc, pid, (_i, reply) => {
    if (form === 'bare') {
      nc.publish('cost.x', BODY, { reply });
      return;
    }
    const id = randomUUID();
    const h: Record<string, string> = { task: 'noop', id, origin: 'bench-producer@vm:12345', ignore_result: 'true', 'content-type': 'application/x-msgpack' };
    if (form === 'msg-id') h['Nats-Msg-Id'] = id;
    nc.publish('cost.x', BODY, { reply, headers: encodedHeaders(h) });
  });
  await jsm.streams.delete('COST');
  return r;
}

type KvForm = 'kv-bare' | 'kv-fenced' | 'kv-fenced-msg-id' | 'kv-no-republish';
const RECORD = new Uint8Array(180);

/** Server CPU per result write of `form` (see the module comment). */
async function measureKv(nc: NatsConnection, jsm: JetStreamManager, pid: number, form: KvForm): Promise<{ serverUs: number; msgsPerSec: number }> {
  const cfg: Record<string, unknown> = { ...kvStreamConfig('COST', 86_400_000) };
  if (form === 'kv-no-republish') delete cfg.republish;
  await jsm.streams.add(cfg as Parameters<JetStreamManager['streams']['add']>[0]);
  const r = await pipelined(nc, pid, (i, reply) => {
    const key = randomUUID();
    const h: Record<string, string> = {};
    if (form !== 'kv-bare') h['Nats-Expected-Last-Subject-Sequence'] = '0';
    if (form === 'kv-fenced-msg-id' || form === 'kv-no-republish') h['Nats-Msg-Id'] = `${key}:${i.toString(36)}`;
    nc.publish(`$KV.COST.${key}`, RECORD, { reply, ...(form === 'kv-bare' ? {} : { headers: encodedHeaders(h) }) });
  });
  await jsm.streams.delete('KV_COST');
  return r;
}

runScenario(async () => {
  const server = await startBenchServer();
  try {
    if (server.pid === undefined) throw new Error('the bench nats-server has no pid to read its CPU time from');
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    console.log(`nats-server CPU per stored message, ${N} messages per form, two passes`);
    for (let pass = 1; pass <= 2; pass++) {
      for (const form of ['bare', 'headers', 'msg-id'] as const) {
        const r = await measure(nc, jsm, server.pid, form);
        console.log(`pass ${pass}  ${form.padEnd(16)} ${r.serverUs.toFixed(2).padStart(6)} µs/msg   ${String(r.msgsPerSec).padStart(7)} msgs/s`);
      }
      for (const form of ['kv-bare', 'kv-fenced', 'kv-fenced-msg-id', 'kv-no-republish'] as const) {
        const r = await measureKv(nc, jsm, server.pid, form);
        console.log(`pass ${pass}  ${form.padEnd(16)} ${r.serverUs.toFixed(2).padStart(6)} µs/msg   ${String(r.msgsPerSec).padStart(7)} msgs/s`);
      }
    }
    await nc.close();
    return 0;
  } finally {
    await server.stop();
  }
});
