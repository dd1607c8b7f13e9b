import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createApp, createStateStore } from '../../../src/index.ts';

test('cluster scope: two stores on one bucket apply 200 concurrent increments exactly, and each sees the other’s writes', async () => {
  const broker = `memory://ss-${randomUUID()}`;
  const a = createApp({ name: 'ss', broker });
  const b = createApp({ name: 'ss', broker });
  try {
    const sa = await createStateStore<{ n: number }>(a, { scope: 'cluster', bucket: 'counters' });
    const sb = await createStateStore<{ n: number }>(b, { scope: 'cluster', bucket: 'counters' });
    const seenByB: number[] = [];
    sb.onChange((key, s) => {
      if (key === 'k / with spaces') seenByB.push(s?.n ?? -1);
    });
    await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? sa : sb).update('k / with spaces', (cur) => ({ next: { n: (cur?.n ?? 0) + 1 }, result: null }))));
    assert.deepEqual(await sa.get('k / with spaces'), { n: 200 });
    assert.equal(Math.max(...seenByB), 200, 'b followed every write, including a’s');
    assert.equal(await sa.update('k / with spaces', () => ({ next: undefined, result: 'unchanged' })), 'unchanged');
    sa.close();
    sb.close();
  } finally {
    await a.close();
    await b.close();
  }
});

test('local scope keeps state in the process; a bad scope is refused', async () => {
  const app = createApp({ name: 'ss-local', broker: `memory://ss-${randomUUID()}` });
  const s = await createStateStore<number>(app, { scope: 'local', bucket: 'x' });
  assert.equal(await s.update('a', (cur) => ({ next: (cur ?? 1) * 2, result: cur })), undefined);
  assert.equal(await s.get('a'), 2);
  await assert.rejects(createStateStore(app, { scope: 'global' as never, bucket: 'x' }), /scope must be 'local' or 'cluster'/);
  await app.close();
});
