import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDecodeError, isInvalidArgumentError, isPayloadTooLargeError } from '../../../src/errors.ts';
import { codecByName } from '../../../src/protocol/codec.ts';
import { type EncodedTask, decodeTask, encodeTask, validateUserHeaders } from '../../../src/protocol/envelope.ts';
import { MAX_USER_HEADER_BYTES } from '../../../src/protocol/headers.ts';

const msgpack = codecByName('msgpack');
const json = codecByName('json');
const utf8 = new TextEncoder();

/** Decode a message whose headers are a plain object, the way a transport hands them over. */
function decodePlain(headers: Record<string, string>, body: Uint8Array) {
  return decodeTask((n) => headers[n], Object.keys(headers), body);
}

function decodeEncoded(e: EncodedTask) {
  return decodePlain(e.headers, e.body);
}

/** A valid hand-written JSON message, with `patch` applied to its headers (undefined removes). */
function jsonMessage(patch: Record<string, string | undefined> = {}, body = '[[2,3],{},null]') {
  const headers: Record<string, string> = { task: 'math.add', id: 'task-1', 'content-type': 'application/json' };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete headers[k];
    else headers[k] = v;
  }
  return { headers, body: utf8.encode(body) };
}

function assertDecodeFails(patch: Record<string, string | undefined>, re: RegExp, body?: string): void {
  const m = jsonMessage(patch, body);
  assert.throws(
    () => decodePlain(m.headers, m.body),
    (err: unknown) => {
      assert.ok(isDecodeError(err), `expected a DecodeError, got ${String(err)}`);
      assert.match(err.message, re);
      return true;
    },
  );
}

function assertInvalidHeaders(h: Record<string, unknown>, re: RegExp): void {
  assert.throws(
    () => validateUserHeaders(h),
    (err: unknown) => {
      assert.ok(isInvalidArgumentError(err), `expected an InvalidArgumentError, got ${String(err)}`);
      assert.match(err.message, /options\.headers/);
      assert.match(err.message, re);
      return true;
    },
  );
}

describe('encodeTask', () => {
  test('writes Celery-v2-named headers', () => {
    const eta = Date.parse('2030-01-02T03:04:05.000Z');
    const expires = Date.parse('2030-01-03T00:00:00.000Z');
    const e = encodeTask(
      {
        task: 'math.add',
        id: 'abc-123',
        args: [2, 3],
        rootId: 'root-1',
        parentId: 'parent-1',
        group: 'g-1',
        retries: 2,
        eta,
        expires,
        timelimit: [10, 20],
        origin: '42@host',
        ignoreResult: true,
        priority: 7,
      },
      msgpack,
    );
    assert.equal(e.id, 'abc-123');
    assert.deepEqual(e.headers, {
      task: 'math.add',
      id: 'abc-123',
      root_id: 'root-1',
      parent_id: 'parent-1',
      group: 'g-1',
      retries: '2',
      eta: '2030-01-02T03:04:05.000Z',
      expires: '2030-01-03T00:00:00.000Z',
      timelimit: '10,20',
      origin: '42@host',
      ignore_result: 'true',
      priority: '7',
      'content-type': 'application/x-msgpack',
      'Nats-Msg-Id': 'abc-123',
    });
  });

  test('defaults: a fresh UUID id that is also Nats-Msg-Id and (by omission) root_id; optional headers absent', () => {
    const e = encodeTask({ task: 't', args: [] }, json);
    assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(e.headers.id, e.id);
    assert.equal(e.headers.root_id, undefined, 'root_id is left out when it equals id');
    const decoded = decodeTask((n) => e.headers[n], Object.keys(e.headers), e.body);
    assert.equal(decoded.rootId, e.id, 'a missing root_id means the task is its own root');
    assert.equal(e.headers['Nats-Msg-Id'], e.id);
    assert.equal(e.headers['content-type'], 'application/json');
    for (const h of ['retries', 'eta', 'expires', 'timelimit', 'priority', 'ignore_result', 'parent_id', 'group']) {
      assert.equal(e.headers[h], undefined, `${h} is not set by default`);
    }
    assert.notEqual(encodeTask({ task: 't', args: [] }, json).id, e.id);
  });

  test('timelimit with only one side leaves the other empty', () => {
    assert.equal(encodeTask({ task: 't', args: [], timelimit: [null, 30] }, json).headers.timelimit, ',30');
    assert.equal(encodeTask({ task: 't', args: [], timelimit: [5, null] }, json).headers.timelimit, '5,');
    assert.equal(encodeTask({ task: 't', args: [], timelimit: [null, null] }, json).headers.timelimit, undefined);
  });

  test('the body is [args, kwargs, embed]', () => {
    const e = encodeTask({ task: 't', args: [1, 'two'], kwargs: { three: 3 }, embed: { callbacks: [{ task: 'cb' }] } }, json);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(e.body)), [
      [1, 'two'],
      { three: 3 },
      { callbacks: [{ task: 'cb' }], errbacks: null, chain: null, chord: null },
    ]);
    const m = encodeTask({ task: 't', args: [1] }, msgpack);
    assert.deepEqual(msgpack.decode(m.body), [[1], {}, null], 'an empty embed is sent as null');
  });

  test('protocol headers win over user headers of the same name', () => {
    const e = encodeTask({ task: 't', id: 'real', args: [], headers: { id: 'fake', 'x-tenant': 'acme' } }, json);
    assert.equal(e.headers.id, 'real');
    assert.equal(e.headers['x-tenant'], 'acme');
  });

  test('a body over maxPayload is a PayloadTooLargeError naming size and limit', () => {
    const args = ['x'.repeat(2000)];
    const size = json.encode([args, {}, null]).length;
    assert.throws(
      () => encodeTask({ task: 't', args }, json, 1000),
      (err: unknown) => {
        assert.ok(isPayloadTooLargeError(err));
        assert.equal(err.code, 'E_PAYLOAD_TOO_LARGE');
        assert.equal(err.size, size);
        assert.equal(err.limit, 1000);
        assert.match(err.message, new RegExp(`${size} bytes`));
        assert.match(err.message, /1000-byte limit/);
        return true;
      },
    );
    // exactly at the limit is fine
    assert.doesNotThrow(() => encodeTask({ task: 't', args }, json, size));
  });
});

