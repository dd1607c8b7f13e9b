/**
 * The worker node's supervision tree on memory://: a consumer that keeps crashing is restarted with
 * back-off until the restart intensity is exceeded, then the node fails (the CLI exits 1).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createApp } from '../../../src/app/create-app.ts';
import { isEscalationError } from '../../../src/errors.ts';
import { resetMemoryBroker, silentLogger } from '../../../src/testing.ts';

test('a consumer that cannot subscribe is restarted, then the node fails and reports it', async () => {
  const broker = `wn-${randomUUID()}`;
  const app = createApp({ name: 'wn', broker: `memory://${broker}` });
  app.task('t', async () => 1);
  const transport = app.transport();
  let attempts = 0;
  transport.subscribe = async () => {
    attempts++;
    throw new Error('subscribe refused');
  };
  const worker = app.worker({ logger: silentLogger, maxRestarts: 2, restartWindow: '10s' });
  const fatal = new Promise<Error>((resolve) => worker.onFatal(resolve));
  try {
    await assert.rejects(worker.start(), (err: unknown) => isEscalationError(err));
    const err = await fatal;
    assert.ok(isEscalationError(err));
    assert.equal(attempts, 3, 'first start plus maxRestarts restarts');
    assert.equal(worker.state, 'failed');
  } finally {
    await app.close();
    resetMemoryBroker(broker);
  }
});

test('a crashed consumer is restarted and keeps serving', async () => {
  const broker = `wn-${randomUUID()}`;
  const app = createApp({ name: 'wn2', broker: `memory://${broker}` });
  const add = app.task('add', async (_c, a: number, b: number) => a + b);
  const worker = app.worker({ logger: silentLogger });
  try {
    await worker.start();
    worker.crashConsumer('default');
    const r = await add.delay(1, 2);
    assert.equal(await r.get({ timeout: '5s' }), 3);
    assert.equal(worker.state, 'running');
  } finally {
    await worker.stop();
    await app.close();
    resetMemoryBroker(broker);
  }
});

