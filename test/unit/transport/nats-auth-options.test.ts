import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveAppOptions } from '../../../src/app/app-options.ts';
import { fromEnv } from '../../../src/cli/env.ts';
import { isInvalidArgumentError } from '../../../src/errors.ts';
import { resolveNatsSecurityOptions } from '../../../src/transport/nats/nats-auth.ts';

const SEED = 'SUAGIALSTI2VB34ZOW5P36VA7SNNYYO57HUYDNJQQKJ47TKFMGWUEF2V5U';

function rejects(o: unknown, message: RegExp): void {
  assert.throws(() => resolveAppOptions({ nats: o } as never), (err: unknown) => isInvalidArgumentError(err) && message.test((err as Error).message));
}

test('no nats option: no credentials', () => {
  assert.deepEqual(resolveAppOptions({}).nats, { auth: 'none' });
});

test('each credential kind resolves', () => {
  assert.equal(resolveNatsSecurityOptions({ token: 't' }).auth, 'token');
  assert.equal(resolveNatsSecurityOptions({ user: 'u', pass: 'p' }).auth, 'user');
  assert.equal(resolveNatsSecurityOptions({ nkeySeed: SEED }).auth, 'nkey');
  assert.equal(resolveNatsSecurityOptions({ nkeySeedFile: '/x.nk' }).auth, 'nkey');
  assert.equal(resolveNatsSecurityOptions({ credsFile: '/x.creds' }).auth, 'creds');
  assert.deepEqual(resolveNatsSecurityOptions({ tls: true }), { auth: 'none', tls: {} });
  assert.deepEqual(resolveNatsSecurityOptions({ tls: false }), { auth: 'none' });
});

test('options.nats: an unknown key is named', () => rejects({ password: 'x' }, /options\.nats\.password is not an option/));
test('options.nats: two credential kinds are refused', () => rejects({ token: 't', user: 'u', pass: 'p' }, /one credential kind, got token \+ user/));
test('options.nats.pass needs user', () => rejects({ pass: 'p' }, /options\.nats\.pass needs options\.nats\.user/));
test('options.nats: nkeySeed and nkeySeedFile are exclusive', () => rejects({ nkeySeed: SEED, nkeySeedFile: '/x' }, /nkeySeed or nkeySeedFile, not both/));
test('options.nats.nkeySeed must look like a user seed (and is not echoed)', () => {
  rejects({ nkeySeed: 'SAsecretsecret' }, /^options\.nats\.nkeySeed must be an NKey user seed \(SU followed by 56 base32 characters\)$/);
});
test('options.nats: strings must be non-empty', () => rejects({ token: '' }, /options\.nats\.token must be a non-empty string/));
test('options.nats.tls: certFile needs keyFile', () => rejects({ tls: { certFile: '/c.pem' } }, /certFile and keyFile go together/));
test('options.nats.tls: unknown key', () => rejects({ tls: { ca: 'x' } }, /options\.nats\.tls\.ca is not an option/));
test('options.nats.tls: must be a boolean or an object', () => rejects({ tls: 'yes' }, /options\.nats\.tls must be a boolean or/));
test('options.nats.tls.handshakeFirst must be a boolean', () => rejects({ tls: { handshakeFirst: 1 } }, /handshakeFirst must be a boolean/));
test('options.nats.inboxPrefix has no wildcards', () => rejects({ inboxPrefix: '_INBOX.>' }, /inboxPrefix must be dot-separated tokens without wildcards/));

test('options.streamReplicas: default 1, 1..5', () => {
  assert.equal(resolveAppOptions({}).streamReplicas, 1);
  assert.equal(resolveAppOptions({ streamReplicas: 3 }).streamReplicas, 3);
  assert.throws(() => resolveAppOptions({ streamReplicas: 0 }), /options\.streamReplicas must be a positive integer/);
  assert.throws(() => resolveAppOptions({ streamReplicas: 7 }), /options\.streamReplicas must be at most 5/);
});

test('CELERIAC_NATS_* and CELERIAC_STREAM_REPLICAS fill the options', () => {
  assert.deepEqual(fromEnv({}), {});
  const o = fromEnv({
    CELERIAC_NATS_USER: 'w',
    CELERIAC_NATS_PASSWORD: 'p',
    CELERIAC_NATS_TLS_CA: '/ca.pem',
    CELERIAC_NATS_TLS_CERT: '/c.pem',
    CELERIAC_NATS_TLS_KEY: '/k.pem',
    CELERIAC_NATS_INBOX_PREFIX: '_INBOX_worker',
    CELERIAC_STREAM_REPLICAS: '3',
  });
  assert.deepEqual(o, {
    streamReplicas: 3,
    nats: { user: 'w', pass: 'p', inboxPrefix: '_INBOX_worker', tls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' } },
  });
  assert.deepEqual(fromEnv({ CELERIAC_NATS_TOKEN: 't', CELERIAC_NATS_TLS: '1' }).nats, { token: 't', tls: true });
  assert.deepEqual(fromEnv({ CELERIAC_NATS_CREDS: '/u.creds' }).nats, { credsFile: '/u.creds' });
  assert.deepEqual(fromEnv({ CELERIAC_NATS_NKEY_SEED_FILE: '/u.nk' }).nats, { nkeySeedFile: '/u.nk' });
});
