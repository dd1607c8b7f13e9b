/**
 * Crash attribution at `maxCrashes`: a suspect runs alone in a quarantine thread. The death of that
 * thread convicts it at once; a death of the whole worker process during the isolated run may be
 * another task's doing (a poison message on the main thread), so it takes two such deaths.
 * Each "process" here is its own executor over one shared ledger and dead-letter store; a process
 * death is a quarantine run that never ends, followed by the next delivery on a new executor.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { TaskOutcome } from '../../../src/execution/task-definition.ts';
import { codecByName } from '../../../src/protocol/codec.ts';
import { encodeTask } from '../../../src/protocol/envelope.ts';
import { AttemptLedger } from '../../../src/results/attempt-ledger.ts';
import { memoryBroker } from '../../../src/transport/memory/memory-broker.ts';
import { MemoryDeadLetterStore } from '../../../src/transport/memory/memory-dead-letters.ts';
import { MemoryKeyValueStore } from '../../../src/transport/memory/memory-kv.ts';
import { until } from '../../helpers/failure-scenarios.ts';
import { fakeMessage, memoryExecutor, registerTestTask } from '../../helpers/fake-message.ts';

const APP = `crash-${randomUUID().slice(0, 8)}`;
const codec = codecByName('msgpack');
registerTestTask(APP, 'suspect', () => 'ran on the main thread');

/** A ledger and a dead-letter store that outlive the "processes". */
function shared() {
  const broker = memoryBroker(APP);
  return {
    ledger: new AttemptLedger(new MemoryKeyValueStore('attempts', broker, 0)),
    deadLetters: new MemoryDeadLetterStore(broker.deadLetters(APP), 1000),
  };
}

/** A quarantine pool whose runs never end (the process dies during them) or end with `outcome`. */
function quarantine(outcome?: TaskOutcome) {
  const runs: string[] = [];
  return {
    runs,
    hangs: outcome === undefined,
    pool: {
      run: (name: string): Promise<TaskOutcome> => {
        runs.push(name);
        return outcome ? Promise.resolve(outcome) : new Promise<TaskOutcome>(() => undefined);
      },
    },
  };
}

/**
 * Deliver delivery `d` of message 1 (task `id`) to a fresh executor ("process"); resolves once it
 * settled, or, when its quarantine runs hang (the process "dies" during them), once such a run
 * began (the ledger has recorded the isolated run by then).
 */
async function deliver(s: ReturnType<typeof shared>, id: string, d: number, q: ReturnType<typeof quarantine>) {
  const { backend, executor } = memoryExecutor(APP, { maxCrashes: 1, quarantine: q.pool, ledger: s.ledger, deadLetters: s.deadLetters });
  const msg = fakeMessage(encodeTask({ task: 'suspect', id, args: [] }, codec), 1, d);
  let settled = false;
  const handled = executor.handleAndWait(msg).then(() => void (settled = true));
  try {
    if (q.hangs) await until(() => settled || q.runs.length > 0, 5_000, `delivery ${d} settled or running in quarantine`);
    else await handled;
  } finally {
    executor.close();
  }
  return { msg, backend };
}

test('one process death during the isolated run is not enough: the task runs isolated again; a second dead-letters it', async () => {
  const s = shared();
  // Delivery 1 died with its worker (unexplained). Delivery 2 reaches maxCrashes: isolated run, and the process dies.
  const q2 = quarantine();
  await deliver(s, 'job-1', 2, q2);
  assert.deepEqual(q2.runs, ['suspect'], 'delivery 2 ran in quarantine');
  // Delivery 3: one isolated death so far, which could have been a bystander's bad luck.
  const q3 = quarantine();
  const third = await deliver(s, 'job-1', 3, q3);
  assert.deepEqual(q3.runs, ['suspect'], 'delivery 3 ran in quarantine again');
  assert.equal((await s.deadLetters.list()).filter((e) => e.taskId === 'job-1').length, 0, 'not dead-lettered after one isolated process death');
  assert.deepEqual(third.msg.settled, []);
  // Delivery 4: two deaths during isolated runs.
  const q4 = quarantine();
  const fourth = await deliver(s, 'job-1', 4, q4);
  assert.deepEqual(q4.runs, [], 'delivery 4 did not run');
  assert.deepEqual(fourth.msg.settled, ['ack']);
  const dl = (await s.deadLetters.list()).find((e) => e.taskId === 'job-1');
  assert.equal(dl?.taskId, 'job-1');
  assert.equal(dl?.headers['dlq-reason'], 'crashed');
  assert.equal((await fourth.backend.get('job-1'))?.status, 'FAILURE');
});

test('a bystander whose isolated run was cut short by another task completes on its next isolated run', async () => {
  const s = shared();
  await deliver(s, 'job-2', 2, quarantine()); // the process died while it ran isolated
  const q3 = quarantine({ ok: true, value: 'done' });
  const third = await deliver(s, 'job-2', 3, q3);
  assert.deepEqual(q3.runs, ['suspect']);
  assert.deepEqual(third.msg.settled, ['ack']);
  assert.equal((await third.backend.get('job-2'))?.result, 'done');
  assert.equal((await s.deadLetters.list()).filter((e) => e.taskId === 'job-2').length, 0);
});

test('the quarantine thread dying under the task convicts it at once', async () => {
  const s = shared();
  const q2 = quarantine({ ok: false, error: { name: 'WorkerLostError', message: 'the thread died', code: 'E_WORKER_LOST' } });
  const second = await deliver(s, 'job-3', 2, q2);
  assert.deepEqual(q2.runs, ['suspect']);
  assert.deepEqual(second.msg.settled, ['ack']);
  const dl = (await s.deadLetters.list()).find((e) => e.taskId === 'job-3');
  assert.equal(dl?.headers['dlq-reason'], 'crashed');
});
