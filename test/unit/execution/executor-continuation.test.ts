/**
 * The executor runs a workflow's continuation after the final result is written and before the
 * ack, and again on a redelivery of the same message (its earlier delivery may have died in
 * between), but not for a different message that carries the id of a finished task.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { codecByName } from '../../../src/protocol/codec.ts';
import { encodeTask } from '../../../src/protocol/envelope.ts';
import { fakeMessage, memoryExecutor, registerTestTask } from '../../helpers/fake-message.ts';

const APP = `cont-${randomUUID().slice(0, 8)}`;
const codec = codecByName('msgpack');
registerTestTask(APP, 'add', (_c: unknown, a: number, b: number) => a + b);

test('continuation: after the write, before the ack; again on a redelivery; not for another message with the same id', async () => {
  const runs: string[] = [];
  let failNext = true;
  const { backend, executor } = memoryExecutor(APP, {
    maxCrashes: 2,
    continuation: (task, record) => ({
      children: ['next-1'],
      run: async () => {
        runs.push(`${task.id}:${record.status}:${String(record.result)}`);
        if (failNext) {
          failNext = false;
          throw new Error('broker hiccup while publishing the next step');
        }
      },
    }),
  });
  try {
    const t = encodeTask({ task: 'add', id: 'job-1', args: [2, 3], embed: { chain: [{ task: 'add', args: [1] }] } }, codec);
    const first = fakeMessage(t, 7, 1);
    await executor.handleAndWait(first);
    assert.deepEqual(first.settled, ['nak'], 'the continuation failed: handed back, not acked');
    const stored = await backend.get('job-1');
    assert.equal(stored?.status, 'SUCCESS', 'the result was written first');
    assert.deepEqual(stored?.children, ['next-1'], 'with the ids of the tasks it starts');

    const again = fakeMessage(t, 7, 2);
    await executor.handleAndWait(again);
    assert.deepEqual(again.settled, ['ack']);
    assert.deepEqual(runs, ['job-1:SUCCESS:5', 'job-1:SUCCESS:5'], 'the redelivery continued the workflow again');

    const other = fakeMessage({ ...t, headers: { ...t.headers, idempotency_key: 'job-1' } }, 8, 1);
    await executor.handleAndWait(other);
    assert.deepEqual(other.settled, ['ack']);
    assert.equal(runs.length, 2, 'a different message with the same id does not continue it');
  } finally {
    executor.close();
  }
});
