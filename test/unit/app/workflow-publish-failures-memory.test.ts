/**
 * A worker that cannot publish the next step of a workflow because the message is bad (an option
 * out of range, a body over maxPayloadBytes) fails the rest of the workflow instead of handing the
 * finished task back for ever; a chord body too large inline gets its values by reference.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createApp } from '../../../src/app/create-app.ts';
import { type Chain, type Chord, type Signature, chord } from '../../../src/canvas/signature.ts';
import { ClosedError, InvalidArgumentError, NestingTooDeepError, PayloadTooLargeError, PublishError, QueueFullError, TimeoutError, isTaskError } from '../../../src/errors.ts';
import { isPermanentPublishError } from '../../../src/app/workflow-runtime.ts';
import { silentLogger } from '../../../src/testing.ts';
import { memoryAppHarness } from '../../helpers/memory-harness.ts';

const { apps, workers, brokers } = memoryAppHarness();

async function setup(maxPayloadBytes?: number) {
  const broker = `memory://wpf-${randomUUID()}`;
  brokers.push(broker.slice('memory://'.length));
  const app = createApp({ name: `wpf-${randomUUID().slice(0, 8)}`, broker, ...(maxPayloadBytes ? { maxPayloadBytes } : {}) });
  apps.push(app);
  const add = app.task('math.add', (_ctx, a: number, b: number) => a + b);
  const blob = app.task('t.blob', (_ctx, kb: number) => 'x'.repeat(kb * 1024));
  const lens = app.task('t.lens', (_ctx, xs: string[]) => xs.map((s) => s.length));
  const w = app.worker({ logger: silentLogger });
  workers.push(w);
  await w.start();
  return { app, add, blob, lens };
}

test('a chord whose combined header results are over maxPayloadBytes runs its body with them (by reference)', async () => {
  const { blob, lens } = await setup(64 * 1024);
  const r = await chord([blob.s(30), blob.s(30), blob.s(30)], lens.s()).applyAsync();
  assert.deepEqual(await r.get({ timeout: '10s' }), [30720, 30720, 30720]);
});

test('a later chain step with a bad option fails the chain with a coded error naming the step', async () => {
  const { app } = await setup();
  // Written by hand (set() would refuse the option): only the worker that publishes step 2 sees it.
  const wf = app.signature({
    subtask_type: 'chain',
    tasks: [
      { task: 'math.add', args: [1, 1] },
      { task: 'math.add', args: [2], options: { priority: 12 } },
      { task: 'math.add', args: [3] },
    ],
  }) as Chain<number>;
  const r = await wf.applyAsync();
  const err = await r.get({ timeout: '5s' }).then(
    () => assert.fail('the chain must fail'),
    (e: unknown) => e,
  );
  assert.ok(isTaskError(err), String(err));
  assert.equal(err.remote.code, 'E_INVALID_ARGUMENT');
  assert.match(err.remote.message, /next workflow step, task "math\.add" \(id [0-9a-f-]+\), could not be published: options\.priority must be an integer 0-9/);
  const states = await Promise.all(r.tasks.map((t) => t.state()));
  assert.deepEqual(states, ['SUCCESS', 'FAILURE', 'FAILURE']);
});

test('a chord body that cannot be published fails the chord with the publish error', async () => {
  const { app } = await setup();
  const wf = app.signature({
    subtask_type: 'chord',
    header: [{ task: 'math.add', args: [1, 1] }, { task: 'math.add', args: [2, 2] }],
    body: { task: 'math.add', args: [0], options: { priority: 12 } },
  }) as Chord<number>;
  const r = await wf.applyAsync();
  await assert.rejects(r.get({ timeout: '5s' }), (e: unknown) => isTaskError(e) && e.remote.code === 'E_INVALID_ARGUMENT');
});

test('a link that cannot be published fails the link, not the task that succeeded', async () => {
  const { app, add } = await setup();
  const bad = app.signature({ task: 'math.add', args: [1], options: { priority: 12 } }) as Signature<number>;
  const r = await add.s(1, 1).set({ link: bad }).applyAsync();
  assert.equal(await r.get({ timeout: '5s' }), 2);
  // The record lists the link it started, failed or not.
  const [child] = await app.asyncResult(r.id).children();
  assert.ok(child);
  await assert.rejects(child.get({ timeout: '5s' }), (e: unknown) => isTaskError(e) && e.remote.code === 'E_INVALID_ARGUMENT');
});

test('only errors about the message itself fail a workflow; broker errors hand the finished task back for a retry', () => {
  for (const e of [new InvalidArgumentError('x'), new PayloadTooLargeError(2, 1, 'maxPayloadBytes'), new NestingTooDeepError('t', 'args[0]', 32)]) {
    assert.equal(isPermanentPublishError(e), true, e.name);
  }
  for (const e of [new PublishError('no ack'), new QueueFullError('full'), new TimeoutError('late'), new ClosedError('closed'), new Error('ECONNRESET')]) {
    assert.equal(isPermanentPublishError(e), false, e.name);
  }
});
