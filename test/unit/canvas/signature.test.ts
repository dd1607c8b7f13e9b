import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pack, unpack } from 'msgpackr';
import { Chain, Chord, Group, InvalidArgumentError, Signature, chain, chord, createApp, group, isInvalidArgumentError } from '../../../src/index.ts';
import { decodeTask, encodeTask } from '../../../src/protocol/envelope.ts';
import { codecByName } from '../../../src/protocol/codec.ts';

const app = createApp({ name: 'sigs' });
const add = app.task('math.add', async (_c, a: number, b: number) => a + b);
const tsum = app.task('math.tsum', async (_c, xs: number[]) => xs.reduce((x, y) => x + y, 0));

test('s() holds a partial call; si() is immutable; set() returns a copy; link lists add up', () => {
  const s = add.s(4);
  assert.ok(s instanceof Signature);
  assert.deepEqual(s.toJSON(), { task: 'math.add', args: [4] });
  assert.equal(add.si(1, 2).immutable, true);
  const q = s.set({ queue: 'math', countdown: '5s', priority: 7 });
  assert.deepEqual(s.toJSON().options, undefined, 'the original is unchanged');
  assert.deepEqual(q.toJSON().options, { queue: 'math', countdown: '5s', priority: 7 });
  const linked = s.link(tsum.s()).link(add.s(1));
  assert.equal(linked.toJSON().options?.link?.length, 2);
  const c = linked.clone();
  assert.deepEqual(c.toJSON(), linked.toJSON());
  assert.notEqual(c, linked);
});

test('chain, group and chord build the wire form; a chord takes a group or an array', () => {
  const w = chain(add.s(2, 2), group(add.s(1), add.s(2)), chord([add.s(1, 1)], tsum.s(), { allowPartial: true }));
  assert.ok(w instanceof Chain);
  assert.deepEqual(w.toJSON(), {
    subtask_type: 'chain',
    tasks: [
      { task: 'math.add', args: [2, 2] },
      { subtask_type: 'group', tasks: [{ task: 'math.add', args: [1] }, { task: 'math.add', args: [2] }] },
      { subtask_type: 'chord', header: [{ task: 'math.add', args: [1, 1] }], body: { task: 'math.tsum', args: [] }, options: { allowPartial: true } },
    ],
  });
  assert.ok(group([add.s(1, 1), add.s(2, 2)]) instanceof Group);
  assert.ok(chord(group(add.s(1, 1)), tsum.s()) instanceof Chord);
});

test('any workflow round-trips through JSON and msgpack and through app.signature()', () => {
  const w = chain(add.s(2, 2).set({ eta: new Date('2030-01-01T00:00:00Z'), headers: { tenant: 'a' } }), chord([add.s(1), add.si(5, 5)], tsum.s()));
  const viaJson = JSON.parse(JSON.stringify(w));
  assert.deepEqual(viaJson, w.toJSON());
  assert.deepEqual(unpack(pack(w.toJSON())), w.toJSON());
  const rebuilt = app.signature(viaJson);
  assert.ok(rebuilt instanceof Chain);
  assert.deepEqual(rebuilt.toJSON(), w.toJSON());
  const byName = app.signature('other.task', [1], { queue: 'q' });
  assert.deepEqual(byName.toJSON(), { task: 'other.task', args: [1], options: { queue: 'q' } });
});

test('bad input is an InvalidArgumentError naming it', () => {
  assert.throws(() => app.signature({ subtask_type: 'chain', tasks: [{ task: 'ok' }, { task: 'bad name!' }] }), /workflow.tasks\[1\].task: must be a task name/);
  assert.throws(() => app.signature({ subtask_type: 'weird', tasks: [] } as never), /subtask_type: must be/);
  assert.throws(() => add.s(1).set({ countdown: '1s', eta: new Date() }), /countdown or eta, not both/);
  assert.throws(() => add.s(1).set({ taskId: 'no spaces' }), isInvalidArgumentError);
  assert.throws(() => chain(add.s(1), 'x' as never), /chain\(\): element 1 is not a signature/);
  assert.throws(() => add.chunks([[1, 2]], 0), /n must be a positive integer/);
  assert.throws(() => app.signature('bad name!'), InvalidArgumentError);
});

