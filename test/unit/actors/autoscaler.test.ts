import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextSize } from '../../../src/actors/autoscaler.ts';

test('grows at once towards the demand, at most doubling a step, never above max', () => {
  assert.equal(nextSize(4, 100, 2, 64, 0, 30_000), 8);
  assert.equal(nextSize(48, 100, 2, 64, 0, 30_000), 64);
  assert.equal(nextSize(4, 5, 2, 64, 0, 30_000), 5);
});

test('shrinks only after the keepalive, at most halving a step, never below min', () => {
  assert.equal(nextSize(32, 0, 2, 64, 10_000, 30_000), 32, 'not idle long enough');
  assert.equal(nextSize(32, 0, 2, 64, 30_000, 30_000), 16);
  assert.equal(nextSize(3, 0, 2, 64, 30_000, 30_000), 2);
  assert.equal(nextSize(2, 0, 2, 64, 60_000, 30_000), 2);
});
