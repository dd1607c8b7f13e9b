import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isInvalidArgumentError } from '../../../src/errors.ts';
import { SlotPool } from '../../../src/execution/slot-pool.ts';

test('resize up frees the new slots at once and wakes a waiter', async () => {
  const pool = new SlotPool(2);
  assert.equal(await pool.acquire(2), 2);
  const waiting = pool.acquire(3);
  pool.resize(5);
  assert.equal(await waiting, 3);
  assert.deepEqual([pool.capacity, pool.used, pool.free], [5, 5, 0]);
});

test('resize down takes effect as slots come back; nothing running is taken away', async () => {
  const pool = new SlotPool(4);
  assert.equal(await pool.acquire(4), 4);
  pool.resize(2);
  assert.deepEqual([pool.capacity, pool.used, pool.free], [2, 4, 0]);
  let got = 0;
  const waiting = pool.acquire(1).then((n) => (got = n));
  pool.release(2); // back to 2 used of 2: still full
  await new Promise((r) => setImmediate(r));
  assert.equal(got, 0, 'no slot while over the new capacity');
  pool.release(1);
  await waiting;
  assert.equal(got, 1);
  assert.deepEqual([pool.used, pool.free], [2, 0]);
});

test('a waiter wanting more than the shrunk capacity is served at the new capacity', async () => {
  const pool = new SlotPool(8);
  assert.equal(await pool.acquire(8), 8);
  const waiting = pool.acquire(8, undefined, 6); // wants at least 6
  pool.resize(3);
  pool.release(8);
  assert.equal(await waiting, 3);
});

test('resize refuses sizes outside 1-100000', () => {
  const pool = new SlotPool(1);
  assert.throws(() => pool.resize(0), isInvalidArgumentError);
  assert.throws(() => pool.resize(1.5), isInvalidArgumentError);
  assert.throws(() => pool.resize(100_001), isInvalidArgumentError);
});

test('a threshold given as a function is read again when slots come free or on recheck()', async () => {
  const pool = new SlotPool(8);
  assert.equal(await pool.acquire(8), 8);
  let min = 4;
  let got = 0;
  const waiting = pool.acquire(8, undefined, () => min).then((n) => (got = n));
  pool.release(1);
  await new Promise((r) => setImmediate(r));
  assert.equal(got, 0, 'one free slot is under the threshold of 4');
  min = 1;
  pool.recheck();
  await waiting;
  assert.equal(got, 1, 'the lowered threshold is met by the one free slot');
});

test('take() takes what is free now, without waiting', async () => {
  const pool = new SlotPool(4);
  assert.equal(await pool.acquire(3), 3);
  assert.equal(pool.take(4), 1);
  assert.equal(pool.take(4), 0);
  pool.release(2);
  assert.equal(pool.take(1), 1);
  assert.deepEqual([pool.used, pool.free], [4 - 1, 1]);
});
