import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EtaHeap } from '../../../src/util/eta-heap.ts';

test('pops sequences in eta order across growth, with equal etas and re-pushes', () => {
  const h = new EtaHeap();
  assert.equal(h.pop(), -1);
  assert.equal(h.peekEta(), Number.POSITIVE_INFINITY);
  const etas: number[] = [];
  let x = 12345;
  for (let seq = 1; seq <= 5000; seq++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const eta = 1_700_000_000_000 + (x % 10_000);
    etas[seq] = eta;
    h.push(seq, eta);
  }
  assert.equal(h.size, 5000);
  let last = -Infinity;
  const seen = new Set<number>();
  while (h.size > 0) {
    const eta = h.peekEta();
    const seq = h.pop();
    assert.equal(etas[seq], eta, 'the popped sequence goes with its eta');
    assert.ok(eta >= last);
    last = eta;
    seen.add(seq);
  }
  assert.equal(seen.size, 5000);
  h.push(7, 5);
  h.push(8, 1);
  h.clear();
  assert.equal(h.size, 0);
  h.push(9, 3);
  assert.equal(h.pop(), 9);
});
