/** Task names and ids: 1-200 characters of [A-Za-z0-9_.:-], whatever string they arrive as. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValidTaskName } from '../../../src/protocol/names.ts';

test('every allowed character class, and the length bounds 1 and 200, are accepted', () => {
  for (const ok of ['a', 'Z', '0', '_', '.', ':', '-', 'shop.orders:add-item_v2', 'x'.repeat(200), '3a4c3c92-5fac-4ce2-b6ed-c9b67350c3fe']) {
    assert.equal(isValidTaskName(ok), true, ok);
  }
});

test('empty, 201 characters, a trailing newline, spaces, slashes and non-ASCII letters are refused', () => {
  for (const bad of ['', 'x'.repeat(201), 'add\n', '\nadd', 'a b', 'tasks/add', 'ünï', 'add\u0000', 'a\u2028b']) {
    assert.equal(isValidTaskName(bad), false, JSON.stringify(bad));
  }
});

test('a name sliced out of a larger string (as header values are) is judged by its own characters', () => {
  const block = 'task: shop.add\r\nid: 3a4c3c92-5fac-4ce2-b6ed-c9b67350c3fe\r\n';
  assert.equal(isValidTaskName(block.slice(6, 14)), true);
  assert.equal(isValidTaskName(block.slice(6, 16)), false, 'the slice that takes the line end is refused');
});
