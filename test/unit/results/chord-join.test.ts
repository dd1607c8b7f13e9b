import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { ChordMembership } from '../../../src/protocol/workflow-json.ts';
import { codecByName } from '../../../src/protocol/codec.ts';

const jsonCodec = codecByName('json');
import { ChordJoins, type JoinDecision } from '../../../src/results/chord-join.ts';
import { memoryBroker } from '../../../src/transport/memory/memory-broker.ts';
import { MemoryKeyValueStore } from '../../../src/transport/memory/memory-kv.ts';

const kv = () => new MemoryKeyValueStore('chords', memoryBroker(`c-${randomUUID()}`), 0);
const member = (id: string, index: number, size: number, allowPartial = false): ChordMembership => ({
  id,
  index,
  size,
  allowPartial,
  body: { task: 'b' },
});
const ok = (i: number) => ({ ok: true as const, value: i * 10, taskId: `t${i}` });
const bad = (i: number) => ({ ok: false as const, error: { name: 'Error', message: `m${i}` }, taskId: `t${i}` });

test('the member that completes the join fires; the others do nothing; outcomes come back in header order', async () => {
  const joins = new ChordJoins(kv(), jsonCodec);
  const order = [3, 0, 4, 1, 2];
  const decisions: JoinDecision[] = [];
  for (const i of order) decisions.push(await joins.record(member('c1', i, 5), ok(i)));
  assert.deepEqual(
    decisions.map((d) => d.action),
    ['none', 'none', 'none', 'none', 'fire'],
  );
  const fire = decisions[4] as Extract<JoinDecision, { action: 'fire' }>;
  assert.deepEqual(
    fire.outcomes.map((o) => (o.ok ? o.value : null)),
    [0, 10, 20, 30, 40],
  );
});

test('a redelivered member changes nothing, and the closer redelivered (it died before publishing) fires again', async () => {
  const joins = new ChordJoins(kv(), jsonCodec);
  await joins.record(member('c2', 0, 2), ok(0));
  assert.equal((await joins.record(member('c2', 0, 2), ok(0))).action, 'none', 'recorded once: the count did not grow');
  assert.equal((await joins.record(member('c2', 1, 2), ok(1))).action, 'fire');
  assert.equal((await joins.record(member('c2', 1, 2), ok(1))).action, 'fire', 'the closer gets its decision again');
  assert.equal((await joins.record(member('c2', 0, 2), ok(0))).action, 'none');
});

test('two processes recording 500 members each at once: exactly one fire', async () => {
  const store = kv();
  const a = new ChordJoins(store, jsonCodec);
  const b = new ChordJoins(store, jsonCodec);
  const n = 1000;
  const decisions = await Promise.all(Array.from({ length: n }, (_, i) => (i % 2 ? a : b).record(member('c3', i, n), ok(i))));
  const fires = decisions.filter((d) => d.action === 'fire');
  assert.equal(fires.length, 1);
  const outcomes = (fires[0] as Extract<JoinDecision, { action: 'fire' }>).outcomes;
  assert.deepEqual(
    outcomes.map((o) => (o.ok ? o.value : null)),
    Array.from({ length: n }, (_, i) => i * 10),
  );
});

test('the first failure fails the chord once (naming the member); with allowPartial it counts like a success', async () => {
  const joins = new ChordJoins(kv(), jsonCodec);
  assert.equal((await joins.record(member('c4', 0, 3), ok(0))).action, 'none');
  const d = await joins.record(member('c4', 2, 3), bad(2));
  assert.deepEqual(d, { action: 'fail', index: 2, taskId: 't2', error: { name: 'Error', message: 'm2' } });
  assert.equal((await joins.record(member('c4', 1, 3), bad(1))).action, 'none', 'a second failure does not fail it again');

  const partial = new ChordJoins(kv(), jsonCodec);
  assert.equal((await partial.record(member('c5', 0, 2, true), bad(0))).action, 'none');
  const d2 = await partial.record(member('c5', 1, 2, true), ok(1));
  assert.equal(d2.action, 'fire');
  const outcomes = (d2 as Extract<JoinDecision, { action: 'fire' }>).outcomes;
  assert.equal(outcomes[0]?.ok, false);
});

test('large outcomes are stored on their own key and read back when the body fires; a missing one is an error naming the member', async () => {
  const joins = new ChordJoins(kv(), jsonCodec);
  const big = { ok: true as const, value: 'x'.repeat(5000), taskId: 't0' };
  assert.equal((await joins.record(member('c6', 0, 2), big)).action, 'none');
  assert.ok(await joins.kv.get('c6.0'), 'stored on its own key, not inline');
  const d = (await joins.record(member('c6', 1, 2), ok(1))) as Extract<JoinDecision, { action: 'fire' }>;
  assert.deepEqual(d.outcomes[0], big);
  assert.equal((await joins.record(member('c7', 0, 2), { ...big, taskId: 'x' })).action, 'none');
  await joins.kv.delete('c7.0');
  await assert.rejects(joins.record(member('c7', 1, 2), ok(1)), /header member 0 is missing/);
});
