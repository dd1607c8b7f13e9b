import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDecodeError, isInvalidArgumentError } from '../../../src/errors.ts';
import { CONTENT_TYPE, codecByContentType, codecByName, decodeSniffed, precheckMsgpack } from '../../../src/protocol/codec.ts';

const msgpack = codecByName('msgpack');
const json = codecByName('json');
const utf8 = new TextEncoder();

/** Assert that `fn` throws a DecodeError whose message matches `re`. */
function assertDecodeError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isDecodeError(err), `expected a DecodeError, got ${String(err)}`);
    assert.equal(err.code, 'E_DECODE');
    assert.match(err.message, re);
    return true;
  });
}

const nested = {
  name: 'crème brûlée 🍮 — 日本語',
  list: [1, -2, 3.5, null, true, false, 'x'],
  deep: { a: { b: { c: [{ d: 'e' }, []] } }, empty: {} },
  big: 2 ** 40,
};

describe('msgpack codec', () => {
  test('round-trips nested objects, unicode and numbers', () => {
    assert.equal(msgpack.name, 'msgpack');
    assert.equal(msgpack.contentType, 'application/x-msgpack');
    assert.deepEqual(msgpack.decode(msgpack.encode(nested)), nested);
  });

  test('round-trips Dates as Dates', () => {
    const when = new Date('2024-02-29T12:34:56.789Z');
    const out = msgpack.decode(msgpack.encode({ when, list: [when] })) as { when: unknown; list: unknown[] };
    assert.ok(out.when instanceof Date, 'a Date comes back as a Date');
    assert.equal(out.when.getTime(), when.getTime());
    assert.ok(out.list[0] instanceof Date);
  });

  test('decodes 64 levels of nesting', () => {
    const bytes = new Uint8Array([...Array(64).fill(0x91), 0xc0]);
    let v = msgpack.decode(bytes);
    let depth = 0;
    while (Array.isArray(v)) {
      v = v[0];
      depth++;
    }
    assert.equal(depth, 64);
    assert.equal(v, null);
  });
});

describe('precheckMsgpack', () => {
  test('accepts what the codec encodes', () => {
    assert.doesNotThrow(() => precheckMsgpack(msgpack.encode(nested)));
    assert.doesNotThrow(() => precheckMsgpack(msgpack.encode([new Date(0), 'x'.repeat(70_000), new Uint8Array(300)])));
  });

  test('rejects truncated input', () => {
    const full = msgpack.encode({ greeting: 'hello world' });
    for (const cut of [1, 2, 5]) {
      assertDecodeError(() => precheckMsgpack(full.subarray(0, full.length - cut)), /truncated|declares/);
    }
    assertDecodeError(() => precheckMsgpack(new Uint8Array(0)), /truncated/);
  });

  test('rejects an array32 header declaring 2^31 elements in 5 bytes', () => {
    const bytes = new Uint8Array([0xdd, 0x80, 0x00, 0x00, 0x00]);
    assertDecodeError(() => precheckMsgpack(bytes), /declares 2147483648 elements/);
    // and through the codec, before msgpackr allocates anything
    assertDecodeError(() => msgpack.decode(bytes), /declares 2147483648 elements/);
  });

  test('rejects a map32 header declaring more pairs than bytes remain', () => {
    assertDecodeError(() => precheckMsgpack(new Uint8Array([0xdf, 0x00, 0x01, 0x00, 0x00, 0x01, 0x02])), /declares/);
  });

  test('rejects nesting deeper than 64 levels', () => {
    const bytes = new Uint8Array([...Array(65).fill(0x91), 0xc0]);
    assertDecodeError(() => precheckMsgpack(bytes), /deeper than 64/);
    assertDecodeError(() => msgpack.decode(bytes), /deeper than 64/);
  });

  test('rejects trailing bytes', () => {
    const one = msgpack.encode({ a: 1 });
    const bytes = new Uint8Array([...one, 0x01, 0x02]);
    assertDecodeError(() => precheckMsgpack(bytes), /2 trailing bytes/);
    assertDecodeError(() => msgpack.decode(bytes), /trailing/);
  });

  test('rejects the never-used type byte 0xc1', () => {
    assertDecodeError(() => precheckMsgpack(new Uint8Array([0xc1])), /invalid type byte 0xc1 at offset 0/);
    assertDecodeError(() => precheckMsgpack(new Uint8Array([0x92, 0x01, 0xc1])), /0xc1 at offset 2/);
  });
});

describe('JSON codec', () => {
  test('round-trips nested objects and unicode', () => {
    assert.equal(json.name, 'json');
    assert.equal(json.contentType, 'application/json');
    const bytes = json.encode(nested);
    assert.equal(new TextDecoder().decode(bytes), JSON.stringify(nested));
    assert.deepEqual(json.decode(bytes), nested);
  });

  test('invalid JSON is a DecodeError', () => {
    assertDecodeError(() => json.decode(utf8.encode('{"a":')), /invalid JSON payload/);
    assertDecodeError(() => json.decode(utf8.encode('')), /invalid JSON payload/);
  });

  test('invalid UTF-8 is a DecodeError', () => {
    assertDecodeError(() => json.decode(new Uint8Array([0x22, 0xff, 0xfe, 0x22])), /invalid JSON payload/);
  });
});

describe('codec selection', () => {
  test('codecByName knows msgpack and json and names the option otherwise', () => {
    assert.equal(codecByName('msgpack'), msgpack);
    assert.equal(codecByName('json'), json);
    assert.throws(
      () => codecByName('yaml'),
      (err: unknown) => isInvalidArgumentError(err) && /serializer/.test(err.message) && /yaml/.test(err.message),
    );
  });

  test('codecByContentType picks by the base type, ignoring parameters and case', () => {
    assert.equal(codecByContentType(CONTENT_TYPE.msgpack), msgpack);
    assert.equal(codecByContentType('application/msgpack'), msgpack);
    assert.equal(codecByContentType('Application/X-MsgPack'), msgpack);
    assert.equal(codecByContentType(CONTENT_TYPE.json), json);
    assert.equal(codecByContentType('application/json; charset=utf-8'), json);
    assert.equal(codecByContentType('  application/json ;charset=UTF-8'), json);
  });

  test('an unknown content type is a DecodeError that names it', () => {
    assertDecodeError(() => codecByContentType('text/plain; charset=utf-8'), /"text\/plain; charset=utf-8"/);
    assertDecodeError(() => codecByContentType('application/xml'), /unsupported content-type "application\/xml"/);
  });

  test('a missing content type is a DecodeError', () => {
    assertDecodeError(() => codecByContentType(undefined), /unsupported content-type ""/);
    assertDecodeError(() => codecByContentType(''), /unsupported content-type/);
  });
});

describe('decodeSniffed', () => {
  test('decodes a document starting with { as JSON', () => {
    const doc = { status: 'SUCCESS', result: 'é' };
    assert.deepEqual(decodeSniffed(json.encode(doc)), doc);
  });

  test('decodes anything else as msgpack', () => {
    const doc = { status: 'SUCCESS', result: [1, 2], when: new Date(5) };
    assert.deepEqual(decodeSniffed(msgpack.encode(doc)), doc);
  });

  test('JSON that does not start with { goes to msgpack and is rejected there', () => {
    // "[1]" in msgpack is the fixint 0x5b followed by two trailing bytes
    assertDecodeError(() => decodeSniffed(utf8.encode('[1]')), /trailing/);
  });

  test('broken JSON starting with { is a JSON DecodeError', () => {
    assertDecodeError(() => decodeSniffed(utf8.encode('{oops')), /invalid JSON payload/);
  });
});
