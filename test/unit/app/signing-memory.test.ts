/**
 * Message signing on memory:// (ADR 0010): 10k forged, unsigned, unknown-key, bit-flipped, expired,
 * future and replayed tasks and 2k bad control requests → 0 accepted, each counted and each task in
 * the dead-letter stream; valid tasks (with a retry through the delayed stream and a chain) run;
 * encryption round trip; key rotation; forged revocations are ignored.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { chain } from '../../../src/canvas/signature.ts';
import { createApp } from '../../../src/app/create-app.ts';
import { codecByName } from '../../../src/protocol/codec.ts';
import { controlSubject } from '../../../src/protocol/control.ts';
import { encodeTask } from '../../../src/protocol/envelope.ts';
import { H } from '../../../src/protocol/headers.ts';
import { revokedBucketName } from '../../../src/protocol/names.ts';
import { signControl, signTask } from '../../../src/protocol/signing.ts';
import { resetMemoryBroker, silentLogger } from '../../../src/testing.ts';

const k1 = generateKeyPairSync('ed25519');
const kOld = generateKeyPairSync('ed25519');
const attacker = generateKeyPairSync('ed25519');
const codec = codecByName('msgpack');
const enc = new TextEncoder();

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function setup(name: string, extra: Record<string, unknown> = {}) {
  const broker = `sig-${randomUUID()}`;
  const app = createApp({
    name,
    broker: `memory://${broker}`,
    security: { signingKey: k1.privateKey, keyId: 'k1', verifyKeys: { k1: k1.publicKey, old: kOld.publicKey }, ...extra },
  });
  return { app, broker };
}

test('10k bad tasks and 2k bad control requests: none accepted, all counted, every task dead-lettered; valid ones run', async () => {
  const { app, broker } = setup('sig');
  const ran = new Set<string>();
  app.task('sig.run', async (ctx) => {
    ran.add(ctx.id);
    return 'ok';
  });
  const worker = app.worker({ name: 'w1', logger: silentLogger, concurrency: 64 });
  try {
    await worker.start();
    const t = app.transport();
    const valid = new Set<string>();
    let attacks = 0;
    const expected = { unsigned: 0, bad_signature: 0, unknown_key: 0, expired: 0, replayed: 0 };
    const message = (withMsgId = true) => {
      const m = encodeTask({ task: 'sig.run', args: [randomBytes(8).toString('hex')] }, codec);
      if (!withMsgId) delete m.headers[H.msgId];
      return m;
    };
    const publishAttack = async (kind: keyof typeof expected, build: () => { id: string; headers: Record<string, string>; body: Uint8Array }) => {
      const m = build();
      expected[kind]++;
      attacks++;
      await t.publish('default', m);
    };
    const now = Date.now();
    for (let i = 0; i < 10_000; i++) {
      switch (i % 8) {
        case 0:
          await publishAttack('unsigned', () => message());
          break;
        case 1: // the attacker signs with its own key under the real key id
          await publishAttack('bad_signature', () => {
            const m = message();
            signTask('default', m.headers, m.body, { id: 'k1', privateKey: attacker.privateKey });
            return m;
          });
          break;
        case 2:
          await publishAttack('unknown_key', () => {
            const m = message();
            signTask('default', m.headers, m.body, { id: 'k9', privateKey: attacker.privateKey });
            return m;
          });
          break;
        case 3: // a genuine signature, one bit of the body flipped
          await publishAttack('bad_signature', () => {
            const m = message();
            signTask('default', m.headers, m.body, { id: 'k1', privateKey: k1.privateKey });
            const body = Uint8Array.from(m.body);
            const bit = i % (body.length * 8);
            body[bit >> 3] = (body[bit >> 3] as number) ^ (1 << (bit & 7));
            return { ...m, body };
          });
          break;
        case 4: // a genuine signature, a header changed (another task name)
          await publishAttack('bad_signature', () => {
            const m = message();
            signTask('default', m.headers, m.body, { id: 'k1', privateKey: k1.privateKey });
            m.headers[H.task] = 'sig.other';
            return m;
          });
          break;
        case 5: // captured ten minutes ago (or dated ten minutes ahead)
          await publishAttack('expired', () => {
            const m = message();
            signTask('default', m.headers, m.body, { id: 'k1', privateKey: k1.privateKey }, i % 16 === 5 ? now - 600_000 : now + 600_000);
            return m;
          });
          break;
        default: {
          // A genuine message stored twice (a producer that sets no Nats-Msg-Id): the copy is a replay.
          const m = message(false);
          signTask('default', m.headers, m.body, { id: 'k1', privateKey: k1.privateKey });
          valid.add(m.id);
          await t.publish('default', m);
          await publishAttack('replayed', () => ({ ...m, id: `${m.id}-copy` }));
        }
      }
    }
    for (let i = 0; i < 50; i++) valid.add((await app.sendTask('sig.run', [i])).id);
    const dlq = app.deadLetters;
    await until(async () => (await dlq.count()) >= attacks && ran.size >= valid.size, 120_000, 'every bad task in the DLQ and every valid task run');
    // 0 accepted: only the valid ids ran.
    assert.equal(ran.size, valid.size);
    for (const id of ran) assert.ok(valid.has(id), `an attack ran: ${id}`);
    assert.equal(await dlq.count(), attacks);
    const sec = app.security;
    assert.ok(sec);
    for (const [reason, n] of Object.entries(expected)) assert.equal(sec.rejected[reason as keyof typeof expected], n, reason);
    const sample = await dlq.list({ limit: 50 });
    for (const e of sample) {
      assert.equal(e.reason, 'unauthenticated');
      assert.match(e.error?.message ?? '', /^(unsigned|bad_signature|unknown_key|expired|replayed): /);
      assert.equal(e.error?.code, 'E_UNAUTHENTICATED');
    }
    // No result was written under a forged message's claimed id.
    const forgedId = sample.find((e) => !valid.has(e.taskId))?.taskId as string;
    assert.equal(await (await app.resultBackend()).get(forgedId), null);
    // Replaying unauthenticated entries needs force: replay signs them.
    await assert.rejects(dlq.replay({ ids: [forgedId] }), /force/);
    assert.deepEqual(await dlq.replay({ all: true }), [], 'all: skips unauthenticated entries');

    // Control: 2k bad requests (unsigned, forged, expired, replayed) are refused with E_UNAUTHORIZED.
    const subject = controlSubject(app.name);
    const inbox = t.inbox();
    const replies: Array<{ ok: boolean; error?: { code: string } }> = [];
    const off = t.listen(inbox, (_h, b) => replies.push(JSON.parse(new TextDecoder().decode(b)) as (typeof replies)[number]));
    const before = { ...sec.rejected };
    let originals = 0;
    for (let i = 0; i < 2000; i++) {
      const body = enc.encode(JSON.stringify({ command: i % 2 ? 'shutdown' : 'pool-shrink', arguments: {} }));
      const kind = i % 4;
      if (kind === 0) t.notify(subject, {}, body, inbox);
      else if (kind === 1) t.notify(subject, signControl(subject, body, { id: 'k1', privateKey: attacker.privateKey }), body, inbox);
      else if (kind === 2) t.notify(subject, signControl(subject, body, { id: 'k1', privateKey: k1.privateKey }, Date.now() - 600_000), body, inbox);
      else {
        // A genuine request (a harmless time-limit), then its replay.
        const tl = enc.encode(JSON.stringify({ command: 'time-limit', arguments: { task: 'sig.run', soft: 100 + i, hard: null } }));
        const h = signControl(subject, tl, { id: 'k1', privateKey: k1.privateKey });
        t.notify(subject, h, tl, inbox);
        originals++;
        t.notify(subject, h, tl, inbox);
        // Changes run one at a time through a bounded mailbox: let it drain (no E_BUSY).
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    await until(() => replies.length >= 2000 + originals, 30_000, 'every control reply');
    off();
    const ok = replies.filter((r) => r.ok).length;
    assert.equal(ok, originals, 'only the genuine originals ran');
    assert.ok(replies.filter((r) => !r.ok).every((r) => r.error?.code === 'E_UNAUTHORIZED'));
    assert.equal(sec.rejected.unsigned - before.unsigned, 500);
    assert.equal(sec.rejected.replayed - before.replayed, 500);
    assert.equal(worker.state, 'running', 'no forged shutdown took effect');
    const pong = await app.control.inspect().ping();
    assert.deepEqual(pong.map((r) => r.ok), [true], 'signed requests of the app still work');
    const [stats] = await app.control.inspect().stats();
    const report = stats?.ok ? (stats.result as { security: { rejected: Record<string, number> } }) : null;
    assert.equal(report?.security.rejected.unknown_key, expected.unknown_key, 'inspect stats reports the refusals');
  } finally {
    await worker.stop(2000);
    await app.close();
    resetMemoryBroker(broker);
  }
});

test('a retry through the delayed stream and a chain run under signing; forged revocations are ignored', async () => {
  const { app, broker } = setup('sig2');
  let tries = 0;
  const flaky = app.task('sig2.flaky', async (ctx) => {
    if (++tries < 3) throw ctx.retry({ countdown: tries === 1 ? 1100 : 0 });
    return tries;
  });
  let failOnce = false;
  const add = app.task('sig2.add', async (_c, a: number, b: number) => {
    if (failOnce) {
      failOnce = false;
      throw new Error('first run fails');
    }
    return a + b;
  });
  const worker = app.worker({ name: 'w', logger: silentLogger, concurrency: 4 });
  try {
    await worker.start();
    assert.equal(await (await flaky.delay()).get({ timeout: '20s' }), 3);
    const r = await chain(add.s(1, 2), add.s(10), add.s(100)).applyAsync();
    assert.equal(await r.get({ timeout: '10s' }), 113);
    // An unsigned revocation written straight into the bucket is not honoured.
    const id = randomUUID();
    const raw = await app.transport().openKv(revokedBucketName(app.name), { ttlMs: 0 });
    await raw.put(id, enc.encode(JSON.stringify({ terminate: false, at: new Date().toISOString() })));
    assert.equal(await (await add.applyAsync([2, 2], { taskId: id })).get({ timeout: '10s' }), 4);
    // A signed one is.
    const id2 = randomUUID();
    await app.control.revoke([id2]);
    await until(async () => (await (await app.revocations()).get(id2)) !== undefined, 5000, 'the revocation');
    await assert.rejects((await add.applyAsync([1, 1], { taskId: id2 })).get({ timeout: '10s' }), /revoked/);
    assert.equal(app.security?.rejected.unsigned, 1, 'the forged revocation was counted');
    // A dead-lettered task replayed: re-signed (its old signature no longer matches its headers), it runs.
    failOnce = true;
    const failed = await add.applyAsync([5, 5]);
    await assert.rejects(failed.get({ timeout: '10s' }), /first run fails/);
    assert.deepEqual(await app.deadLetters.replay({ ids: [failed.id] }), [failed.id]);
    await until(async () => (await (await app.resultBackend()).get(failed.id))?.status === 'SUCCESS', 10_000, 'the replayed task');
  } finally {
    await worker.stop(2000);
    await app.close();
    resetMemoryBroker(broker);
  }
});

test('encryption round trip; key rotation: a producer signing with the old key is accepted', async () => {
  const aes = randomBytes(32);
  const { app, broker } = setup('sig3', { encryptionKey: aes, encryptionKeyId: 'e1' });
  const secret = `secret-${randomUUID()}`;
  app.task('sig3.echo', async (_c, s: string) => s.length);
  app.task('sig3.reject', async () => {
    const { Reject } = await import('../../../src/errors.ts');
    throw new Reject('kept for the test');
  });
  const worker = app.worker({ name: 'w', logger: silentLogger, concurrency: 4 });
  // Same broker and app name, an older producer: it still signs with the old key.
  const producer = createApp({ name: 'sig3', broker: `memory://${broker}`, security: { signingKey: kOld.privateKey, keyId: 'old', encryptionKey: aes, encryptionKeyId: 'e1' } });
  try {
    await worker.start();
    assert.equal(await (await app.sendTask('sig3.echo', [secret])).get({ timeout: '10s' }), secret.length);
    assert.equal(await (await producer.sendTask('sig3.echo', [secret])).get({ timeout: '10s' }), secret.length);
    // The body at rest is ciphertext: a dead-lettered task's stored bytes do not hold the argument.
    await assert.rejects((await app.sendTask('sig3.reject', [secret])).get({ timeout: '10s' }));
    const [entry] = await app.deadLetters.list();
    assert.ok(entry);
    assert.equal(entry.raw.headers[H.encryption], 'e1');
    assert.ok(!Buffer.from(entry.raw.body).toString('latin1').includes(secret), 'plaintext in the stored body');
    // `celeriac dlq show` decrypts it for whoever holds the key.
    const [shown] = await app.deadLetters.show(entry.taskId);
    assert.deepEqual(shown?.args, [[secret], {}, null]);
    // Without the decryption key the worker refuses it (decrypt_failed) instead of decoding garbage.
    const m = encodeTask({ task: 'sig3.echo', args: [secret] }, codec);
    m.headers[H.encryption] = 'e9';
    signTask('default', m.headers, m.body, { id: 'k1', privateKey: k1.privateKey });
    await app.transport().publish('default', m);
    await until(() => app.security?.rejected.decrypt_failed === 1, 10_000, 'decrypt_failed');
  } finally {
    await worker.stop(2000);
    await producer.close();
    await app.close();
    resetMemoryBroker(broker);
  }
});

test('a worker without a signing key refuses to start; publishing needs a signing key', async () => {
  const app = createApp({ name: 'sig4', broker: `memory://sig-${randomUUID()}`, security: { verifyKeys: { k1: k1.publicKey } } });
  await assert.rejects(app.worker({ logger: silentLogger }).start(), /needs options\.security\.signingKey/);
  await assert.rejects(app.sendTask('x.y', []), /needs options\.security\.signingKey/);
  await app.close();
});

test('per-queue signing: only the listed queue is checked; a countdown publish is signed and runs', async () => {
  const { app, broker } = setup('sig5', { queues: ['payments'] });
  const pay = app.task('sig5.pay', async (_c, n: number) => n + 1, { queue: 'payments' });
  app.task('sig5.web', async (_c, n: number) => n * 2, { queue: 'web' });
  const plain = createApp({ name: 'sig5', broker: `memory://${broker}` });
  const worker = app.worker({ name: 'w', logger: silentLogger, concurrency: 4, queues: ['payments', 'web'] });
  try {
    await worker.start();
    assert.equal(await (await pay.applyAsync([1], { countdown: '1s' })).get({ timeout: '10s' }), 2);
    // An unsigned producer: its task on the unsigned queue runs, the one on the signed queue does not.
    assert.equal(await (await plain.sendTask('sig5.web', [4], { queue: 'web' })).get({ timeout: '10s' }), 8);
    await plain.sendTask('sig5.pay', [1], { queue: 'payments' });
    await until(() => app.security?.rejected.unsigned === 1, 10_000, 'the unsigned payment refused');
    assert.equal(await app.deadLetters.count('payments'), 1);
  } finally {
    await worker.stop(2000);
    await plain.close();
    await app.close();
    resetMemoryBroker(broker);
  }
});
