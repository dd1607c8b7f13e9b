/** A worker holds consumed task bodies to its own maxPayloadBytes (checked before decoding). */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { type App, createApp } from '../../../src/app/create-app.ts';
import { isTaskError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/testing.ts';
import { memoryAppHarness } from '../../helpers/memory-harness.ts';

const { apps, workers, brokers } = memoryAppHarness();

/** A producer and a worker app of one name on one embedded broker, with their own payload limits. */
function pair(producerLimit: number, workerLimit: number) {
  const broker = `memory://limit-${randomUUID()}`;
  brokers.push(broker.slice('memory://'.length));
  const name = `lim-${randomUUID().slice(0, 8)}`;
  const producer = createApp({ name, broker, maxPayloadBytes: producerLimit });
  const workerApp = createApp({ name, broker, maxPayloadBytes: workerLimit });
  apps.push(producer, workerApp);
  const size = producer.task('text.size', (_ctx, s: string) => s.length);
  return { producer, workerApp, size };
}

async function startWorker(app: App): Promise<void> {
  const w = app.worker({ logger: silentLogger });
  workers.push(w);
  await w.start();
}

test('a body over the worker\'s maxPayloadBytes is dead-lettered as undecodable; smaller ones run', async () => {
  const { producer, workerApp, size } = pair(64 * 1024, 4096);
  await startWorker(workerApp);
  const big = await size.delay('x'.repeat(10_000));
  await assert.rejects(big.get({ timeout: '5s' }), (err: unknown) => {
    assert.ok(isTaskError(err));
    assert.equal(err.remote.code, 'E_DECODE');
    assert.match(err.message, /exceeds maxPayloadBytes \(4096\)/);
    return true;
  });
  assert.equal(await (await size.delay('small')).get({ timeout: '5s' }), 5);
  const entries = await producer.deadLetters.list();
  assert.equal(entries.length, 1);
  assert.equal(entries[0]?.reason, 'undecodable');
});

test('a worker whose maxPayloadBytes is above 1 MiB runs a 1.5 MiB task', async () => {
  const { workerApp, size } = pair(2 * 1024 * 1024, 2 * 1024 * 1024);
  await startWorker(workerApp);
  const r = await size.delay('y'.repeat(1_500_000));
  assert.equal(await r.get({ timeout: '10s' }), 1_500_000);
});
