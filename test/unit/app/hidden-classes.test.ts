/**
 * Objects built once per task must share one hidden class (V8 "map"). In optimized code, V8 in
 * Node 20 gives every object built as `{ ...x, newField }` a map of its own, allocated in old
 * space; once per task that kept the task's young objects alive through scavenges until the next
 * full GC (the worker of the latency bench promoted ~1.7 MB per scavenge, and its scavenges took
 * ~5× longer, as soon as a `postrun` observer was registered). These tests run the hot paths long
 * enough to be optimized and compare the maps of the last objects they built.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { after, test } from 'node:test';
import { type App, createApp } from '../../../src/index.ts';
import { decodeEventBatch } from '../../../src/execution/event-emitter.ts';
import { silentLogger } from '../../../src/testing.ts';

// This file runs in its own process (node --test), so the flag changes nothing elsewhere.
setFlagsFromString('--allow-natives-syntax');
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

/** How many of the objects share the first one's map. */
function sharing(objects: readonly object[]): number {
  const [first] = objects;
  return first === undefined ? 0 : objects.filter((o) => haveSameMap(o, first)).length;
}

const apps: App[] = [];
after(async () => {
  for (const a of apps) await a.close();
});

const TASKS = 30_000;
const KEEP = 200;

test('postrun and afterPublish events of a long run share one hidden class', async () => {
  const app = createApp({ name: `maps-${randomUUID().slice(0, 8)}`, broker: `memory://maps-${randomUUID()}` });
  apps.push(app);
  const noop = app.task('maps.noop', async (_ctx, _i: number) => undefined, { ignoreResult: true });
  const postrun: object[] = [];
  const published: object[] = [];
  let ran = 0;
  let allRan: () => void = () => undefined;
  const done = new Promise<void>((r) => (allRan = r));
  // Only the last KEEP events are kept: the ones built by optimized code.
  app.signals.on('postrun', (e) => {
    if (++ran > TASKS - KEEP) postrun.push(e);
    if (ran === TASKS) allRan();
  });
  let sent = 0;
  app.signals.on('afterPublish', (e) => {
    if (++sent > TASKS - KEEP) published.push(e);
  });
  const worker = app.worker({ concurrency: 64, logger: silentLogger });
  await worker.start();
  try {
    for (let i = 0; i < TASKS; i += 500) await Promise.all(Array.from({ length: 500 }, (_, k) => noop.delay(i + k)));
    await done;
  } finally {
    await worker.stop();
  }
  assert.equal(postrun.length, KEEP);
  assert.equal(published.length, KEEP);
  assert.equal(sharing(postrun), KEEP, 'postrun events with a map each');
  assert.equal(sharing(published), KEEP, 'afterPublish events with a map each');
});

test('decoded events of one shape share one hidden class; a __proto__ field stays a plain field', () => {
  const batches = [
    [['task-received', 1, 'a', 'maps.noop', { queue: 'celery', args: '[1]' }]],
    [['task-succeeded', 2, 'a', 'maps.noop']],
    [['task-failed', 3, 'a', 'maps.noop', { retries: 1, error: 'Error: x' }]],
  ];
  const last: object[][] = [[], [], []];
  for (let i = 0; i < 60_000; i++) {
    const k = i % 3;
    const [e] = decodeEventBatch(batches[k], 'w1');
    if (i >= 60_000 - 3 * KEEP && e) last[k]?.push(e);
  }
  for (const objects of last) assert.equal(sharing(objects), KEEP);

  const [hostile] = decodeEventBatch(JSON.parse('[["task-received", 1, "a", "t", {"__proto__": {"polluted": true}, "type": "forged", "worker": "forged"}]]'), 'w1');
  assert.ok(hostile);
  assert.equal(Object.getPrototypeOf(hostile), Object.prototype);
  assert.equal((hostile as Record<string, unknown>).polluted, undefined);
  assert.ok(Object.hasOwn(hostile, '__proto__'));
  assert.equal(hostile.type, 'task-received', 'a field cannot override the event type');
  assert.equal(hostile.worker, 'w1', 'a field cannot override the worker');
});
