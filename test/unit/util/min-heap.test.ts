import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MinHeap } from '../../../src/util/min-heap.ts';

test('MinHeap pops in key order, with duplicates, after interleaved pushes', () => {
  const h = new MinHeap<{ k: number }>((x) => x.k);
  const keys = Array.from({ length: 2000 }, () => Math.floor(Math.random() * 500));
  const out: number[] = [];
  keys.forEach((k, i) => {
    h.push({ k });
    if (i % 3 === 0) out.push((h.pop() as { k: number }).k);
  });
  const popped: number[] = [];
  while (h.size > 0) popped.push((h.pop() as { k: number }).k);
  assert.deepEqual(popped, [...popped].sort((a, b) => a - b));
  assert.equal(out.length + popped.length, keys.length);
  assert.equal(h.pop(), undefined);
  assert.equal(h.peek(), undefined);
});
