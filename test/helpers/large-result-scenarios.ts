/**
 * Large-result scenarios (ADR 0012) shared by the memory:// unit test and the nats:// integration
 * test: a value over the inline limit is stored in the blob bucket by reference and read back
 * transparently by get(), info(), watch(), groups, chains and chords; one over maxResultBytes fails
 * the task with ResultTooLargeError.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { WorkerNode } from '../../src/actors/worker-node.ts';
import type { AppOptions } from '../../src/app/app-options.ts';
import { type App, createApp } from '../../src/app/create-app.ts';
import { type TaskError, chain, chord, group, isTaskError } from '../../src/index.ts';
import { blobsBucketName } from '../../src/protocol/names.ts';
import { silentLogger } from '../../src/testing.ts';

/** `n` deterministic pseudo-random bytes (xorshift seeded by `seed`): the task and the test make the same ones. */
export function bytesOf(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Sizes of one run: `big` goes by reference, `tooBig` fails the task. */
export interface LargeResultSizes {
  big: number;
  tooBig: number;
}

/** Register the scenarios on an app with `options` (broker and limits). */
export function largeResultScenarios(options: () => AppOptions, sizes: LargeResultSizes): void {
  let app: App;
  let worker: WorkerNode;
  let tasks: ReturnType<typeof define>;

  function define(a: App) {
    return {
      big: a.task('big.bytes', (_ctx, n: number, seed: number) => bytesOf(n, seed)),
      digest: a.task('big.digest', (_ctx, b: Uint8Array) => ({ length: b.length, sha: sha(b) })),
      digests: a.task('big.digests', (_ctx, bs: Uint8Array[]) => bs.map((b) => ({ length: b.length, sha: sha(b) }))),
      small: a.task('big.small', (_ctx, x: number) => x * 2),
      settled: a.task('big.settled', (_ctx, rs: Array<{ status: string; value?: Uint8Array }>) =>
        rs.map((r) => (r.status === 'fulfilled' && r.value ? sha(r.value) : r.status)),
      ),
      fail: a.task('big.fail', () => {
        throw new Error('no');
      }),
    };
  }

  before(async () => {
    app = createApp({ name: `big-${randomUUID().slice(0, 8)}`, ...options() });
    tasks = define(app);
    worker = app.worker({ concurrency: 8, logger: silentLogger, name: 'big-worker' });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await app.close();
  });

  test('a result over the inline limit is stored by reference; get() and info() give the exact bytes', async () => {
    const r = await tasks.big.delay(sizes.big, 1);
    const got = await r.get({ timeout: '30s' });
    assert.equal(got.length, sizes.big);
    assert.equal(sha(got), sha(bytesOf(sizes.big, 1)));
    const info = await r.info();
    assert.equal(info.status, 'SUCCESS');
    assert.equal(sha(info.result as Uint8Array), sha(got));
    // What the result store holds: a reference, not the value.
    const stored = await (await app.resultBackend()).get(r.id);
    assert.equal(stored?.result, null);
    assert.equal(stored?.resultRef?.bucket, blobsBucketName(app.name));
    assert.ok((stored?.resultRef?.size ?? 0) >= sizes.big, `stored size ${stored?.resultRef?.size}`);
    assert.match(stored?.resultRef?.digest ?? '', /^SHA-256=/);
    // watch() ends with the resolved value too.
    let last: unknown;
    for await (const rec of r.watch()) last = rec.result;
    assert.equal(sha(last as Uint8Array), sha(got));
    // Small results stay inline.
    const s = await tasks.small.delay(21);
    assert.equal(await s.get({ timeout: '10s' }), 42);
    assert.equal((await (await app.resultBackend()).get(s.id))?.resultRef, undefined);
  });

  test('forget() deletes the stored value with the record', async () => {
    const r = await tasks.big.delay(sizes.big, 2);
    await r.get({ timeout: '30s' });
    const ref = (await (await app.resultBackend()).get(r.id))?.resultRef;
    assert.ok(ref);
    const blobs = await app.transport().openBlobs(ref.bucket, { ttlMs: app.options.resultExpiresMs });
    assert.ok(await blobs.get(ref.name), 'the value is stored');
    await r.forget();
    assert.equal(await blobs.get(ref.name), null, 'the value is gone with the record');
    assert.equal(await r.state(), 'PENDING');
  });

  test('a group, a chain and a chord pass large results on', async () => {
    const g = await group(tasks.big.s(sizes.big, 3), tasks.big.s(sizes.big, 4)).applyAsync();
    const values = await g.get({ timeout: '30s' });
    assert.deepEqual(values.map(sha), [sha(bytesOf(sizes.big, 3)), sha(bytesOf(sizes.big, 4))]);

    const c = await chain(tasks.big.s(sizes.big, 5), tasks.digest.s()).applyAsync();
    assert.deepEqual(await c.get({ timeout: '30s' }), { length: sizes.big, sha: sha(bytesOf(sizes.big, 5)) });

    const seeds = [6, 7, 8];
    const ch = await chord(seeds.map((s) => tasks.big.s(sizes.big, s)), tasks.digests.s()).applyAsync();
    assert.deepEqual(
      await ch.get({ timeout: '60s' }),
      seeds.map((s) => ({ length: sizes.big, sha: sha(bytesOf(sizes.big, s)) })),
    );

    const partial = await chord([tasks.big.s(sizes.big, 10), tasks.fail.s()], tasks.settled.s(), { allowPartial: true }).applyAsync();
    assert.deepEqual(await partial.get({ timeout: '60s' }), [sha(bytesOf(sizes.big, 10)), 'rejected']);
  });

  test('a result over maxResultBytes fails the task with ResultTooLargeError naming the task and the size', async () => {
    const r = await tasks.big.delay(sizes.tooBig, 9);
    let err: TaskError | undefined;
    try {
      await r.get({ timeout: '60s' });
    } catch (e) {
      assert.ok(isTaskError(e), `expected a TaskError, got ${String(e)}`);
      err = e;
    }
    assert.ok(err, 'get() rejected');
    assert.equal(err.remote.name, 'ResultTooLargeError');
    assert.equal(err.remote.code, 'E_RESULT_TOO_LARGE');
    assert.match(err.remote.message, /task "big\.bytes" returned \d+ bytes \(encoded\), over the \d+-byte limit \(maxResultBytes\)/);
    assert.ok(Number(/returned (\d+) bytes/.exec(err.remote.message)?.[1]) >= sizes.tooBig);
    assert.equal((await r.info()).status, 'FAILURE');
    // The worker stays up and keeps working.
    assert.equal(await (await tasks.small.delay(2)).get({ timeout: '10s' }), 4);
  });
}
