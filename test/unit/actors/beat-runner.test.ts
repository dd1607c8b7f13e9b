import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createApp } from '../../../src/index.ts';
import { resetMemoryBroker, silentLogger } from '../../../src/testing.ts';

test('a worker on memory:// fires a 1 s schedule once per slot, with the slot as task id', async () => {
  const broker = `beat-${randomUUID()}`;
  const app = createApp({ name: `b${randomUUID().slice(0, 8)}`, broker: `memory://${broker}` });
  const seen: string[] = [];
  app.task('ops.ping', async (ctx) => void seen.push(ctx.id));
  app.schedule('ping', { task: 'ops.ping', every: '1s' });
  const worker = app.worker({ logger: silentLogger });
  await worker.start();
  const keep = setInterval(() => {}, 1000);
  try {
    await new Promise((r) => setTimeout(r, 3600));
    assert.ok(seen.length >= 2 && seen.length <= 4, `fired ${seen.length} times in 3.6 s`);
    assert.equal(new Set(seen).size, seen.length, 'each slot once');
    for (const id of seen) assert.match(id, /^beat:ping:\d+000$/);
  } finally {
    clearInterval(keep);
    await worker.stop();
    await app.close();
    resetMemoryBroker(broker);
  }
});

test('app.schedule refuses a duplicate name and bad options', () => {
  const app = createApp({ name: `b${randomUUID().slice(0, 8)}` });
  app.schedule('x', { task: 't', every: '5s' });
  assert.throws(() => app.schedule('x', { task: 't', every: '5s' }), /already registered/);
  assert.throws(() => app.schedule('y', { task: 't' }), /cron|every/);
});
