/**
 * The arguments as `celeriac inspect active/reserved` and the `task-received` event show them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argsPreview } from '../../../src/execution/inspect-views.ts';

test('plain arguments are their JSON', () => {
  assert.equal(argsPreview([2500, 'a', true, null]), '[2500,"a",true,null]');
  assert.equal(argsPreview([]), '[]');
});

test('bigints, bytes and nested values are shown readably', () => {
  assert.equal(argsPreview([10n, new Uint8Array(3), { a: [1n] }]), '["10","<3 bytes>",{"a":["1"]}]');
  assert.equal(argsPreview([Number.NaN, 1]), '[null,1]');
});

test('long arguments are cut at 200 characters; unserialisable ones say so', () => {
  const text = argsPreview(['x'.repeat(500)]);
  assert.equal(text.length, 200);
  assert.ok(text.endsWith('…'));
  const loop: Record<string, unknown> = {};
  loop.self = loop;
  assert.equal(argsPreview([loop]), '[unserialisable]');
});
