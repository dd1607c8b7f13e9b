/**
 * Message signing on a real nats-server (ADR 0010): keys from `celeriac keys generate`, a
 * `celeriac worker` process of an app that signs and encrypts; tasks, a retry through the delayed
 * stream and a chain run; forged, unsigned, bit-flipped and expired messages published with a plain
 * NATS client land in the dead-letter stream with their reason and no result; an exact replay is
 * dropped by the broker; an unsigned control shutdown is refused and the worker stays up.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { type NatsConnection, connect, headers as natsHeaders } from '@nats-io/transport-node';
import { type App, chain, createApp } from '../../src/index.ts';
import { codecByName } from '../../src/protocol/codec.ts';
import { type EncodedTask, encodeTask } from '../../src/protocol/envelope.ts';
import { H } from '../../src/protocol/headers.ts';
import { signTask } from '../../src/protocol/signing.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { type WorkerProcess, startWorkerProcess } from '../helpers/worker-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const APP = 'signit';
const keys = mkdtempSync(join(tmpdir(), 'celeriac-keys-'));
let server: NatsServerHandle;
let nc: NatsConnection;
let app: App;
let worker: WorkerProcess;

async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [`${ROOT}bin/celeriac.js`, 'keys', 'generate', '--out', keys, '--id', 'k1', '--aes'], { cwd: ROOT });
  assert.deepEqual(stdout.trim().split('\n'), ['k1.key', 'k1.pub', 'k1.aes'].map((f) => join(keys, f)));
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  app = createApp({
    name: APP,
    broker: server.url,
    security: { signingKey: join(keys, 'k1.key'), keyId: 'k1', encryptionKey: join(keys, 'k1.aes'), encryptionKeyId: 'k1' },
  });
  worker = startWorkerProcess({ broker: server.url, app: APP, module: 'test/fixtures/signing-tasks.ts', env: { SIG_KEYS: keys }, args: ['-n', 'signer'] });
  await worker.ready;
});

after(async () => {
  if (worker.proc.exitCode === null && worker.proc.signalCode === null) worker.proc.kill('SIGKILL');
  await app.close();
  await nc.close();
  await server.stop();
  rmSync(keys, { recursive: true, force: true });
});

test('a signed, encrypted app runs tasks, a retry through the delayed stream and a chain', async () => {
  assert.equal(await (await app.sendTask('sig.add', [2, 3])).get({ timeout: '15s' }), 5);
  assert.equal(await (await app.sendTask('sig.flaky', [2])).get({ timeout: '30s' }), 2);
  const c = chain(app.signature('sig.add', [1, 2]), app.signature('sig.add', [10]), app.signature('sig.add', [100]));
  assert.equal(await (await c.applyAsync()).get({ timeout: '15s' }), 113);
});

test('forged, unsigned, bit-flipped and expired messages from a plain NATS client land in the DLQ; an exact replay is dropped', async () => {
  const js = jetstream(nc);
  const codec = codecByName('msgpack');
  const real = { id: 'k1', privateKey: createPrivateKey(readFileSync(join(keys, 'k1.key'))) };
  const attacker = { id: 'k1', privateKey: generateKeyPairSync('ed25519').privateKey };
  const publish = async (m: EncodedTask, body = m.body) => {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(m.headers)) if (k !== H.msgId) h.set(k, v);
    return js.publish(`${APP}.tasks.default`, body, { headers: h, msgID: m.headers[H.msgId] ?? m.id });
  };
  const fresh = () => encodeTask({ task: 'sig.add', args: [40, 2] }, codec);
  const unsigned = fresh();
  const forged = fresh();
  signTask('default', forged.headers, forged.body, attacker);
  const flipped = fresh();
  signTask('default', flipped.headers, flipped.body, real);
  const flippedBody = Uint8Array.from(flipped.body);
  flippedBody[flippedBody.length - 1] = (flippedBody[flippedBody.length - 1] as number) ^ 0x01;
  const expired = fresh();
  signTask('default', expired.headers, expired.body, real, Date.now() - 6 * 60_000);
  await publish(unsigned);
  await publish(forged);
  await publish(flipped, flippedBody);
  await publish(expired);
  const bad = new Map([
    [unsigned.id, 'unsigned'],
    [forged.id, 'bad_signature'],
    [flipped.id, 'bad_signature'],
    [expired.id, 'expired'],
  ]);
  await until(async () => (await app.deadLetters.list()).filter((e) => bad.has(e.taskId)).length === bad.size, 20_000, 'the four refused messages in the DLQ');
  const backend = await app.resultBackend();
  for (const e of (await app.deadLetters.list()).filter((x) => bad.has(x.taskId))) {
    assert.equal(e.reason, 'unauthenticated');
    assert.equal(e.error?.code, 'E_UNAUTHENTICATED');
    assert.ok(e.error?.message.startsWith(`${bad.get(e.taskId)}: `), `${e.taskId}: ${e.error?.message}`);
    assert.equal(await backend.get(e.taskId), null, 'no result under a refused id');
  }
  // A captured genuine message runs once; its exact replay is dropped by the broker (Nats-Msg-Id is signed).
  const genuine = fresh();
  signTask('default', genuine.headers, genuine.body, real);
  await publish(genuine);
  assert.equal(await app.asyncResult(genuine.id).get({ timeout: '15s' }), 42);
  const replay = await publish(genuine);
  assert.equal(replay.duplicate, true);
});

test('an unsigned control shutdown is refused (E_UNAUTHORIZED) and the worker stays up; signed control works', async () => {
  const inbox = `_INBOX.sig-${Date.now()}`;
  const sub = nc.subscribe(inbox, { max: 1 });
  nc.publish(`${APP}.control`, new TextEncoder().encode(JSON.stringify({ command: 'shutdown', arguments: {} })), { reply: inbox });
  let reply: { ok: boolean; error?: { code: string } } | undefined;
  for await (const m of sub) reply = m.json();
  assert.equal(reply?.ok, false);
  assert.equal(reply?.error?.code, 'E_UNAUTHORIZED');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(worker.proc.exitCode, null, 'the worker did not shut down');
  const pongs = await app.control.inspect({ timeout: '5s' }).ping();
  assert.deepEqual(pongs.map((p) => [p.worker, p.ok]), [['signer', true]]);
});

test('the CLI signs control requests with CELERIAC_SIGNING_KEY; without it the worker refuses them', async () => {
  const cli = async (env: Record<string, string>) => {
    const run = promisify(execFile)(process.execPath, [`${ROOT}bin/celeriac.js`, 'inspect', 'ping', '--app-name', APP, '-b', server.url, '--json', '--timeout', '5s'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    const { stdout } = await run.catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
    return JSON.parse(stdout) as Array<{ worker: string; ok: boolean; error?: { code: string } }>;
  };
  const signed = await cli({ CELERIAC_SIGNING_KEY: join(keys, 'k1.key'), CELERIAC_SIGNING_KEY_ID: 'k1' });
  assert.deepEqual(signed.map((r) => [r.worker, r.ok]), [['signer', true]]);
  const unsigned = await cli({});
  assert.deepEqual(unsigned.map((r) => [r.worker, r.ok, r.error?.code]), [['signer', false, 'E_UNAUTHORIZED']]);
});
