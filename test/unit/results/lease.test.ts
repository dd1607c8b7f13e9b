import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Lease } from '../../../src/results/lease.ts';
import { memoryBroker } from '../../../src/transport/memory/memory-broker.ts';
import { MemoryKeyValueStore } from '../../../src/transport/memory/memory-kv.ts';

const kv = () => new MemoryKeyValueStore('leases', memoryBroker(`l-${randomUUID()}`), 0);

test('one holder at a time; renewals keep it; expiry lets a standby in', async () => {
  const store = kv();
  const a = new Lease(store, 'scheduler', 'a', 1000);
  const b = new Lease(store, 'scheduler', 'b', 1000);
  const t0 = Date.now();
  assert.equal(await a.tryAcquire(t0), true);
  assert.equal(await b.tryAcquire(t0 + 10), false);
  assert.equal(await a.tryAcquire(t0 + 500), true, 'renewed');
  assert.equal(await b.tryAcquire(t0 + 1400), false, 'the renewal moved the end');
  assert.equal(await b.tryAcquire(t0 + 1600), true, 'taken over after expiry');
  assert.equal(await a.tryAcquire(t0 + 1700), false);
});

test('two contenders in the same round: exactly one wins', async () => {
  const store = kv();
  const ls = Array.from({ length: 5 }, (_, i) => new Lease(store, 'scheduler', `h${i}`, 5000));
  const won = await Promise.all(ls.map((l) => l.tryAcquire()));
  assert.equal(won.filter(Boolean).length, 1);
});

test('release lets a standby take over at once', async () => {
  const store = kv();
  const a = new Lease(store, 'scheduler', 'a', 60_000);
  const b = new Lease(store, 'scheduler', 'b', 60_000);
  assert.equal(await a.tryAcquire(), true);
  await a.release();
  assert.equal(a.held, false);
  assert.equal(await b.tryAcquire(), true);
});
