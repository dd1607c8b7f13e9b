/** `entries()` and `watchAll()` of the memory key-value store (the semantics the NATS bucket has). */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { isInvalidArgumentError } from '../../../src/errors.ts';
import { resetMemoryBroker } from '../../../src/transport/memory/memory-broker.ts';
import { MemoryTransport } from '../../../src/transport/memory/memory-transport.ts';
import type { KeyValueStore, KvEntry } from '../../../src/transport/transport.ts';
import { deferred } from '../../../src/util/deferred.ts';

const utf8 = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const flush = () => new Promise<void>((r) => setImmediate(r));
const brokers: string[] = [];

async function bucket(ttlMs = 0): Promise<{ kv: KeyValueStore; url: string }> {
  const name = `kv-${randomUUID()}`;
  brokers.push(name);
  const url = `memory://${name}`;
  return { kv: await new MemoryTransport(url).openKv('b', { ttlMs }), url };
}

afterEach(() => {
  for (const b of brokers.splice(0)) resetMemoryBroker(b);
});

describe('MemoryKeyValueStore.entries', { timeout: 10_000 }, () => {
  test('the last value of every live key, oldest revision first; deleted keys left out', async () => {
    const { kv } = await bucket();
    await kv.put('a', utf8.encode('a1'));
    await kv.put('b', utf8.encode('b1'));
    await kv.put('c', utf8.encode('c1'));
    await kv.put('a', utf8.encode('a2'));
    await kv.delete('b');
    const es = await kv.entries();
    assert.deepEqual(
      es.map((e) => [e.key, text(e.value), e.operation]),
      [
        ['c', 'c1', 'PUT'],
        ['a', 'a2', 'PUT'],
      ],
    );
    assert.ok((es[0]?.revision ?? 0) < (es[1]?.revision ?? 0));
    assert.deepEqual(await (await bucket()).kv.entries(), []);
  });

  test('limit bounds the result; a bad limit is refused', async () => {
    const { kv } = await bucket();
    for (const k of ['k1', 'k2', 'k3']) await kv.put(k, utf8.encode(k));
    assert.deepEqual(
      (await kv.entries(2)).map((e) => e.key),
      ['k1', 'k2'],
    );
    await assert.rejects(kv.entries(0), isInvalidArgumentError);
  });

  test('expired entries are left out', async (ctx) => {
    ctx.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const { kv } = await bucket(1_000);
    await kv.put('old', utf8.encode('x'));
    ctx.mock.timers.tick(600);
    await kv.put('new', utf8.encode('y'));
    ctx.mock.timers.tick(600);
    assert.deepEqual(
      (await kv.entries()).map((e) => e.key),
      ['new'],
    );
  });
});

describe('MemoryKeyValueStore.watchAll', { timeout: 10_000 }, () => {
  test('sees every later write of any key with its revision and operation, until stopped', async () => {
    const { kv, url } = await bucket();
    await kv.put('before', utf8.encode('ignored'));
    const seen: KvEntry[] = [];
    const three = deferred();
    const stop = kv.watchAll((e) => {
      seen.push(e);
      if (seen.length === 3) three.resolve();
    });
    const r1 = await kv.put('x', utf8.encode('1'));
    // A write through another store of the same bucket on the same broker is seen too.
    const other = await new MemoryTransport(url).openKv('b', { ttlMs: 0 });
    const r2 = await other.put('y', utf8.encode('2'));
    await kv.delete('x');
    await three.promise;
    assert.deepEqual(
      seen.map((e) => [e.key, e.operation, e.operation === 'PUT' ? text(e.value) : '']),
      [
        ['x', 'PUT', '1'],
        ['y', 'PUT', '2'],
        ['x', 'DEL', ''],
      ],
    );
    assert.deepEqual(seen.slice(0, 2).map((e) => e.revision), [r1, r2]);
    stop();
    await kv.put('z', utf8.encode('after'));
    await flush();
    assert.equal(seen.length, 3);
  });

  test('a refused conditional write is not seen; other buckets are not seen', async () => {
    const { kv, url } = await bucket();
    const seen: string[] = [];
    kv.watchAll((e) => seen.push(e.key));
    const r = await kv.put('k', utf8.encode('1'));
    await assert.rejects(kv.put('k', utf8.encode('2'), { expectRevision: r - 1 }));
    await (await new MemoryTransport(url).openKv('other', { ttlMs: 0 })).put('k2', utf8.encode('x'));
    await flush();
    assert.deepEqual(seen, ['k']);
  });
});
