import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { AttemptLedger } from '../../../src/results/attempt-ledger.ts';
import { memoryBroker } from '../../../src/transport/memory/memory-broker.ts';
import { MemoryKeyValueStore } from '../../../src/transport/memory/memory-kv.ts';

const ledger = () => new AttemptLedger(new MemoryKeyValueStore('attempts', memoryBroker(`l-${randomUUID()}`), 0));

describe('AttemptLedger (crash attribution)', () => {
  test('an unexplained redelivery is a crash; a recorded hand-back is not', async () => {
    const l = ledger();
    assert.deepEqual(await l.recordRedelivery('t', 7, 2), { crashes: 1, isolatedCrashes: 0 });
    await l.recordReturn('t', 7, 2); // delivery 2 handed back on purpose
    assert.deepEqual(await l.recordRedelivery('t', 7, 3), { crashes: 1, isolatedCrashes: 0 });
  });

  test('a death during an isolated run is evidence against the task', async () => {
    const l = ledger();
    await l.recordRedelivery('t', 1, 2);
    await l.recordIsolated('t', 1, 2);
    assert.deepEqual(await l.recordRedelivery('t', 1, 3), { crashes: 2, isolatedCrashes: 1 });
  });

  test('a parked suspect that was handed back, then resumed isolated, counts if it dies', async () => {
    const l = ledger();
    await l.recordRedelivery('t', 1, 2);
    await l.recordReturn('t', 1, 2); // parked
    await l.recordIsolated('t', 1, 2); // its turn came
    assert.deepEqual(await l.recordRedelivery('t', 1, 3), { crashes: 2, isolatedCrashes: 1 });
  });

  test('a retry (new message sequence) starts over', async () => {
    const l = ledger();
    await l.recordRedelivery('t', 1, 3);
    assert.deepEqual(await l.recordRedelivery('t', 9, 2), { crashes: 1, isolatedCrashes: 0 });
  });
});
