/**
 * `__proto__`, `constructor` and `prototype` keys in a task message never change a prototype,
 * wherever a worker passes the decoded arguments: Object.assign / spread of kwargs, the arguments
 * handed to the task (and structured-cloned to a CPU thread), and workflow continuations planned
 * from the embed and encoded again.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { chainOf, planStart, prepare } from '../../src/canvas/freeze.ts';
import type { Codec } from '../../src/protocol/codec.ts';
import { type TaskMessage, decodeTask, encodeTask } from '../../src/protocol/envelope.ts';
import type { WorkflowJSON } from '../../src/protocol/workflow-json.ts';
import { json, msgpack } from './lib/generators.ts';

const protoNames = Object.getOwnPropertyNames(Object.prototype).sort().join();
const polluter = (tag: string) => `{"polluted":"${tag}"}`;
const TEXT =
  `[[${polluter('x')},{"__proto__":${polluter('args')}}],` +
  `{"__proto__":${polluter('kwargs')},"constructor":{"prototype":${polluter('ctor')}},"prototype":${polluter('proto')},"n":1},` +
  `{"chain":[{"task":"next","args":[{"__proto__":${polluter('chain-args')}}],"kwargs":{"__proto__":${polluter('chain-kwargs')}},` +
  `"options":{"__proto__":${polluter('options')},"constructor":{"prototype":${polluter('ctor2')}},"queue":"q","link":[{"task":"cb","options":{"__proto__":${polluter('link')}}}]}}],` +
  `"callbacks":null,"errbacks":null,"chord":null}]`;

/** The hostile body in a codec: JSON as text; msgpack packed from JSON.parse's output, whose `__proto__` keys are own keys. */
function body(codec: Codec): Uint8Array {
  const bytes = codec === json ? new TextEncoder().encode(TEXT) : msgpack.encode(JSON.parse(TEXT));
  assert.ok(Buffer.from(bytes).includes('__proto__'), 'the bytes carry __proto__ keys');
  return bytes;
}

function decode(codec: Codec, b: Uint8Array): TaskMessage {
  const h = new Map([['task', 'proto.task'], ['id', 'proto-1'], ['content-type', codec.contentType], ['__proto__', '{"polluted":"header"}'], ['constructor', 'x']]);
  return decodeTask((k) => h.get(k), h.keys(), b);
}

/** True when some object in `v` has a prototype other than Object.prototype / Array.prototype, or an own `__proto__` key. */
function tainted(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const p = Object.getPrototypeOf(v);
  if (p !== Object.prototype && p !== Array.prototype) return true;
  if (Object.hasOwn(v, '__proto__')) return true;
  return Object.values(v).some(tainted);
}

after(() => {
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getOwnPropertyNames(Object.prototype).sort().join(), protoNames);
});

test('json: a __proto__ key spelled with escapes is renamed too', () => {
  const v = json.decode(new TextEncoder().encode('[{"\\u005f_proto__":{"polluted":1}},{"\\u005F\\u005Fproto\\u005F\\u005F":2}]')) as Record<string, unknown>[];
  assert.equal(tainted(v), false);
  assert.deepEqual(v[0]?.__proto_, { polluted: 1 });
  assert.equal(v[1]?.__proto_, 2);
});

for (const codec of [json, msgpack]) {
  describe(`${codec.name}: a task message with prototype keys`, () => {
    test('decodes with __proto__ keys renamed to __proto_ and ordinary prototypes everywhere', () => {
      const t = decode(codec, body(codec));
      assert.equal(tainted([t.args, t.kwargs, t.embed, t.headers]), false);
      assert.deepEqual(t.kwargs.__proto_, { polluted: 'kwargs' });
      assert.equal((t.kwargs as Record<string, unknown>).polluted, undefined);
      assert.deepEqual(t.kwargs.constructor, { prototype: { polluted: 'ctor' } }, 'constructor stays plain data');
      assert.deepEqual((t.args[1] as Record<string, unknown>).__proto_, { polluted: 'args' });
      assert.equal(Object.getPrototypeOf(t.headers), Object.prototype, 'a __proto__ header does not change the headers object');
      assert.equal(t.headers.constructor, 'x');
    });

    test('what the executor does with kwargs changes no prototype', () => {
      const t = decode(codec, body(codec));
      const args = [...t.args, t.kwargs]; // executor: kwargs passed as a last argument
      const assigned = Object.assign({}, t.kwargs);
      const spread = { ...t.kwargs };
      const cloned = structuredClone(args); // what a CPU thread receives
      for (const o of [assigned, spread, cloned[cloned.length - 1] as object]) {
        assert.equal(Object.getPrototypeOf(o), Object.prototype);
        assert.equal((o as Record<string, unknown>).polluted, undefined);
      }
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });

    test('continuations planned from the embed and encoded again stay clean', () => {
      const t = decode(codec, body(codec));
      const chain = t.embed.chain as WorkflowJSON[];
      let n = 0;
      const planned = planStart(prepare(chainOf(chain), () => `id-${n++}`), ['result']);
      assert.equal(planned.length, 1);
      const next = planned[0]!;
      assert.equal(tainted([next.sig, next.args, next.embed]), false);
      assert.equal((next.sig.options as Record<string, unknown>).polluted, undefined);
      assert.equal(next.sig.options?.queue, 'q');
      const again = encodeTask({ task: next.sig.task, args: next.args, kwargs: next.sig.kwargs, embed: next.embed }, codec);
      const h = new Map(Object.entries(again.headers));
      const t2 = decodeTask((k) => h.get(k), h.keys(), again.body);
      assert.equal(tainted([t2.args, t2.kwargs, t2.embed]), false);
      assert.deepEqual(t2.kwargs, { __proto_: { polluted: 'chain-kwargs' } });
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });
  });
}
