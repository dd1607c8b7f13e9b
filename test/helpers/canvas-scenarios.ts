/**
 * Canvas scenarios shared by the memory:// unit test and the nats:// integration test: the same
 * workflow behaviour must hold on both transports. Each scenario uses fresh ids and note keys.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { WorkerNode } from '../../src/actors/worker-node.ts';
import { Chain, GroupResult, type TaskError, chain, chord, group, isTaskError } from '../../src/index.ts';
import { encodeTask } from '../../src/protocol/envelope.ts';
import type * as Fixture from '../fixtures/canvas-tasks.ts';
import { recordingLogger, until } from './failure-scenarios.ts';

const key = () => randomUUID().slice(0, 8);

async function rejection(p: Promise<unknown>): Promise<TaskError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isTaskError(err), `expected a TaskError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the workflow to fail');
}

/** Register the shared scenarios (call inside a test file, after the fixture's broker is configured). */
export function canvasScenarios(load: () => typeof Fixture): void {
  let f: typeof Fixture;
  let worker: WorkerNode;
  const tasksModule = new URL('../fixtures/canvas-tasks.ts', import.meta.url).href;

  before(async () => {
    f = load();
    worker = f.app.worker({ concurrency: 32, cpuThreads: 1, tasksModule, logger: recordingLogger(), name: 'canvas-worker' });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await f.app.close();
  });

  test('a chain of 10 passes each result to the next; parent and children link the steps', async () => {
    const steps = [f.add.s(0, 1), ...Array.from({ length: 9 }, (_, i) => f.add.s(i + 2))];
    type Sig = ReturnType<typeof f.add.s>;
    const r = await chain(...(steps as [Sig, ...Sig[]])).applyAsync();
    // 1, then + 2, + 3, ..., + 10
    assert.equal(await r.get({ timeout: '10s' }), 55);
    assert.equal(r.tasks.length, 10);
    assert.equal(r.parent?.id, r.tasks[8]?.id, "the last step's parent is the step before it");
    const children = await (r.tasks[0] as (typeof r.tasks)[number]).children();
    assert.deepEqual(
      children.map((c) => c.id),
      [r.tasks[1]?.id],
      'the first task stored the id of the task it started',
    );
    assert.deepEqual(await r.progress(), { completed: 10, failed: 0, total: 10, done: true });
  });

  test('chain(add.s(2, 2), add.s(4)) computes add(4, 4); si() ignores the parent', async () => {
    assert.equal(await (await chain(f.add.s(2, 2), f.add.s(4)).applyAsync()).get({ timeout: '5s' }), 8);
    assert.equal(await (await chain(f.add.s(2, 2), f.add.si(1, 1)).applyAsync()).get({ timeout: '5s' }), 2);
  });

  test('a group of 1,000: values in order, completedCount, ready, successful, failed, watch', async () => {
    const g = await group(Array.from({ length: 1000 }, (_, i) => f.add.s(i, i))).applyAsync();
    const progress: number[] = [];
    for await (const p of g.watch({ timeout: '60s' })) progress.push(p.completed);
    assert.equal(progress.length, 1000);
    assert.equal(progress[999], 1000);
    const values = await g.get({ timeout: '60s' });
    assert.deepEqual(
      values,
      Array.from({ length: 1000 }, (_, i) => 2 * i),
    );
    assert.equal(await g.completedCount(), 1000);
    assert.equal(await g.ready(), true);
    assert.equal(await g.successful(), true);
    assert.equal(await g.failed(), false);
    assert.equal(g.children.length, 1000);
  });

  test('a group with a failing member: get rejects, failed() is true, the others succeed', async () => {
    const g = await group(f.add.s(1, 1), f.boom.s('member failed'), f.add.s(2, 2)).applyAsync();
    const err = await rejection(g.get({ timeout: '5s' }));
    assert.match(err.message, /member failed/);
    await until(() => g.ready(), 5000, 'all members final');
    assert.equal(await g.failed(), true);
    assert.equal(await g.successful(), false);
    assert.equal(await g.children[2]?.get(), 4);
  });

  test('a chord of 1,000: the body gets the 1,000 results in header order, once', async () => {
    const k = key();
    const r = await chord(
      Array.from({ length: 1000 }, (_, i) => f.add.s(i, 0)),
      chain(f.collect.s(), f.note.s(k)),
    ).applyAsync();
    assert.equal(await r.get({ timeout: '60s' }), 2);
    const calls = f.notes.get(k) ?? [];
    assert.equal(calls.length, 1, 'the body ran once');
    assert.deepEqual(
      calls[0]?.[0],
      Array.from({ length: 1000 }, (_, i) => i),
    );
    assert.ok(r.parent?.parent instanceof GroupResult, "the chord body's first step has the header's GroupResult as parent");
    assert.equal((r.parent.parent as GroupResult).children.length, 1000);
  });

  test('nesting: a chord inside a chain, a group in a chain (upgraded to a chord), groups of chains, a chord body that is a chain', async () => {
    // (1+1) -> [2+1, 2+2] -> sum 7 -> +10
    const a = await chain(f.add.s(1, 1), chord([f.add.s(1), f.add.s(2)], f.tsum.s()), f.add.s(10)).applyAsync();
    assert.equal(await a.get({ timeout: '10s' }), 17);
    const b = await chain(f.add.s(1, 1), group(f.add.s(1), f.add.s(2)), f.tsum.s()).applyAsync();
    assert.equal(await b.get({ timeout: '10s' }), 7);
    const c = await group(chain(f.add.s(1, 1), f.add.s(1)), chain(f.add.s(2, 2), f.add.s(2))).applyAsync();
    assert.deepEqual(await c.get({ timeout: '10s' }), [3, 6]);
    const d = await chord([f.add.s(1, 1), f.add.s(2, 2)], chain(f.tsum.s(), f.add.s(1))).applyAsync();
    assert.equal(await d.get({ timeout: '10s' }), 7);
    // A header member that ends in a group completes as one (its list), and a chain of chords.
    const e = await chord([chain(f.add.s(1, 1), group(f.add.s(1), f.add.s(2))), f.add.s(5, 5)], f.collect.s()).applyAsync();
    assert.deepEqual(await e.get({ timeout: '10s' }), [[3, 4], 10]);
    const g = await chain(chord([f.add.s(1, 1), f.add.s(1, 2)], f.tsum.s()), chord([f.add.s(1), f.add.s(2)], f.tsum.s())).applyAsync();
    assert.equal(await g.get({ timeout: '10s' }), 5 + 1 + 5 + 2);
  });

  test('a failing header member: the body does not run and the chord fails with a ChordError naming it', async () => {
    const k = key();
    const r = await chord([f.add.s(1, 1), f.boom.s('header failed'), f.add.s(3, 3)], f.note.s(k)).applyAsync();
    const err = await rejection(r.get({ timeout: '10s' }));
    assert.equal(err.remote.name, 'ChordError');
    assert.equal(err.remote.code, 'E_CHORD');
    const data = err.remote.data as { index: number; taskId: string };
    assert.equal(data.index, 1);
    assert.equal(data.taskId, r.tasks[1]?.id);
    assert.match(err.message, /header member #1 .*header failed/);
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(f.notes.get(k), undefined, 'the body never ran');
  });

  test('allowPartial: the body gets the successes and the errors, in header order', async () => {
    const r = await chord([f.add.s(1, 1), f.boom.s('partial'), f.add.s(3, 3)], f.collect.s(), { allowPartial: true }).applyAsync();
    const v = (await r.get({ timeout: '10s' })) as Array<{ status: string; value?: unknown; reason?: { message: string; taskId: string } }>;
    assert.deepEqual(v[0], { status: 'fulfilled', value: 2 });
    assert.equal(v[1]?.status, 'rejected');
    assert.equal(v[1]?.reason?.message, 'partial');
    assert.equal(v[1]?.reason?.taskId, r.tasks[1]?.id);
    assert.deepEqual(v[2], { status: 'fulfilled', value: 6 });
  });

  test('a failing step fails the rest of the chain with its error (get does not hang)', async () => {
    const k = key();
    const r = await chain(f.add.s(1, 1), f.boom.si('step 2 failed'), f.note.s(k), f.add.s(1)).applyAsync();
    const err = await rejection(r.get({ timeout: '10s' }));
    assert.match(err.message, /step 2 failed/);
    assert.equal(await r.tasks[2]?.state(), 'FAILURE');
    assert.equal(f.notes.get(k), undefined);
    assert.deepEqual(await r.progress(), { completed: 4, failed: 3, total: 4, done: true });
  });

  test('link and linkError run once each, with the result / with (taskId, error)', async () => {
    const ok = key();
    const bad = key();
    const r1 = await f.add.s(2, 3).set({ link: f.note.s(ok), linkError: f.note.s(bad) }).applyAsync();
    assert.equal(await r1.get({ timeout: '5s' }), 5);
    await until(() => (f.notes.get(ok)?.length ?? 0) > 0, 5000, 'link ran');
    const r2 = await f.boom.s('linked failure').set({ link: f.note.s(ok), linkError: f.note.s(bad) }).applyAsync();
    await rejection(r2.get({ timeout: '5s' }));
    await until(() => (f.notes.get(bad)?.length ?? 0) > 0, 5000, 'linkError ran');
    await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual(f.notes.get(ok), [[5]], 'link ran once, with the result');
    const errCalls = f.notes.get(bad) ?? [];
    assert.equal(errCalls.length, 1, 'linkError ran once');
    assert.equal(errCalls[0]?.[0], r2.id);
    assert.equal((errCalls[0]?.[1] as { message: string }).message, 'linked failure');
  });

  test('a second message with the id of a finished task does not run its link again', async () => {
    const k = key();
    const id = randomUUID();
    // A second message with the same id (a duplicate publish past the broker's dedupe): it finds
    // the result and leaves the workflow to the message that wrote it.
    const msg = encodeTask(
      { task: 'math.add', id, args: [20, 22], idempotencyKey: id, embed: { callbacks: [{ task: 'canvas.note', args: [k] }] } },
      f.app.codec,
    );
    const t = f.app.transport();
    await t.publish(f.app.options.defaultQueue, msg);
    assert.equal(await f.app.asyncResult(id).get({ timeout: '5s' }), 42);
    await until(() => (f.notes.get(k)?.length ?? 0) > 0, 5000, 'link ran');
    await t.publish(f.app.options.defaultQueue, { ...msg, headers: { ...msg.headers, 'Nats-Msg-Id': `${id}:again` } });
    await new Promise((res) => setTimeout(res, 500));
    assert.deepEqual(f.notes.get(k), [[42]]);
  });

  test('map, starmap and chunks; map over a CPU task runs in a thread', async () => {
    assert.deepEqual(await (await f.add.starmap([[1, 2], [3, 4]]).applyAsync()).get({ timeout: '5s' }), [3, 7]);
    const sq = await (await f.square.map([1, 2, 3]).applyAsync()).get({ timeout: '10s' });
    assert.deepEqual(
      sq.map((x) => x.n),
      [1, 4, 9],
    );
    assert.ok(sq.every((x) => x.thread), 'a CPU task mapped runs in the CPU pool');
    const ch = await f.add.chunks(Array.from({ length: 10 }, (_, i) => [i, i] as [number, number]), 4).applyAsync();
    assert.deepEqual(await ch.get({ timeout: '5s' }), [[0, 2, 4, 6], [8, 10, 12, 14], [16, 18]]);
    // In a chain, map without items maps over the parent's result.
    const m = await chain(f.collect.s([2, 3]), f.square.map()).applyAsync();
    assert.deepEqual(
      (await m.get({ timeout: '10s' })).map((x) => x.n),
      [4, 9],
    );
  });

  test('a workflow round-trips through JSON and runs when rebuilt with app.signature()', async () => {
    const w = chain(f.add.s(1, 1), chord([f.add.s(1), f.add.s(2)], f.tsum.s()));
    const text = JSON.stringify(w);
    const rebuilt = f.app.signature(JSON.parse(text));
    assert.deepEqual(rebuilt.toJSON(), w.toJSON());
    assert.ok(rebuilt instanceof Chain);
    const r = await (rebuilt as typeof w).applyAsync();
    assert.equal(await r.get({ timeout: '10s' }), 7);
    const byName = await f.app.signature<number>('math.add', [20, 1]).applyAsync();
    assert.equal(await byName.get({ timeout: '5s' }), 21);
  });

  test('workflow progress is watchable until done', async () => {
    const r = await chain(f.add.s(1, 1), group(f.add.s(1), f.add.s(2)), f.tsum.s()).applyAsync();
    const seen = [];
    for await (const p of r.watch()) seen.push(p);
    const last = seen[seen.length - 1];
    assert.equal(last?.done, true);
    assert.equal(last?.total, 4, 'the first step, 2 header members, the body');
    assert.equal(last?.completed, 4);
    assert.equal(await r.get(), 7);
  });
}
