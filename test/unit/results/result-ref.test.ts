/** Blob markers in task arguments (ADR 0012): where the worker looks for them and what it does when one is gone. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { codecByName } from '../../../src/protocol/codec.ts';
import { type ResultRef, blobMarker, hasBlobMarkers, isBlobMarker, resolveArgMarkers } from '../../../src/results/result-ref.ts';
import { MemoryTransport } from '../../../src/transport/memory/memory-transport.ts';

const codec = codecByName('msgpack');

async function store() {
  const t = new MemoryTransport(`memory://ref-${randomUUID()}`);
  const blobs = await t.openBlobs('app-blobs', { ttlMs: 0 });
  const put = async (name: string, value: unknown): Promise<ResultRef> => {
    const info = await blobs.put(name, codec.encode(value));
    return { bucket: 'app-blobs', name, size: info.size, digest: info.digest, contentType: codec.contentType };
  };
  return { blobs, put };
}

test('markers are found as an argument, an array item, or the value of an allowPartial item; nowhere deeper', async () => {
  const { blobs, put } = await store();
  const a = blobMarker(await put('a', 'A'.repeat(10)));
  const b = blobMarker(await put('b', { big: [1, 2, 3] }));
  assert.ok(isBlobMarker(a));
  assert.equal(isBlobMarker({ $celeriacBlob: 'x' }), false);
  assert.equal(hasBlobMarkers([1, 'x', { a: 1 }, [1, 2]]), false);
  assert.equal(hasBlobMarkers([{ deep: a }]), false, 'a marker inside a plain object is not looked for');
  const args = [a, [b, 3], [{ status: 'fulfilled', value: a }, { status: 'rejected', reason: 'no' }], { deep: a }];
  assert.equal(hasBlobMarkers(args), true);
  const got = await resolveArgMarkers(args, async () => blobs);
  assert.deepEqual(got, ['A'.repeat(10), [{ big: [1, 2, 3] }, 3], [{ status: 'fulfilled', value: 'A'.repeat(10) }, { status: 'rejected', reason: 'no' }], { deep: a }]);
  // Without markers the same array comes back, untouched and without opening the store.
  const plain = [1, [2]];
  assert.equal(await resolveArgMarkers(plain, async () => assert.fail('store opened')), plain);
});

test('a marker whose value is gone (expired, forgotten) fails with a message naming it', async () => {
  const { blobs, put } = await store();
  const ref = await put('gone/1.1', 'x');
  await blobs.delete('gone/1.1');
  await assert.rejects(resolveArgMarkers([blobMarker(ref)], async () => blobs), /large result app-blobs\/gone\/1\.1 \(\d+ bytes\) is gone: expired \(resultExpires\) or forgotten/);
});
