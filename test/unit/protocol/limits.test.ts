/**
 * Every limit of a task message and result (ADR 0012) fails with its own error: a code, the numbers,
 * and what to do. Checked at publish, before anything is sent.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { createApp } from '../../../src/app/create-app.ts';
import { resolveAppOptions } from '../../../src/app/app-options.ts';
import {
  isHeadersTooLargeError,
  isInvalidArgumentError,
  isNestingTooDeepError,
  isPayloadTooLargeError,
  isResultTooLargeError,
} from '../../../src/errors.ts';
import { codecByName } from '../../../src/protocol/codec.ts';
import { encodeTask } from '../../../src/protocol/envelope.ts';
import { MAX_ARG_DEPTH, MAX_HEADER_BYTES, checkArgNesting } from '../../../src/protocol/limits.ts';
import { KvResultBackend } from '../../../src/results/result-backend.ts';
import { newRecord } from '../../../src/results/states.ts';
import { MemoryTransport } from '../../../src/transport/memory/memory-transport.ts';

const codec = codecByName('msgpack');

/** `{ a: { a: ... 1 } }`, `levels` objects deep. */
function nested(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}

describe('argument nesting depth', () => {
  test(`${MAX_ARG_DEPTH} levels pass; one more fails with E_NESTING_TOO_DEEP naming the task and the path`, () => {
    assert.doesNotThrow(() => encodeTask({ task: 'deep.ok', args: [nested(MAX_ARG_DEPTH)] }, codec));
    assert.throws(
      () => encodeTask({ task: 'deep.bad', args: [1, nested(MAX_ARG_DEPTH + 1)] }, codec),
      (err: unknown) => {
        assert.ok(isNestingTooDeepError(err));
        assert.equal(err.code, 'E_NESTING_TOO_DEEP');
        assert.equal(err.taskName, 'deep.bad');
        assert.equal(err.path, `args[1]${'.a'.repeat(MAX_ARG_DEPTH)}`);
        assert.match(err.message, /^task "deep\.bad": arguments nest deeper than 32 levels at args\[1\]\.a\.a.*; flatten them or pass the structure by reference$/);
        return true;
      },
    );
  });
  test('arrays count as levels; kwargs are checked too', () => {
    let arr: unknown = [];
    for (let i = 0; i < MAX_ARG_DEPTH + 1; i++) arr = [arr];
    assert.throws(() => checkArgNesting('t', [arr]), (err: unknown) => isNestingTooDeepError(err) && err.path.startsWith('args[0][0][0]'));
    assert.throws(() => checkArgNesting('t', [], { opts: nested(MAX_ARG_DEPTH + 1) as Record<string, unknown> }), (err: unknown) => isNestingTooDeepError(err) && err.path.startsWith('kwargs.opts.a'));
  });
  test('a cycle fails with the same error instead of a stack overflow', () => {
    const loop: Record<string, unknown> = { name: 'x' };
    loop.self = loop;
    assert.throws(() => encodeTask({ task: 'cyclic', args: [loop] }, codec), (err: unknown) => isNestingTooDeepError(err) && /or contain a cycle/.test((err as Error).message));
  });
  test('buffers, dates and class instances are leaves', () => {
    const wide = Array.from({ length: 1000 }, (_, i) => ({ i, at: new Date(0), b: Buffer.alloc(4) }));
    assert.doesNotThrow(() => checkArgNesting('t', [wide]));
  });
});

describe('header size', () => {
  test('headers over 8 KiB in total fail with E_HEADERS_TOO_LARGE naming the task, size and limit', () => {
    // Each user header is within the 4 KiB user limit here; the total with the protocol headers is not.
    const headers = { 'x-a': 'v'.repeat(4000), 'x-b': 'v'.repeat(4000), 'x-c': 'v'.repeat(300) };
    assert.throws(
      () => encodeTask({ task: 'hdr.big', args: [], headers }, codec),
      (err: unknown) => {
        assert.ok(isHeadersTooLargeError(err));
        assert.equal(err.code, 'E_HEADERS_TOO_LARGE');
        assert.equal(err.limit, MAX_HEADER_BYTES);
        assert.ok(err.size > MAX_HEADER_BYTES);
        assert.match(err.message, /^task "hdr\.big": message headers are \d+ bytes, over the 8192-byte limit; send fewer or shorter headers/);
        return true;
      },
    );
  });
});

