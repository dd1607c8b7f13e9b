/** `task.delayMany`: bulk enqueue, all-or-nothing on bad input, results in order. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createApp, isInvalidArgumentError } from '../../../src/index.ts';
import { resetMemoryBroker, silentLogger } from '../../../src/testing.ts';

test('delayMany sends one task per argument list and resolves with their results in order', async () => {
  const broker = `dm-${randomUUID()}`;
  const app = createApp({ name: 'dm', broker: `memory://${broker}` });
  const add = app.task('dm.add', async (_c, a: number, b: number) => a + b);
  const w = app.worker({ logger: silentLogger, concurrency: 16, scheduler: false });
  await w.start();
  try {
    const argsList = Array.from({ length: 2500 }, (_, i): [number, number] => [i, 1]);
    const results = await add.delayMany(argsList);
    assert.equal(results.length, 2500);
    assert.equal(new Set(results.map((r) => r.id)).size, 2500, 'every task has its own id');
    const values = await Promise.all(results.map((r) => r.get({ timeout: '10s' })));
    assert.deepEqual(values, argsList.map(([a]) => a + 1));
    assert.deepEqual(await add.delayMany([]), []);
  } finally {
    await w.stop();
    await app.close();
    resetMemoryBroker(broker);
  }
});

test('delayMany refuses bad input before sending anything', async () => {
  const broker = `dm-${randomUUID()}`;
  const app = createApp({ name: 'dm2', broker: `memory://${broker}` });
  const add = app.task('dm.add', async (_c, a: number, b: number) => a + b);
  try {
    await assert.rejects(add.delayMany([[1, 2], 'oops' as unknown as [number, number]]), (err: unknown) => isInvalidArgumentError(err) && /argsList\[1\] is string, but args must be an array/.test((err as Error).message));
    // The last of 3,000 is too large: checked before the first is sent.
    const big = Array.from({ length: 3000 }, (_, i): [number, number] => [i, 1]);
    big.push(['x'.repeat(2 * 1024 * 1024) as unknown as number, 1]);
    await assert.rejects(add.delayMany(big), /maxPayloadBytes/);
    // Nested deeper than the protocol allows, in the middle.
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    await assert.rejects(add.delayMany([[1, 2], [deep as number, 1], [3, 4]]), /nest/i);
    await assert.rejects(add.delayMany([[1, 2]], { taskId: 'x' }), /taskId cannot be given/);
    await assert.rejects(add.delayMany('nope' as unknown as Array<[number, number]>), /argsList must be an array/);
    assert.deepEqual(await app.queueStats('default'), [{ queue: 'default', depth: 0, inFlight: 0, redelivered: 0, waitingPulls: 0, hasConsumer: false }], 'nothing was sent');
  } finally {
    await app.close();
    resetMemoryBroker(broker);
  }
});

test('a publish failing part-way says how many tasks were published; those stay queued', async () => {
  const broker = `dm-${randomUUID()}`;
  const app = createApp({ name: 'dm3', broker: `memory://${broker}`, maxQueuedTasks: 5 });
  const add = app.task('dm.add', async (_c, a: number, b: number) => a + b);
  try {
    await assert.rejects(
      add.delayMany(Array.from({ length: 8 }, (_, i): [number, number] => [i, 1])),
      (err: unknown) => /dm\.add\.delayMany: 5 of 8 tasks were published before a publish failed/.test((err as Error).message),
    );
    const [stats] = await app.queueStats('default');
    assert.equal(stats?.depth, 5);
  } finally {
    await app.close();
    resetMemoryBroker(broker);
  }
});

test('a signed and encrypted app: every task of a bulk call carries its own signature and runs', async () => {
  const { generateKeyPairSync, randomBytes } = await import('node:crypto');
  const key = generateKeyPairSync('ed25519');
  const broker = `dm-${randomUUID()}`;
  const app = createApp({
    name: 'dm4',
    broker: `memory://${broker}`,
    security: { signingKey: key.privateKey, keyId: 'k1', verifyKeys: { k1: key.publicKey }, encryptionKey: randomBytes(32), encryptionKeyId: 'e1' },
  });
  const add = app.task('dm.add', async (_c, a: number, b: number) => a + b);
  const w = app.worker({ logger: silentLogger, concurrency: 16, scheduler: false });
  await w.start();
  try {
    const argsList = Array.from({ length: 300 }, (_, i): [number, number] => [i, 2]);
    const results = await add.delayMany(argsList);
    const values = await Promise.all(results.map((r) => r.get({ timeout: '10s' })));
    assert.deepEqual(values, argsList.map(([a]) => a + 2));
    assert.equal(w.stats().rejected, 0, 'no signature was refused');
  } finally {
    await w.stop();
    await app.close();
    resetMemoryBroker(broker);
  }
});
