/**
 * Fencing of a stale attempt (a worker paused past AckWait): when the redelivery of the same message
 * has already stored the terminal result, the stale attempt neither writes nor acks (an ack names the
 * stream sequence, so the broker would take it for the current delivery's: nats-server#4786). When
 * the terminal result came from a different message (a duplicate publish), it acks its own message.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { codecByName } from '../../../src/protocol/codec.ts';
import { encodeTask } from '../../../src/protocol/envelope.ts';
import { fakeMessage, memoryExecutor, registerTestTask } from '../../helpers/fake-message.ts';

const APP = `fence-${randomUUID().slice(0, 8)}`;
const codec = codecByName('msgpack');
/** Gates of the runs in progress, by `<sequence>.<delivery>`. */
const gates = new Map<string, () => void>();
registerTestTask(APP, 'gated', async (ctx: { attempt: { token: string } }) => {
  await new Promise<void>((resolve) => gates.set(ctx.attempt.token, resolve));
  return ctx.attempt.token;
});

function setup() {
  return memoryExecutor(APP);
}

async function open(token: string): Promise<void> {
  for (let i = 0; i < 200 && !gates.has(token); i++) await new Promise((r) => setTimeout(r, 5));
  const g = gates.get(token);
  assert.ok(g, `run ${token} started`);
  g();
}

test('a stale delivery that wakes after the redelivery finished: no write, no ack', async () => {
  const { backend, executor } = setup();
  try {
    const t = encodeTask({ task: 'gated', id: 'job-1', args: [] }, codec);
    const stale = fakeMessage(t, 7, 1);
    const staleDone = executor.handleAndWait(stale);
    const fresh = fakeMessage(t, 7, 2);
    const freshDone = executor.handleAndWait(fresh);
    await open('7.2');
    await freshDone;
    assert.deepEqual(fresh.settled, ['ack']);
    await open('7.1');
    await staleDone;
    assert.deepEqual(stale.settled, [], 'the stale delivery sent no ack');
    const stored = await backend.get('job-1');
    assert.equal(stored?.result, '7.2', 'the stored result is the redelivery’s');
  } finally {
    executor.close();
  }
});

test('a copy of a task finished by another message (duplicate publish) still acks its own message', async () => {
  const { backend, executor } = setup();
  try {
    const t = encodeTask({ task: 'gated', id: 'job-2', args: [] }, codec);
    const first = fakeMessage(t, 8, 1);
    const firstDone = executor.handleAndWait(first);
    const copy = fakeMessage(t, 9, 1);
    const copyDone = executor.handleAndWait(copy);
    await open('9.1');
    await copyDone;
    await open('8.1');
    await firstDone;
    assert.deepEqual(copy.settled, ['ack']);
    assert.deepEqual(first.settled, ['ack'], 'its message is done: the result is terminal and nobody else holds it');
    assert.equal((await backend.get('job-2'))?.result, '9.1');
  } finally {
    executor.close();
  }
});
