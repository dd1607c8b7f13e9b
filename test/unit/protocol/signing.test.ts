/**
 * Canonical forms, Ed25519 signatures, age rule, nonce cache and AES-256-GCM body encryption
 * (src/protocol/signing.ts, ADR 0010), and the option rules of `createApp({ security })`.
 */
import assert from 'node:assert/strict';
import { createSecretKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { resolveSecurityOptions } from '../../../src/app/security-options.ts';
import { isInvalidArgumentError } from '../../../src/errors.ts';
import { H } from '../../../src/protocol/headers.ts';
import { NonceCache } from '../../../src/protocol/nonce-cache.ts';
import {
  ageProblem,
  canonicalTask,
  decryptBody,
  encryptBody,
  openKvValue,
  sealKvValue,
  signControl,
  signTask,
  verifyControl,
  verifyTask,
} from '../../../src/protocol/signing.ts';

const k1 = generateKeyPairSync('ed25519');
const k2 = generateKeyPairSync('ed25519');
const signer = { id: 'k1', privateKey: k1.privateKey };
const keys = new Map([['k1', k1.publicKey]]);
const body = new Uint8Array([0x93, 0x91, 0x01, 0x80, 0xc0]);

function signed(queue = 'default'): Record<string, string> {
  return signTask(queue, { [H.task]: 'math.add', [H.id]: 'id-1', [H.contentType]: 'application/x-msgpack', [H.msgId]: 'id-1' }, body, signer, 1_000_000);
}

test('a signed task verifies; any change to a signed header, the queue or the body does not', () => {
  const h = signed();
  assert.equal(verifyTask('default', (n) => h[n], body, keys).ok, true);
  for (const name of [H.task, H.id, H.contentType, H.msgId, H.issuedAt, H.nonce]) {
    const bad = { ...h, [name]: `${h[name]}x` };
    const r = verifyTask('default', (n) => bad[n], body, keys);
    assert.equal(r.ok, false, name);
  }
  // A signed header added later (an eta, a reply_to) breaks it too.
  const added: Record<string, string> = { ...h, [H.eta]: new Date().toISOString() };
  assert.equal(verifyTask('default', (n) => added[n], body, keys).ok, false);
  assert.equal(verifyTask('other', (n) => h[n], body, keys).ok, false, 'moved to another queue');
  for (let bit = 0; bit < body.length * 8; bit++) {
    const flipped = Uint8Array.from(body);
    flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
    const r = verifyTask('default', (n) => h[n], flipped, keys);
    assert.ok(!r.ok && r.reason === 'bad_signature', `bit ${bit}`);
  }
});

test('unsigned, unknown key, a forger\'s key under a known id, malformed headers: each has its reason', () => {
  const plain = { [H.task]: 't', [H.id]: 'i' };
  const r1 = verifyTask('q', (n) => plain[n as keyof typeof plain], body, keys);
  assert.ok(!r1.ok && r1.reason === 'unsigned');
  const other = signTask('q', { ...plain }, body, { id: 'k9', privateKey: k2.privateKey });
  const r2 = verifyTask('q', (n) => other[n], body, keys);
  assert.ok(!r2.ok && r2.reason === 'unknown_key');
  const forged = signTask('q', { ...plain }, body, { id: 'k1', privateKey: k2.privateKey });
  const r3 = verifyTask('q', (n) => forged[n], body, keys);
  assert.ok(!r3.ok && r3.reason === 'bad_signature');
  const garbled: Record<string, string> = { ...signTask('q', { ...plain }, body, signer), [H.signature]: 'v1:AAAA' };
  const r4 = verifyTask('q', (n) => garbled[n], body, keys);
  assert.ok(!r4.ok && r4.reason === 'bad_signature');
  // A value with a line break could be re-split into other lines of the canonical form: refused.
  const split = signTask('q', { [H.task]: 't', [H.id]: 'i', [H.origin]: 'a\nretries:9' }, body, signer);
  const r5 = verifyTask('q', (n) => split[n], body, keys);
  assert.ok(!r5.ok && r5.reason === 'bad_signature' && /line break/.test(r5.message));
});

test('key rotation: a message signed with the old key verifies while both are listed', () => {
  const h = signTask('q', { [H.task]: 't', [H.id]: 'i' }, body, { id: 'old', privateKey: k2.privateKey });
  const both = new Map([['k1', k1.publicKey], ['old', k2.publicKey]]);
  assert.equal(verifyTask('q', (n) => h[n], body, both).ok, true);
  assert.equal(verifyTask('q', (n) => h[n], body, keys).ok, false);
});

test('the canonical form is the documented text followed by the body', () => {
  const h = { [H.task]: 'math.add', [H.id]: 'a', 'Content-Type': 'application/json', user: 'ignored', [H.keyId]: 'k1' };
  const text = canonicalTask('q', (n) => h[n as keyof typeof h], new Uint8Array([0x41])).toString('latin1');
  assert.equal(text, 'celeriac-task-v1\nqueue:q\nceleriac-key:k1\ntask:math.add\nid:a\ncontent-type:application/json\n\nA');
});

test('age: measured from issued-at (or eta) to when the broker stored it, with clock skew', () => {
  assert.equal(ageProblem(1000, null, 1000 + 300_000, 300_000, 30_000), null);
  assert.match(ageProblem(1000, null, 1001 + 300_000, 300_000, 30_000) ?? '', /stored 300001 ms after/);
  assert.match(ageProblem(100_000, null, 69_000, 300_000, 30_000) ?? '', /after the broker stored it/);
  assert.equal(ageProblem(1000, 3_600_000, 3_600_000 + 299_000, 300_000, 30_000), null, 'a delayed task counts from its eta');
});

test('control requests: signed, and a changed subject or body is refused', () => {
  const b = new TextEncoder().encode('{"command":"shutdown"}');
  const h = signControl('app.control', b, signer);
  assert.equal(verifyControl('app.control', (n) => h[n], b, keys).ok, true);
  assert.equal(verifyControl('other.control', (n) => h[n], b, keys).ok, false);
  assert.equal(verifyControl('app.control', (n) => h[n], new TextEncoder().encode('{"command":"ping"}'), keys).ok, false);
});

test('control-bucket values: sealed with bucket and key; moved or altered ones are refused', () => {
  const v = new TextEncoder().encode('{"terminate":true}');
  const sealed = sealKvValue('app-revoked', 'task-1', v, signer);
  const ok = openKvValue('app-revoked', 'task-1', sealed, keys);
  assert.ok(ok.ok && Buffer.from(ok.value).equals(Buffer.from(v)));
  assert.equal(openKvValue('app-revoked', 'task-2', sealed, keys).ok, false, 'copied to another key');
  assert.equal(openKvValue('app-control', 'task-1', sealed, keys).ok, false, 'copied to another bucket');
  const r = openKvValue('app-revoked', 'task-1', v, keys);
  assert.ok(!r.ok && r.reason === 'unsigned');
});

test('AES-256-GCM: round trip; a wrong key, another task id or a flipped bit fails', () => {
  const key = { id: 'e1', key: createSecretKey(randomBytes(32)) };
  const plain = randomBytes(1000);
  const c = encryptBody(plain, key, 'id-1');
  assert.equal(c.length, plain.length + 28);
  assert.ok(Buffer.from(decryptBody(c, key.key, 'id-1')).equals(plain));
  assert.throws(() => decryptBody(c, createSecretKey(randomBytes(32)), 'id-1'));
  assert.throws(() => decryptBody(c, key.key, 'id-2'));
  const flipped = Buffer.from(c);
  flipped[40] = (flipped[40] as number) ^ 1;
  assert.throws(() => decryptBody(flipped, key.key, 'id-1'));
});

test('nonce cache: a nonce is accepted once; entries go once the lane moved past them; bounded', () => {
  const c = new NonceCache(1000);
  assert.equal(c.add('n1', 5000, 'q', 1000), true);
  assert.equal(c.add('n1', 5000, 'q', 2000), false);
  // The queue delivered a message stored after n1's deadline: n1 can no longer be replayed, so it goes.
  for (let i = 0; i < 20; i++) c.add(`m${i}`, 100_000, 'q', 6000);
  assert.equal(c.add('n1', 5000, 'q', 6000), true, 'forgotten after its deadline (a copy would be refused as expired)');
  for (let i = 0; i < 2000; i++) c.add(`x${i}`, 1e12, 'q', 7000);
  assert.equal(c.size, 1000);
  assert.ok(c.evictedLive > 0);
});

test('security options: each rule names the option', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{}, /signingKey, verifyKeys/],
    [{ signingKey: 'not a pem and no file' }, /options\.security\.signingKey/],
    [{ signingKey: k1.publicKey }, /Ed25519 private key/],
    [{ verifyKeys: { 'bad id!': k1.publicKey } }, /verifyKeys key/],
    [{ verifyKeys: { k1: k1.publicKey }, queues: [] }, /options\.security\.queues/],
    [{ verifyKeys: { k1: k1.publicKey }, encryptionKey: new Uint8Array(16) }, /encryptionKey must be 32 bytes/],
    [{ verifyKeys: { k1: k1.publicKey }, maxAge: '10ms' }, /maxAge must be at least 1s/],
    [{ verifyKeys: { k1: k1.publicKey }, nonceCacheSize: 5 }, /nonceCacheSize/],
    [{ verifyKeys: { k1: k1.publicKey }, keyId: '' }, /options\.security\.keyId/],
  ];
  for (const [o, re] of bad) {
    assert.throws(() => resolveSecurityOptions(o as never), (e: unknown) => isInvalidArgumentError(e) && re.test((e as Error).message), JSON.stringify(Object.keys(o as object)));
  }
  const pem = k1.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const r = resolveSecurityOptions({ signingKey: pem, keyId: 'k1', encryptionKey: randomBytes(32).toString('base64') });
  assert.ok(r?.signing && r.verifyKeys.has('k1') && r.decryptionKeys.has('default'));
  assert.equal(r.maxAgeMs, 300_000);
  assert.equal(resolveSecurityOptions(undefined), null);
});