describe('decodeTask', () => {
  test('decodes a hand-written JSON message', () => {
    const m = jsonMessage();
    const t = decodePlain(m.headers, m.body);
    assert.deepEqual(t, {
      id: 'task-1',
      task: 'math.add',
      rootId: 'task-1',
      parentId: null,
      group: null,
      retries: 0,
      eta: null,
      expires: null,
      timelimit: [null, null],
      origin: null,
      ignoreResult: false,
      priority: null,
      replyTo: null,
      idempotencyKey: null,
      args: [2, 3],
      kwargs: {},
      embed: { callbacks: null, errbacks: null, chain: null, chord: null },
      headers: {},
      contentType: 'application/json',
    });
  });

  test('accepts a JSON content type with parameters and a body of just [args]', () => {
    const m = jsonMessage({ 'content-type': 'application/json; charset=utf-8' }, '[["a"]]');
    const t = decodePlain(m.headers, m.body);
    assert.deepEqual(t.args, ['a']);
    assert.deepEqual(t.kwargs, {});
  });

  test('round-trips every field through encodeTask', () => {
    const e = encodeTask(
      {
        task: 'reports.build',
        id: 'r:1',
        args: [{ when: new Date(0) }],
        kwargs: { k: 'v' },
        rootId: 'root',
        parentId: 'parent',
        group: 'grp',
        retries: 3,
        eta: 1_000,
        expires: 2_000,
        timelimit: [1.5, 3],
        origin: 'o',
        ignoreResult: true,
        priority: 0,
        headers: { 'x-tenant': 'acme', traceparent: '00-abc-def-01' },
      },
      msgpack,
    );
    const t = decodeEncoded(e);
    assert.equal(t.id, 'r:1');
    assert.equal(t.task, 'reports.build');
    assert.equal(t.rootId, 'root');
    assert.equal(t.parentId, 'parent');
    assert.equal(t.group, 'grp');
    assert.equal(t.retries, 3);
    assert.equal(t.eta, 1_000);
    assert.equal(t.expires, 2_000);
    assert.deepEqual(t.timelimit, [1.5, 3]);
    assert.equal(t.origin, 'o');
    assert.equal(t.ignoreResult, true);
    assert.equal(t.priority, 0);
    assert.deepEqual(t.args, [{ when: new Date(0) }]);
    assert.deepEqual(t.kwargs, { k: 'v' });
    assert.equal(t.contentType, 'application/x-msgpack');
  });

  test('user headers pass through into headers; protocol headers do not', () => {
    const e = encodeTask({ task: 't', args: [], priority: 1, headers: { 'x-tenant': 'acme', Region: 'eu' } }, json);
    const t = decodeEncoded(e);
    assert.deepEqual(t.headers, { 'x-tenant': 'acme', Region: 'eu' });
  });

  test('trace context headers are kept in headers', () => {
    const m = jsonMessage({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'k=v' });
    const t = decodePlain(m.headers, m.body);
    assert.deepEqual(t.headers, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'k=v' });
  });

  test('reads each header once, from a one-shot list of names, and falls back to Content-Type', () => {
    const headers: Record<string, string> = { task: 'math.add', id: 'task-1', 'Content-Type': 'application/json', 'x-tenant': 'acme', 'CONTENT-TYPE': 'x' };
    const looked: string[] = [];
    const t = decodeTask(
      (n) => {
        looked.push(n);
        return headers[n];
      },
      new Map(Object.entries(headers)).keys(),
      utf8.encode('[[2,3],{},null]'),
    );
    assert.equal(t.contentType, 'application/json');
    assert.deepEqual(t.headers, { 'x-tenant': 'acme' });
    assert.deepEqual(looked.sort(), Object.keys(headers).sort());
  });

  test('missing task header', () => assertDecodeFails({ task: undefined }, /missing required header "task"/));
  test('missing id header', () => assertDecodeFails({ id: undefined }, /missing required header "id"/));
  test('id with invalid characters', () => assertDecodeFails({ id: 'a b/c' }, /header "id" must be 1-200 characters/));
  test('id over 200 characters', () => assertDecodeFails({ id: 'i'.repeat(201) }, /header "id"/));
  test('task name with invalid characters', () => assertDecodeFails({ task: 'math add' }, /header "task" must be/));
  test('unknown content type', () => assertDecodeFails({ 'content-type': 'text/csv' }, /unsupported content-type "text\/csv"/));
  test('missing content type', () => assertDecodeFails({ 'content-type': undefined }, /unsupported content-type/));
  test('body that is not valid JSON', () => assertDecodeFails({}, /invalid JSON payload/, '[[1],'));
  test('body not an array', () => assertDecodeFails({}, /body must be an array/, '{"args":[1]}'));
  test('body an empty array', () => assertDecodeFails({}, /body must be an array/, '[]'));
  test('body with more than three parts', () => assertDecodeFails({}, /body must be an array/, '[[],{},null,1]'));
  test('args not an array', () => assertDecodeFails({}, /body\[0\] \(args\) must be an array/, '[{"a":1},{},null]'));
  test('kwargs an array', () => assertDecodeFails({}, /body\[1\] \(kwargs\) must be an object/, '[[1],[2],null]'));
  test('kwargs a string', () => assertDecodeFails({}, /body\[1\] \(kwargs\)/, '[[1],"k",null]'));
  test('embed an array', () => assertDecodeFails({}, /body\[2\] \(embed\) must be an object/, '[[1],{},[]]'));
  test('retries negative', () => assertDecodeFails({ retries: '-1' }, /header retries must be a non-negative integer, got "-1"/));
  test('retries not a number', () => assertDecodeFails({ retries: 'two' }, /header retries .* got "two"/));
  test('retries fractional', () => assertDecodeFails({ retries: '1.5' }, /header retries/));
  test('priority above 9', () => assertDecodeFails({ priority: '10' }, /header priority must be an integer 0-9, got "10"/));
  test('priority not an integer', () => assertDecodeFails({ priority: 'high' }, /header priority .* got "high"/));
  test('eta not a date', () => assertDecodeFails({ eta: 'tomorrow' }, /header eta is not an ISO 8601 date: "tomorrow"/));
  test('expires not a date', () => assertDecodeFails({ expires: '2030-13-45' }, /header expires is not an ISO 8601 date/));
  test('timelimit not a number', () => assertDecodeFails({ timelimit: 'x,5' }, /header timelimit has an invalid value "x"/));
  test('timelimit negative', () => assertDecodeFails({ timelimit: '5,-1' }, /header timelimit has an invalid value "-1"/));
});

