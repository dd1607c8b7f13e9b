/** newTaskId: what crypto.randomUUID() gives (random version-4 UUIDs), made as flat strings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValidTaskName } from '../../../src/protocol/names.ts';
import { newTaskId } from '../../../src/util/task-id.ts';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('ids are version-4 UUIDs in lower case, valid task ids, all different across many pool refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const id = newTaskId();
    assert.match(id, V4);
    assert.ok(isValidTaskName(id));
    seen.add(id);
  }
  assert.equal(seen.size, 20_000);
});

test('an id is its own string: later ids do not change one already handed out', () => {
  const first = newTaskId();
  const copy = `${first}`;
  for (let i = 0; i < 1_000; i++) newTaskId();
  assert.equal(first, copy);
});

test('every hex digit position varies (the random bytes reach every digit but the version)', () => {
  const ids = Array.from({ length: 2_000 }, () => newTaskId());
  for (let pos = 0; pos < 36; pos++) {
    const chars = new Set(ids.map((id) => id[pos]));
    if ([8, 13, 18, 23].includes(pos)) assert.deepEqual([...chars], ['-']);
    else if (pos === 14) assert.deepEqual([...chars], ['4']);
    else if (pos === 19) assert.deepEqual([...chars].sort(), ['8', '9', 'a', 'b']);
    else assert.equal(chars.size, 16, `position ${pos}`);
  }
});