test('a workflow built from signatures with no app says how to get one', async () => {
  const json = add.s(1, 2).toJSON();
  const { workflowFromJSON } = await import('../../../src/canvas/signature.ts');
  const orphan = workflowFromJSON(json, undefined) as Signature;
  await assert.rejects(orphan.applyAsync(), /no app to publish through/);
});

test('a message whose embed holds a malformed workflow is a DecodeError naming the field', () => {
  const codec = codecByName('json');
  const e = encodeTask({ task: 't', args: [], embed: { chain: [{ task: 'ok' }, { task: 7 } as never] } }, codec);
  assert.throws(() => decodeTask((h) => e.headers[h], Object.keys(e.headers), e.body), /embed.chain\[1\].task: must be a task name/);
  const m = encodeTask({ task: 't', args: [], embed: { chord: { id: 'c', index: 3, size: 2, body: { task: 'b' }, allowPartial: false } } }, codec);
  assert.throws(() => decodeTask((h) => m.headers[h], Object.keys(m.headers), m.body), /embed.chord.index: must be an integer in \[0, size\)/);
});

// Type-level checks (compile-time): result types flow through.
async function types(): Promise<void> {
  const r1: number = await (await chain(add.s(2, 2), add.s(4)).applyAsync()).get();
  const r2: number[] = await (await group(add.s(1, 1), add.s(2, 2)).applyAsync()).get();
  const r3: number = await (await chord([add.s(1, 1)], tsum.s()).applyAsync()).get();
  const r4: number[][] = await (await add.chunks([[1, 2]], 1).applyAsync()).get();
  // @ts-expect-error add takes numbers
  add.s('x');
  void [r1, r2, r3, r4];
}
void types;

test('set() checks its options as applyAsync does, at the call', () => {
  const bad = (fn: () => unknown, message: RegExp) =>
    assert.throws(fn, (e: unknown) => isInvalidArgumentError(e) && (e as InvalidArgumentError).code === 'E_INVALID_ARGUMENT' && message.test((e as Error).message));
  bad(() => add.s(2).set({ priority: 12 }), /^set\(\): options\.priority must be an integer 0-9, got 12/);
  bad(() => add.s(1, 2).set({ countDown: '10s' } as never), /set\(\) options\.countDown is not an option \(did you mean "countdown"\?\)/);
  bad(() => add.s(1, 2).set({ expires: new Date('nope') }), /options\.expires/);
  bad(() => add.s(1, 2).set({ countdown: '10 parsecs' }), /options\.countdown/);
  bad(() => add.s(1, 2).set({ timeLimit: '1s', softTimeLimit: '2s' }), /softTimeLimit .* must be below timeLimit/);
  bad(() => add.s(1, 2).set({ idempotencyKey: 'k' } as never), /idempotencyKey is not an option/);
  // On a workflow too: a bad option on a later chain step is refused before anything is published.
  bad(() => chain(add.s(1, 1), add.s(2)).set({ priority: -1 }), /options\.priority/);
  assert.deepEqual(add.s(1, 2).set({ priority: 9, expires: '1h', timeLimit: '10s', softTimeLimit: '5s' }).toJSON().options, {
    priority: 9,
    expires: '1h',
    timeLimit: '10s',
    softTimeLimit: '5s',
  });
});

test('time limits set by two set() calls are checked together', () => {
  assert.throws(
    () => add.s(1, 2).set({ timeLimit: '1s' }).set({ softTimeLimit: '2s' }),
    (e: unknown) => isInvalidArgumentError(e) && /^set\(\): options\.softTimeLimit \(2000 ms\) must be below timeLimit \(1000 ms\)/.test((e as Error).message),
  );
  assert.deepEqual(add.s(1, 2).set({ timeLimit: '10s' }).set({ softTimeLimit: '5s' }).toJSON().options, { timeLimit: '10s', softTimeLimit: '5s' });
});