test('CELERIAC_SIGNING_KEY / _VERIFY_KEYS / _ENCRYPTION_KEY fill options.security from files; signing raises the dedupe window', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { fromEnv } = await import('../../../src/cli/env.ts');
  const { resolveAppOptions } = await import('../../../src/app/app-options.ts');
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-env-keys-'));
  try {
    writeFileSync(join(dir, 'k.key'), k1.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'old.pub'), k2.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'k.aes'), randomBytes(32).toString('base64'));
    const o = fromEnv({
      CELERIAC_SIGNING_KEY: join(dir, 'k.key'),
      CELERIAC_SIGNING_KEY_ID: 'k1',
      CELERIAC_VERIFY_KEYS: `k1=${join(dir, 'k.key')},old=${join(dir, 'old.pub')}`,
      CELERIAC_ENCRYPTION_KEY: join(dir, 'k.aes'),
      CELERIAC_SIGNED_QUEUES: 'payments, orders',
    });
    const r = resolveAppOptions(o);
    assert.deepEqual([...(r.security?.verifyKeys.keys() ?? [])], ['k1', 'old']);
    assert.equal(r.security?.signing?.id, 'k1');
    assert.deepEqual(r.security?.queues, new Set(['payments', 'orders']));
    assert.ok(r.security?.encryption);
    assert.equal(r.duplicateWindowMs, 330_000, 'maxAge 5m + skew 30s');
    assert.equal(resolveAppOptions({ ...o, duplicateWindow: '2m' }).duplicateWindowMs, 120_000, 'an explicit window is kept');
    assert.equal(resolveAppOptions({}).duplicateWindowMs, 120_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