describe('validateUserHeaders', () => {
  test('returns valid headers unchanged; undefined is none', () => {
    assert.deepEqual(validateUserHeaders({ 'x-tenant': 'acme', 'Trace.Id_2': '' }), { 'x-tenant': 'acme', 'Trace.Id_2': '' });
    assert.deepEqual(validateUserHeaders(undefined), {});
  });

  test('rejects a value that is not an object', () => {
    assertInvalidHeaders(['a'] as unknown as Record<string, unknown>, /object of strings/);
  });

  test('rejects reserved protocol header names, case-insensitively', () => {
    assertInvalidHeaders({ task: 'x' }, /"task" is a reserved protocol header/);
    assertInvalidHeaders({ ROOT_ID: 'x' }, /"ROOT_ID" is a reserved/);
    assertInvalidHeaders({ 'content-type': 'text/plain' }, /reserved/);
    assertInvalidHeaders({ traceparent: '00-x' }, /reserved/);
  });

  test('rejects names with the Nats- prefix', () => {
    assertInvalidHeaders({ 'Nats-Expected-Stream': 'x' }, /"Nats-Expected-Stream" is a reserved/);
    assertInvalidHeaders({ 'nats-rollup': 'all' }, /reserved/);
  });

  test('rejects names with characters outside [A-Za-z0-9_.-] or over 64 chars', () => {
    assertInvalidHeaders({ 'x tenant': 'a' }, /header name "x tenant" must be 1-64 chars/);
    assertInvalidHeaders({ 'x:y': 'a' }, /header name "x:y"/);
    assertInvalidHeaders({ '': 'a' }, /header name ""/);
    assertInvalidHeaders({ ['h'.repeat(65)]: 'a' }, /must be 1-64 chars/);
  });

  test('rejects non-string values', () => {
    assertInvalidHeaders({ 'x-count': 5 }, /options\.headers\.x-count must be a string/);
    assertInvalidHeaders({ 'x-obj': null }, /options\.headers\.x-obj must be a string/);
  });

  test('rejects CR or LF in values', () => {
    assertInvalidHeaders({ 'x-a': 'one\r\ntwo' }, /options\.headers\.x-a must not contain line breaks/);
    assertInvalidHeaders({ 'x-b': 'one\ntwo' }, /line breaks/);
    assertInvalidHeaders({ 'x-c': 'one\rtwo' }, /line breaks/);
  });

  test(`rejects a total size over ${MAX_USER_HEADER_BYTES} bytes`, () => {
    // names + values: 2 * (3 + 2045) = 4096 is fine, one byte more is not
    assert.doesNotThrow(() => validateUserHeaders({ 'x-a': 'a'.repeat(2045), 'x-b': 'b'.repeat(2045) }));
    assertInvalidHeaders({ 'x-a': 'a'.repeat(2045), 'x-b': 'b'.repeat(2046) }, /total 4097 bytes, over the 4096-byte limit/);
  });
});

describe('reply_to', () => {
  test('a _celeriac.reply.* subject round-trips', () => {
    const e = encodeTask({ task: 't', args: [], replyTo: '_celeriac.reply.app.abc123' }, json);
    assert.equal(e.headers.reply_to, '_celeriac.reply.app.abc123');
    assert.equal(decodeTask((n) => e.headers[n], Object.keys(e.headers), e.body).replyTo, '_celeriac.reply.app.abc123');
  });
  test('any other subject is a DecodeError: a message cannot make workers publish anywhere', () => {
    const e = encodeTask({ task: 't', args: [] }, json);
    const headers: Record<string, string> = { ...e.headers, reply_to: 'orders.delete.all' };
    assert.throws(() => decodeTask((n) => headers[n], Object.keys(headers), e.body), (err: unknown) => isDecodeError(err) && /reply_to/.test((err as Error).message));
  });
});