describe('publish-time limits through the app', () => {
  const app = createApp({ name: `lim-${randomUUID().slice(0, 8)}`, broker: `memory://lim-${randomUUID()}`, maxPayloadBytes: 1024 });
  after(() => app.close());

  test('user headers over 4 KiB fail with E_INVALID_ARGUMENT naming the limit', async () => {
    await assert.rejects(
      app.sendTask('lim.any', [], { headers: { 'x-big': 'v'.repeat(5000) } }),
      (err: unknown) => isInvalidArgumentError(err) && /options\.headers total \d+ bytes, over the 4096-byte limit/.test((err as Error).message),
    );
  });
  test('a body over maxPayloadBytes fails with E_PAYLOAD_TOO_LARGE and says to pass data by reference', async () => {
    await assert.rejects(app.sendTask('lim.any', ['x'.repeat(2000)]), (err: unknown) => {
      assert.ok(isPayloadTooLargeError(err));
      assert.equal(err.code, 'E_PAYLOAD_TOO_LARGE');
      assert.match(err.message, /task payload is \d+ bytes, over the 1024-byte limit \(maxPayloadBytes\); pass large data by reference/);
      return true;
    });
  });
  test('deep arguments fail at publish; nothing is queued', async () => {
    await assert.rejects(app.sendTask('lim.deep', [nested(40)]), (err: unknown) => isNestingTooDeepError(err));
    const stats = await app.transport().queueStats('default');
    assert.equal(stats[0]?.depth ?? 0, 0);
  });
  test('task names: 1-200 characters of [A-Za-z0-9_.:-]', async () => {
    for (const bad of ['', 'a b', 'x'.repeat(201), 'tasks/add']) {
      await assert.rejects(async () => app.sendTask(bad, []), (err: unknown) => isInvalidArgumentError(err) && /must be 1-200 characters of \[A-Za-z0-9_\.:-\]/.test((err as Error).message), bad);
    }
    assert.throws(() => app.task('bad name', () => 1), (err: unknown) => isInvalidArgumentError(err));
  });
});

describe('result size limits', () => {
  test('maxResultBytes: default 64 MiB, a positive integer up to 1 GiB', () => {
    assert.equal(resolveAppOptions({}).maxResultBytes, 64 * 1024 * 1024);
    assert.equal(resolveAppOptions({ maxResultBytes: 5_000_000 }).maxResultBytes, 5_000_000);
    for (const bad of [0, -1, 1.5, 2 * 1024 ** 3]) {
      assert.throws(() => resolveAppOptions({ maxResultBytes: bad }), (err: unknown) => isInvalidArgumentError(err) && /options\.maxResultBytes/.test((err as Error).message));
    }
  });

  function backend(name: string) {
    const t = new MemoryTransport(`memory://blobs-${randomUUID()}`);
    return { t, open: async () => new KvResultBackend(await t.openKv(`${name}-results`, { ttlMs: 0 }), codec, { blobs: () => t.openBlobs(`${name}-blobs`, { ttlMs: 0 }), inlineBytes: 1000, maxResultBytes: 10_000 }) };
  }

  test('externalize: inline under the limit, by reference over it, ResultTooLargeError over maxResultBytes', async () => {
    const { open } = backend('ext');
    const b = await open();
    const small = newRecord({ status: 'SUCCESS', taskId: 't1', name: 'r.small', result: 'x'.repeat(100) });
    assert.equal(await b.externalize(small), small);
    const big = newRecord({ status: 'SUCCESS', taskId: 't2', name: 'r.big', result: 'x'.repeat(5000), attempt: { sequence: 7, delivery: 2 } });
    const ext = await b.externalize(big);
    assert.equal(ext.result, null);
    assert.equal(ext.resultRef?.name, 't2/7.2');
    assert.match(ext.resultRef?.digest ?? '', /^SHA-256=[A-Za-z0-9_-]+=*$/);
    assert.equal((await b.resolve(ext)).result, 'x'.repeat(5000));
    await assert.rejects(
      b.externalize(newRecord({ status: 'SUCCESS', taskId: 't3', name: 'r.huge', result: 'x'.repeat(20_000) })),
      (err: unknown) => isResultTooLargeError(err) && err.code === 'E_RESULT_TOO_LARGE' && /task "r\.huge" returned 2000\d bytes/.test((err as Error).message),
    );
  });

  test('a fenced write that loses to a stored terminal result deletes its blob; the winner keeps its own', async () => {
    const { t, open } = backend('fence');
    const b = await open();
    const blobs = await t.openBlobs('fence-blobs', { ttlMs: 0 });
    const first = await b.externalize(newRecord({ status: 'SUCCESS', taskId: 'dup', name: 'r', result: 'a'.repeat(5000), attempt: { sequence: 1, delivery: 1 } }));
    assert.equal(await b.writer('dup', { sequence: 1, delivery: 1 }).write(first), 'written');
    // A duplicate execution (a redelivery whose first attempt's ack was lost) finishes too.
    const second = await b.externalize(newRecord({ status: 'SUCCESS', taskId: 'dup', name: 'r', result: 'b'.repeat(5000), attempt: { sequence: 1, delivery: 2 } }));
    assert.ok(await blobs.get(second.resultRef?.name ?? ''), 'stored before the write');
    assert.equal(await b.writer('dup', { sequence: 1, delivery: 2 }).write(second), 'terminal');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await blobs.get(second.resultRef?.name ?? ''), null, 'the loser deleted its blob');
    assert.ok(await blobs.get(first.resultRef?.name ?? ''), 'the stored result keeps its blob');
    assert.equal(((await b.resolve((await b.get('dup'))!)).result as string)[0], 'a');
    await b.forget('dup');
    assert.equal(await blobs.get(first.resultRef?.name ?? ''), null, 'forget deletes the blob');
  });
});
