/**
 * State writes a task makes while it runs (`ctx.progress`, `ctx.updateState`) when the result store
 * refuses them: a task that did not await its write must not take the worker down with an
 * unhandled rejection; the failure is logged and the task's own outcome is still stored.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { codecByName } from '../../../src/protocol/codec.ts';
import { encodeTask } from '../../../src/protocol/envelope.ts';
import type { TaskContext } from '../../../src/execution/task-definition.ts';
import { fakeMessage, memoryExecutor, registerTestTask } from '../../helpers/fake-message.ts';
import { recordingLogger } from '../../helpers/failure-scenarios.ts';

const APP = `states-${randomUUID().slice(0, 8)}`;
const codec = codecByName('msgpack');

registerTestTask(APP, 'careless', async (ctx: TaskContext) => {
  void ctx.progress({ step: 1 }); // not awaited
  void ctx.updateState('UPLOADING', { part: 1 }); // not awaited
  await new Promise((r) => setTimeout(r, 20));
  return 'done anyway';
});

test('a failed progress or state write the task did not await is logged, not an unhandled rejection; the result is stored', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const logger = recordingLogger();
  const { backend, executor } = memoryExecutor(APP, {
    logger,
    writeResult: async (h, r) => {
      if (r.status !== 'SUCCESS') throw new Error(`store down for ${r.status}`);
      return h.write(r);
    },
  });
  try {
    const msg = fakeMessage(encodeTask({ task: 'careless', id: 'job-1', args: [] }, codec), 1, 1);
    await executor.handleAndWait(msg);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
    assert.deepEqual(msg.settled, ['ack']);
    assert.equal((await backend.get('job-1'))?.result, 'done anyway');
    const warned = logger.lines.filter((l) => l.msg === 'state write failed').map((l) => [l.fields?.state, l.fields?.error]);
    assert.deepEqual(warned, [
      ['PROGRESS', 'store down for PROGRESS'],
      ['UPLOADING', 'store down for UPLOADING'],
    ]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    executor.close();
  }
});
