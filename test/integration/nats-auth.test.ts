/**
 * NATS security against a real nats-server: the example config of docs/guide/security.md (one user
 * per role), token, NKey, TLS and mutual TLS, a malformed credentials file.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chord, createApp, isBrokerAuthError, isBrokerPermissionError } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { NatsTransport } from '../../src/transport/nats/nats-transport.ts';
import { operatorSetup } from '../helpers/nats-jwt.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONF = join(ROOT, 'docs/guide/security/nats-server.conf');
const SEED_FILE = join(ROOT, 'docs/guide/security/worker.nk');
const APP = 'myapp';

function cli(args: string[], env: Record<string, string>): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [`${ROOT}bin/celeriac.js`, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

function connectionOf(app: ReturnType<typeof createApp>): NonNullable<NatsTransport['connection']> {
  const t = app.transport();
  assert.ok(t instanceof NatsTransport);
  assert.ok(t.connection);
  return t.connection;
}

describe('role permissions of docs/guide/security/nats-server.conf', () => {
  let server: NatsServerHandle;
  before(async () => {
    server = await startNatsServer({ args: ['-c', CONF] });
  });
  after(async () => {
    await server.stop();
  });

  test('admin provisions; a worker and a producer without create rights then run tasks', async () => {
    const fixture = { IT_APP: APP };
    // Before provisioning a worker may not create the streams: a clear error, not a hang.
    const early = cli(['purge', '-Q', 'default', '--force', '--app-name', APP, '-b', server.url], { CELERIAC_NATS_USER: 'worker', CELERIAC_NATS_PASSWORD: 'worker-secret' });
    assert.equal(early.code, 1, early.out);
    assert.match(early.out, /E_BROKER_PERMISSION: .*myapp-tasks does not exist and this NATS user may not create it; run `celeriac provision`/);
    assert.doesNotMatch(early.out, /worker-secret/);

    const prov = cli(['provision', '-A', 'test/fixtures/it-tasks.ts', '-b', server.url, '-Q', 'default', '--buckets', 'sagas:7d', '--json'], {
      ...fixture,
      CELERIAC_NATS_USER: 'admin',
      CELERIAC_NATS_PASSWORD: 'admin-secret',
    });
    assert.equal(prov.code, 0, prov.out);
    const report = JSON.parse(prov.out.trim().split('\n').at(-1) as string) as { streams: string[]; consumers: string[] };
    assert.ok(report.streams.includes('myapp-tasks') && report.streams.includes('KV_myapp-results') && report.streams.includes('KV_myapp-sagas'), prov.out);
    assert.deepEqual(report.consumers, ['default']);

    const worker = startWorkerProcess({ broker: server.url, app: APP, env: { CELERIAC_NATS_USER: 'worker', CELERIAC_NATS_PASSWORD: 'worker-secret' } });
    const producer = createApp({ name: APP, broker: server.url, nats: { user: 'producer', pass: 'producer-secret' } });
    const add = producer.task('math.add', async (_c, a: number, b: number) => a + b);
    const echo = producer.task('test.echo', async (_c, ...args: unknown[]) => ({ args }));
    try {
      await worker.ready;
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => add.delay(i, 1)));
      for (const [i, r] of results.entries()) assert.equal(await r.get({ timeout: '30s' }), i + 1);
      // A chord (join state in the chords bucket) and a countdown (delayed stream, scheduler).
      const joined = await chord([add.s(1, 1), add.s(2, 2)], echo.s()).applyAsync();
      assert.deepEqual(((await joined.get({ timeout: '30s' })) as { args: unknown[] }).args, [[2, 4]]);
      const later = await add.applyAsync([5, 5], { countdown: '1s' });
      assert.equal(await later.get({ timeout: '30s' }), 10);
      // A result too large to store inline goes to the blob bucket by reference (ADR 0012).
      const big = 'x'.repeat(1_040_000);
      const echoed = (await (await echo.delay(big)).get({ timeout: '30s' })) as { args: string[] };
      assert.equal(echoed.args[0]?.length, big.length);
      // The config gives each role what it uses: the worker logged no refused operation.
      assert.doesNotMatch(worker.output(), /may not (publish|subscribe)|Permissions Violation/i, worker.output());

      // The dashboard role, on its own inbox prefix: queues, workers, dead letters, inspect.
      const dash = createApp({ name: APP, broker: server.url, updateBrokerConfig: false, nats: { user: 'dashboard', pass: 'dashboard-secret', inboxPrefix: '_INBOX_dashboard' } });
      const warnings: string[] = [];
      dash.onWarning((m) => warnings.push(m));
      try {
        const [q] = await dash.queueStats('default');
        assert.equal(q?.hasConsumer, true);
        assert.ok((await dash.workers()).some((w) => w.online));
        assert.deepEqual(await dash.deadLetters.list(), []);
        const pongs = await dash.control.inspect({ timeout: 3000 }).ping();
        assert.equal(pongs.length, 1);
        assert.equal(pongs[0]?.ok, true);
        assert.deepEqual(warnings, []);
        // A publish the server refuses fails at once with the subject, not at the PubAck timeout.
        const started = Date.now();
        await assert.rejects(
          dash.sendTask('math.add', [1, 1], { countdown: '1s' }),
          (err: unknown) => isBrokerPermissionError(err) && /may not publish to "\$KV\.myapp-results\./.test((err as Error).message),
        );
        assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
      } finally {
        await dash.close();
      }
      // Without its prefix the dashboard user may not receive replies on _INBOX: refused, clearly.
      const noPrefix = createApp({ name: APP, broker: server.url, updateBrokerConfig: false, nats: { user: 'dashboard', pass: 'dashboard-secret' } });
      await assert.rejects(noPrefix.queueStats('default'), (err: unknown) => /Permissions Violation for Subscription to "_INBOX\./.test(String((err as Error).message) + String((err as Error).cause)));
      await noPrefix.close();
    } finally {
      worker.proc.kill('SIGTERM');
      await worker.exited;
      await producer.close();
    }
  });

  test('a producer can enqueue and read results but cannot consume', async () => {
    const producer = createApp({ name: APP, broker: server.url, nats: { user: 'producer', pass: 'producer-secret' } });
    try {
      const r = await producer.sendTask('math.add', [1, 2]);
      assert.ok(r.id);
      const nc = connectionOf(producer);
      // A pull on the queue's consumer is refused by the server.
      await assert.rejects(nc.request(`$JS.API.CONSUMER.MSG.NEXT.${APP}-tasks.default`, JSON.stringify({ batch: 1, no_wait: true }), { timeout: 5000 }), (err: Error) => {
        assert.equal((err.cause as Error | undefined)?.name ?? err.name, 'PermissionViolationError', String(err));
        return true;
      });
      // Celeriac's own consume path says which permission is missing.
      await assert.rejects(
        producer.transport().subscribe('default', () => undefined),
        (err: unknown) => isBrokerPermissionError(err) && /may not publish to "\$JS\.API\.CONSUMER\.INFO\.myapp-tasks\.default"/.test((err as Error).message),
      );
    } finally {
      await producer.close();
    }
  });

  test('a worker cannot purge a queue; an admin can', async () => {
    const w = createApp({ name: APP, broker: server.url, nats: { user: 'worker', pass: 'worker-secret' } });
    const admin = createApp({ name: APP, broker: server.url, nats: { user: 'admin', pass: 'admin-secret' }, updateBrokerConfig: false });
    try {
      await assert.rejects(w.purge('default'), (err: unknown) => {
        assert.ok(isBrokerPermissionError(err), String(err));
        assert.equal((err as { code: string }).code, 'E_BROKER_PERMISSION');
        assert.match((err as Error).message, /purging queue default: this NATS user may not publish to "\$JS\.API\.STREAM\.PURGE\.myapp-tasks"/);
        return true;
      });
      assert.ok((await admin.purge('default')) >= 1, 'the producer test left a task to purge');
    } finally {
      await w.close();
      await admin.close();
    }
  });

  test('a worker whose options differ from the provisioned streams starts with a warning, not an error', async () => {
    const w = createApp({ name: APP, broker: server.url, maxQueuedTasks: 1234, nats: { user: 'worker', pass: 'worker-secret' } });
    const warnings: string[] = [];
    w.onWarning((m) => warnings.push(m));
    try {
      await w.transport().connect();
      assert.ok(
        warnings.some((m) => /stream myapp-tasks differs from the app's options in max_msgs and this NATS user may not update it; using it as it is/.test(m)),
        warnings.join('\n'),
      );
    } finally {
      await w.close();
    }
  });

  test('a wrong password is refused with a clear error that holds no secret', async () => {
    const app = createApp({ name: APP, broker: server.url, nats: { user: 'worker', pass: 'not-the-password' } });
    try {
      await assert.rejects(app.transport().connect(), (err: unknown) => {
        assert.ok(isBrokerAuthError(err), String(err));
        assert.equal((err as { code: string }).code, 'E_BROKER_AUTH');
        assert.match((err as Error).message, /refused the connection: user "worker" or its password was refused/);
        assert.doesNotMatch((err as Error).message, /not-the-password/);
        return true;
      });
      const none = createApp({ name: APP, broker: server.url });
      await assert.rejects(none.transport().connect(), (err: unknown) => isBrokerAuthError(err) && /no credentials were given/.test((err as Error).message));
      await none.close();
    } finally {
      await app.close();
    }
  });

  test('an NKey user (seed file) gets its role', async () => {
    const app = createApp({ name: APP, broker: server.url, nats: { nkeySeedFile: SEED_FILE } });
    try {
      // The NKey user has the worker role: it may read the queue's consumer, and not purge.
      const [s] = await app.queueStats('default');
      assert.equal(s?.hasConsumer, true);
      await assert.rejects(app.purge('default'), (err: unknown) => isBrokerPermissionError(err));
      const bad = createApp({ name: APP, broker: server.url, nats: { nkeySeed: 'SUAGIALSTI2VB34ZOW5P36VA7SNNYYO57HUYDNJQQKJ47TKFMGWUEFAAAA' } });
      await assert.rejects(bad.transport().connect(), (err: unknown) => isBrokerAuthError(err));
      await bad.close();
    } finally {
      await app.close();
    }
  });
});

test('a worker on its own inbox prefix needs subscribe rights on that prefix only', async () => {
  // The example config with the worker's reply subscriptions narrowed to _INBOX_worker.>.
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-prefix-'));
  const conf = join(dir, 'nats-server.conf');
  const text = readFileSync(CONF, 'utf8');
  const narrowed = text.replace('"_INBOX.>", "_CEL_PA.>", "_CEL_PULL.>", "_CEL_DLY.>",', '"_INBOX_worker.>",');
  assert.notEqual(narrowed, text, 'the worker subscribe line of the example config changed: update this test');
  writeFileSync(conf, narrowed);
  await using server = await startNatsServer({ args: ['-c', conf] });
  const prov = cli(['provision', '-A', 'test/fixtures/it-tasks.ts', '-b', server.url], { IT_APP: APP, CELERIAC_NATS_USER: 'admin', CELERIAC_NATS_PASSWORD: 'admin-secret' });
  assert.equal(prov.code, 0, prov.out);
  const env = { CELERIAC_NATS_USER: 'worker', CELERIAC_NATS_PASSWORD: 'worker-secret', CELERIAC_NATS_INBOX_PREFIX: '_INBOX_worker' };
  const worker = startWorkerProcess({ broker: server.url, app: APP, env });
  const producer = createApp({ name: APP, broker: server.url, nats: { user: 'producer', pass: 'producer-secret' } });
  const add = producer.task('math.add', async (_c, a: number, b: number) => a + b);
  try {
    await worker.ready;
    const now = await add.delay(1, 2);
    const later = await add.applyAsync([3, 4], { countdown: '1s' });
    assert.equal(await now.get({ timeout: '30s' }), 3);
    assert.equal(await later.get({ timeout: '30s' }), 7);
    assert.doesNotMatch(worker.output(), /may not (publish|subscribe)|Permissions Violation/i, worker.output());
  } finally {
    worker.proc.kill('SIGTERM');
    await worker.exited;
    await producer.close();
    rmSync(dir, { recursive: true, force: true });
  }
  // The same worker without the prefix is refused its replies.
  const bare = startWorkerProcess({ broker: server.url, app: APP, env: { CELERIAC_NATS_USER: 'worker', CELERIAC_NATS_PASSWORD: 'worker-secret' } });
  try {
    const deadline = Date.now() + 20_000;
    while (!/E_BROKER_PERMISSION|may not subscribe to/.test(bare.output()) && bare.proc.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(bare.output(), /checking JetStream \(\$JS\.API\.INFO\): this NATS user may not subscribe to \\?"_INBOX\./, bare.output());
    assert.doesNotMatch(bare.output(), /worker ready/);
  } finally {
    bare.proc.kill('SIGKILL');
    await bare.exited;
  }
});

test('token auth: the right token connects, a wrong one is refused', async () => {
  await using server = await startNatsServer({ args: ['--auth', 's3cret-token'] });
  const ok = createApp({ name: 'tok', broker: server.url, nats: { token: 's3cret-token' } });
  const add = ok.task('math.add', async (_c, a: number, b: number) => a + b);
  const worker = ok.worker({ queues: ['default'] });
  try {
    await worker.start();
    assert.equal(await (await add.delay(2, 3)).get({ timeout: '20s' }), 5);
  } finally {
    await worker.stop();
    await ok.close();
  }
  const wrong = createApp({ name: 'tok', broker: server.url, nats: { token: 'guess' } });
  await assert.rejects(wrong.transport().connect(), (err: unknown) => isBrokerAuthError(err) && /token .* was refused/.test((err as Error).message) && !/guess/.test((err as Error).message));
  await wrong.close();
});

test('credentials files (operator mode, user JWT + seed): permissions from the JWT, expired JWT refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-jwt-'));
  try {
    const setup = operatorSetup(dir);
    await using server = await startNatsServer({ args: ['-c', setup.conf] });
    const full = setup.user('worker');
    const app = createApp({ name: 'jwt', broker: server.url, nats: { credsFile: full } });
    const add = app.task('math.add', async (_c, a: number, b: number) => a + b);
    const worker = app.worker({ queues: ['default'] });
    try {
      await worker.start();
      assert.equal(await (await add.delay(2, 3)).get({ timeout: '20s' }), 5);
    } finally {
      await worker.stop();
      await app.close();
    }
    const noPurge = createApp({ name: 'jwt', broker: server.url, nats: { credsFile: setup.user('no-purge', { pub: { deny: ['$JS.API.STREAM.PURGE.>'] } }) } });
    await assert.rejects(noPurge.purge('default'), (err: unknown) => isBrokerPermissionError(err) && /STREAM\.PURGE\.jwt-tasks/.test((err as Error).message));
    await noPurge.close();
    const expired = setup.user('expired', {}, Math.floor(Date.now() / 1000) - 60);
    const late = createApp({ name: 'jwt', broker: server.url, nats: { credsFile: expired } });
    await assert.rejects(late.transport().connect(), (err: unknown) => isBrokerAuthError(err) && /expired\.creds was refused/.test((err as Error).message));
    await late.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a malformed or missing credentials file gives a clear error', async () => {
  await using server = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-creds-'));
  try {
    const file = join(dir, 'user.creds');
    writeFileSync(file, 'this is not a creds file\n');
    const app = createApp({ name: 'creds', broker: server.url, nats: { credsFile: file } });
    await assert.rejects(app.transport().connect(), (err: unknown) => isBrokerAuthError(err) && /user\.creds is not a NATS credentials file/.test((err as Error).message));
    await app.close();
    const missing = createApp({ name: 'creds', broker: server.url, nats: { credsFile: join(dir, 'nope.creds') } });
    await assert.rejects(missing.transport().connect(), (err: unknown) => isBrokerAuthError(err) && /nope\.creds cannot be read: ENOENT/.test((err as Error).message));
    await missing.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('TLS', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'celeriac-tls-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=celeriac-test-ca', '-keyout', 'ca-key.pem', '-out', 'ca.pem');
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const who of ['server', 'client']) {
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', `${who}-key.pem`, '-out', `${who}.csr`);
      ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '1', '-extfile', `${who}.ext`, '-out', `${who}.pem`);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const conf = (verify: boolean) => {
    const file = join(dir, verify ? 'mtls.conf' : 'tls.conf');
    writeFileSync(file, `tls {\n  cert_file: "${join(dir, 'server.pem')}"\n  key_file: "${join(dir, 'server-key.pem')}"\n  ca_file: "${join(dir, 'ca.pem')}"\n  verify: ${verify}\n}\n`);
    return file;
  };

  test('TLS with a private CA works; without trusting the CA it is refused clearly', async () => {
    await using server = await startNatsServer({ args: ['-c', conf(false)] });
    const app = createApp({ name: 'tls', broker: server.url, nats: { tls: { caFile: join(dir, 'ca.pem') } } });
    try {
      const stats = await app.queueStats();
      assert.deepEqual(stats, []);
    } finally {
      await app.close();
    }
    const untrusted = createApp({ name: 'tls', broker: server.url, nats: { tls: true } });
    await assert.rejects(untrusted.transport().connect(), (err: unknown) => isBrokerAuthError(err) && /TLS with NATS at .* failed/.test((err as Error).message));
    await untrusted.close();
  });

  test('mutual TLS: a client certificate is required', async () => {
    await using server = await startNatsServer({ args: ['-c', conf(true)] });
    const app = createApp({
      name: 'mtls',
      broker: server.url,
      nats: { tls: { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'client.pem'), keyFile: join(dir, 'client-key.pem') } },
    });
    const add = app.task('math.add', async (_c, a: number, b: number) => a + b);
    const worker = app.worker({ queues: ['default'] });
    try {
      await worker.start();
      assert.equal(await (await add.delay(20, 22)).get({ timeout: '20s' }), 42);
    } finally {
      await worker.stop();
      await app.close();
    }
    const noCert = createApp({ name: 'mtls', broker: server.url, nats: { tls: { caFile: join(dir, 'ca.pem') } } });
    // The server drops the client after the handshake; nats.js gives up after its 20 s connect timeout.
    await assert.rejects(noCert.transport().connect(), (err: unknown) => isBrokerAuthError(err) && /give tls\.certFile and tls\.keyFile/.test((err as Error).message));
    await noCert.close();
  });
});
