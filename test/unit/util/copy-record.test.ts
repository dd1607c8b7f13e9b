/** copyRecord: what `{ ...src }` gives (it replaces spreads of header records on the publish path). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { copyRecord } from '../../../src/util/copy-record.ts';

test('a copy holds the own enumerable properties, in order, and is independent of the source', () => {
  const src: Record<string, string> = { ...{} };
  src.traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  src['x-tenant'] = 'acme';
  const copy = copyRecord(src);
  assert.deepEqual(copy, { ...src });
  assert.deepEqual(Object.keys(copy), ['traceparent', 'x-tenant']);
  copy.task = 'noop';
  assert.equal(src.task, undefined);
});

test('inherited and non-enumerable properties are left out, as a spread leaves them', () => {
  const src = Object.create({ inherited: 'no' }) as Record<string, string>;
  src.own = 'yes';
  Object.defineProperty(src, 'hidden', { value: 'no', enumerable: false });
  assert.deepEqual(copyRecord(src), { own: 'yes' });
});

test('an own "__proto__" key is copied as a property, not made the prototype', () => {
  const src = JSON.parse('{"__proto__":"x","a":"b"}') as Record<string, string>;
  const copy = copyRecord(src);
  assert.equal(Object.getPrototypeOf(copy), Object.prototype);
  assert.deepEqual(Object.entries(copy), [['__proto__', 'x'], ['a', 'b']]);
  assert.deepEqual(Object.entries(copy), Object.entries({ ...src }));
});
