/**
 * `npx tsx bench/signing.ts`: the cost of message signing (ADR 0010), recorded in
 * docs/adr/0010-message-signing.md.
 *
 * 1. Per message, single thread: encode only; sign; verify (signature, age, nonce); AES-256-GCM
 *    encrypt + decrypt; for 100 B, 1 KiB and 64 KiB bodies.
 * 2. End to end on memory://: one worker (concurrency 64) runs N no-op tasks published by
 *    `delayMany`, with signing off, on, and on with encryption; tasks/s.
 * 3. With `--nats`: what a shared nonce store would cost (the alternative the ADR rejects): a KV
 *    `create` (put with expected revision 0) per message on a nats-server started here, one at a time
 *    (latency) and 256 in flight (throughput).
 *
 * Environment: BENCH_SIGN_N (end-to-end tasks, default 20000).
 * @module
 */
import { createSecretKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createApp } from '../src/app/create-app.ts';
import { MessageSecurity } from '../src/app/message-security.ts';
import { type SecurityOptions, resolveSecurityOptions } from '../src/app/security-options.ts';
import { codecByName } from '../src/protocol/codec.ts';
import { encodeTask } from '../src/protocol/envelope.ts';
import { decryptBody, encryptBody } from '../src/protocol/signing.ts';
import { resetMemoryBroker, silentLogger, startNatsServer } from '../src/testing.ts';
import type { IncomingMessage } from '../src/transport/transport.ts';

const N = Number(process.env.BENCH_SIGN_N ?? 20_000);
const kp = generateKeyPairSync('ed25519');
const codec = codecByName('msgpack');

function perOp(label: string, n: number, fn: (i: number) => void): number {
  for (let i = 0; i < 500; i++) fn(n + i); // warm-up (items n..n+499: a nonce is accepted once)
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  console.log(`${label.padEnd(44)} ${us.toFixed(1).padStart(8)} µs/op`);
  return us;
}

function incoming(queue: string, headers: Record<string, string>, body: Uint8Array): IncomingMessage {
  return {
    queue,
    body,
    delivery: { stream: 'bench', sequence: 1, deliveryCount: 1, redelivered: false, storedAt: Date.now() },
    header: (n) => headers[n],
    headerNames: () => Object.keys(headers),
    ack() {},
    nak() {},
    term() {},
    working() {},
  };
}

function micro(): void {
  console.log('## per message (one thread)');
  const sec = new MessageSecurity(resolveSecurityOptions({ signingKey: kp.privateKey, keyId: 'k1', nonceCacheSize: 1_000_000 })!);
  const aes = { id: 'e1', key: createSecretKey(randomBytes(32)) };
  for (const size of [100, 1024, 64 * 1024]) {
    const arg = randomBytes(size).toString('base64').slice(0, size);
    const n = size > 10_000 ? 2000 : 20_000;
    perOp(`encode ${size} B`, n, () => encodeTask({ task: 'bench.noop', args: [arg] }, codec));
    const tasks = Array.from({ length: n + 500 }, () => encodeTask({ task: 'bench.noop', args: [arg] }, codec));
    const signed = tasks.map((t) => sec.signTask('default', t));
    perOp(`  sign ${size} B`, n, (i) => sec.signTask('default', tasks[i]!));
    perOp(`  verify (signature, age, nonce) ${size} B`, n, (i) => {
      const s = signed[i]!;
      const r = sec.authenticateTask(incoming('default', s.headers, s.body));
      if (!r.ok) throw new Error(r.message);
    });
    const cipher = tasks.map((t) => encryptBody(t.body, aes, t.id));
    perOp(`  AES-256-GCM encrypt ${size} B`, n, (i) => encryptBody(tasks[i]!.body, aes, tasks[i]!.id));
    perOp(`  AES-256-GCM decrypt ${size} B`, n, (i) => decryptBody(cipher[i]!, aes.key, tasks[i]!.id));
  }
}

async function endToEnd(label: string, security: SecurityOptions | undefined): Promise<number> {
  const broker = `bench-sign-${randomUUID()}`;
  const app = createApp({ name: 'bsign', broker: `memory://${broker}`, resultBackend: 'memory', ...(security ? { security } : {}) });
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((r) => (finish = r));
  const noop = app.task('bsign.noop', async (_c, i: number) => {
    if (++done === N) finish();
    return i;
  }, { ignoreResult: true });
  const w = app.worker({ logger: silentLogger, concurrency: 64, scheduler: false });
  await w.start();
  const t0 = performance.now();
  await noop.delayMany(Array.from({ length: N }, (_, i) => [i]));
  await all;
  const rate = N / ((performance.now() - t0) / 1000);
  console.log(`${label.padEnd(44)} ${Math.round(rate).toString().padStart(8)} tasks/s`);
  await w.stop(1000);
  await app.close();
  resetMemoryBroker(broker);
  return rate;
}

async function sharedNonceStore(): Promise<void> {
  console.log('## shared nonce store (rejected alternative): KV create per message on nats-server');
  const server = await startNatsServer();
  const app = createApp({ name: 'bnonce', broker: server.url });
  try {
    const kv = await app.keyValue('nonces', { ttl: '6m' });
    const seq = 2000;
    const t0 = performance.now();
    for (let i = 0; i < seq; i++) await kv.put(randomBytes(16).toString('base64url'), new Uint8Array(0), { expectRevision: 0 });
    console.log(`${'  one at a time (latency)'.padEnd(44)} ${(((performance.now() - t0) * 1000) / seq).toFixed(0).padStart(8)} µs/op`);
    const m = 20_000;
    let next = 0;
    const t1 = performance.now();
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        while (next++ < m) await kv.put(randomBytes(16).toString('base64url'), new Uint8Array(0), { expectRevision: 0 });
      }),
    );
    console.log(`${'  256 in flight (throughput)'.padEnd(44)} ${Math.round(m / ((performance.now() - t1) / 1000)).toString().padStart(8)} creates/s`);
  } finally {
    await app.close();
    await server.stop();
  }
}

micro();
console.log(`## end to end on memory:// (${N} no-op tasks, one worker, concurrency 64)`);
await endToEnd('signing off', undefined);
await endToEnd('signed', { signingKey: kp.privateKey, keyId: 'k1' });
await endToEnd('signed + encrypted', { signingKey: kp.privateKey, keyId: 'k1', encryptionKey: randomBytes(32) });
if (process.argv.includes('--nats')) await sharedNonceStore();
