import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { isTaskError, isTimeoutError } from '../../../src/errors.ts';
import { codecByName } from '../../../src/protocol/codec.ts';
import { AsyncResult } from '../../../src/results/async-result.ts';
import { KvResultBackend } from '../../../src/results/result-backend.ts';
import type { ResultRecord, TaskState } from '../../../src/results/states.ts';
import { memoryBroker, resetMemoryBroker } from '../../../src/transport/memory/memory-broker.ts';
import { MemoryKeyValueStore } from '../../../src/transport/memory/memory-kv.ts';
import type { KeyValueStore, KvEntry, KvPutOptions } from '../../../src/transport/transport.ts';

const msgpack = codecByName('msgpack');

/** Let pending microtasks and I/O callbacks run once. */
const flush = () => new Promise<void>((r) => setImmediate(r));

/** A KV store that counts reads, to show that waiting is done by watching, not polling. */
class CountingKv implements KeyValueStore {
  gets = 0;
  /** Watchers hear nothing (a notification lost between cluster nodes). */
  deaf = false;
  constructor(readonly inner: KeyValueStore) {}
  get bucket(): string {
    return this.inner.bucket;
  }
  get(key: string): Promise<KvEntry | null> {
    this.gets++;
    return this.inner.get(key);
  }
  put(key: string, value: Uint8Array, options?: KvPutOptions): Promise<number> {
    return this.inner.put(key, value, options);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  watchKey(key: string, onEntry: (e: KvEntry) => void): () => void {
    if (this.deaf) return () => undefined;
    return this.inner.watchKey(key, onEntry);
  }
  entries(limit?: number): Promise<KvEntry[]> {
    return this.inner.entries(limit);
  }
  watchAll(onEntry: (e: KvEntry) => void): () => void {
    return this.inner.watchAll(onEntry);
  }
}

const brokers: string[] = [];

function setup() {
  const name = `t-${randomUUID()}`;
  brokers.push(name);
  const kv = new CountingKv(new MemoryKeyValueStore('results', memoryBroker(name), 0));
  const backend = new KvResultBackend(kv, msgpack);
  const id = `task-${randomUUID()}`;
  const result = new AsyncResult<unknown>(id, async () => backend);
  return { kv, backend, id, result };
}

function record(id: string, status: TaskState, p: Partial<ResultRecord> = {}): ResultRecord {
  return {
    status,
    taskId: id,
    name: 'test.task',
    result: null,
    error: null,
    traceback: null,
    dateDone: status === 'SUCCESS' || status === 'FAILURE' || status === 'REVOKED' ? new Date().toISOString() : null,
    meta: null,
    children: [],
    worker: 'w1',
    attempts: 1,
    ...p,
  };
}

// Nothing else holds the event loop open while a test awaits a watch (memory KV watchers are callbacks).
let keepAlive: NodeJS.Timeout | undefined;
before(() => {
  keepAlive = setInterval(() => {}, 60_000);
});
after(() => clearInterval(keepAlive));
afterEach(() => {
  for (const b of brokers.splice(0)) resetMemoryBroker(b);
});

describe('AsyncResult', () => {
  test('is PENDING when nothing is stored', async () => {
    const { result, id } = setup();
    assert.equal(await result.state(), 'PENDING');
    assert.equal(await result.ready(), false);
    const info = await result.info();
    assert.equal(info.status, 'PENDING');
    assert.equal(info.taskId, id);
    assert.equal(info.result, null);
    assert.deepEqual(result.toJSON(), { id });
  });

  test('state, info and ready follow the stored record', async () => {
    const { backend, result, id } = setup();
    await backend.writer(id).write(record(id, 'STARTED'));
    assert.equal(await result.state(), 'STARTED');
    assert.equal(await result.ready(), false);
    const w = backend.writer(id);
    await w.write(record(id, 'PROGRESS', { meta: { done: 1 } }));
    assert.deepEqual((await result.info()).meta, { done: 1 });
    await w.write(record(id, 'SUCCESS', { result: 42 }));
    assert.equal(await result.state(), 'SUCCESS');
    assert.equal(await result.ready(), true);
  });

  test('get() resolves when the result is stored after it was called, by watching (one read only)', async () => {
    const { backend, kv, result, id } = setup();
    let settled = false;
    const p = result.get().finally(() => {
      settled = true;
    });
    await flush();
    await flush();
    assert.equal(settled, false);
    const readsBefore = kv.gets;
    const w = backend.writer(id);
    await w.write(record(id, 'PROGRESS', { meta: { step: 1 } }));
    await flush();
    assert.equal(settled, false, 'a non-final state does not end get()');
    await w.write(record(id, 'SUCCESS', { result: { sum: 5, at: new Date(7) } }));
    assert.deepEqual(await p, { sum: 5, at: new Date(7) });
    assert.equal(kv.gets, 1, 'get() read the key once, then waited on the watch');
    assert.equal(kv.gets, readsBefore);
  });

  test('get() resolves with a result stored before it was called', async () => {
    const { backend, result, id } = setup();
    await backend.writer(id).write(record(id, 'SUCCESS', { result: 'done' }));
    assert.equal(await result.get({ timeout: '5s' }), 'done');
  });

  test('a stored null result resolves to null', async () => {
    const { backend, result, id } = setup();
    await backend.writer(id).write(record(id, 'SUCCESS', { result: null }));
    assert.equal(await result.get(), null);
  });

  test('FAILURE rejects with TaskError carrying the remote name, message, code and stack', async () => {
    const { backend, result, id } = setup();
    const remote = { name: 'TypeError', message: 'boom', code: 'E_BOOM', stack: 'TypeError: boom\n    at task (tasks.ts:3:9)' };
    await backend.writer(id).write(record(id, 'FAILURE', { error: remote, traceback: remote.stack }));
    await assert.rejects(result.get(), (err: unknown) => {
      assert.ok(isTaskError(err));
      assert.equal(err.code, 'E_TASK_FAILED');
      assert.equal(err.taskId, id);
      assert.deepEqual(err.remote, remote);
      assert.equal(err.remoteName, 'TypeError');
      assert.equal(err.message, `task ${id} failed: TypeError: boom`);
      assert.match(err.stack ?? '', /--- remote stack ---\nTypeError: boom\n {4}at task \(tasks\.ts:3:9\)/);
      return true;
    });
  });

  test('FAILURE written while waiting rejects the waiting get()', async () => {
    const { backend, result, id } = setup();
    const p = result.get();
    await flush();
    await backend.writer(id).write(record(id, 'FAILURE', { error: { name: 'Error', message: 'late' } }));
    await assert.rejects(p, (err: unknown) => isTaskError(err) && err.remote.message === 'late');
  });

  test('REVOKED rejects with TaskError', async () => {
    const { backend, result, id } = setup();
    await backend.writer(id).write(record(id, 'REVOKED', { meta: { reason: 'expired' } }));
    await assert.rejects(result.get(), (err: unknown) => isTaskError(err) && err.remote.name === 'REVOKED');
  });

  test('get({ timeout }) rejects with TimeoutError when nothing final arrives', async () => {
    const { backend, result, id } = setup();
    await backend.writer(id).write(record(id, 'STARTED'));
    const t0 = performance.now();
    await assert.rejects(result.get({ timeout: 50 }), (err: unknown) => {
      assert.ok(isTimeoutError(err));
      assert.equal(err.code, 'E_TIMEOUT');
      assert.ok(err.message.includes(id));
      return true;
    });
    assert.ok(performance.now() - t0 >= 48);
  });

  test('get({ timeout }) counts opening the result store: a store that does not open in time is a TimeoutError', { timeout: 5000 }, async () => {
    // The first get() opens the results bucket; in a cluster electing the bucket's leader that waits.
    const { backend, id } = setup();
    let open: (b: KvResultBackend) => void = () => undefined;
    const opening = new Promise<KvResultBackend>((resolve) => (open = resolve));
    const result = new AsyncResult<unknown>(id, () => opening);
    await assert.rejects(result.get({ timeout: 50 }), (err: unknown) => isTimeoutError(err) && /result store did not open within the 50 ms timeout given to get\(\)/.test(err.message));
    // A store that opens within the timeout leaves the rest of it for the result.
    const late = new AsyncResult<unknown>(id, () => opening);
    const got = late.get({ timeout: 2000 });
    setTimeout(() => {
      open(backend);
      void backend.writer(id).write(record(id, 'SUCCESS', { result: 7 }));
    }, 30);
    assert.equal(await got, 7);
  });

  test('get() still resolves when the final write is never notified: it reads the key again', { timeout: 10_000 }, async () => {
    const { kv, backend, result, id } = setup();
    kv.deaf = true;
    const t0 = performance.now();
    const got = result.get({ timeout: '8s' });
    await flush();
    await backend.writer(id).write(record(id, 'SUCCESS', { result: 42 }));
    assert.equal(await got, 42);
    const ms = performance.now() - t0;
    assert.ok(ms >= 900 && ms < 3000, `resolved after ${ms.toFixed(0)} ms, by the first re-read (1 s)`);
    assert.equal(kv.gets, 2);
  });

  test('get() stops waiting when its signal aborts', async () => {
    const { result } = setup();
    const ac = new AbortController();
    const p = result.get({ signal: ac.signal });
    await flush();
    ac.abort(new Error('no longer needed'));
    await assert.rejects(p, /no longer needed/);
    await assert.rejects(result.get({ signal: AbortSignal.abort(new Error('already')) }), /already/);
  });

  test('watch() yields PENDING, then PROGRESS with meta, then SUCCESS, and ends', async () => {
    const { backend, result, id } = setup();
    const it = result.watch();
    const first = await it.next();
    assert.equal(first.done, false);
    assert.equal(first.value?.status, 'PENDING');
    const w = backend.writer(id);
    await w.write(record(id, 'PROGRESS', { meta: { done: 1, total: 3 } }));
    const second = await it.next();
    assert.equal(second.value?.status, 'PROGRESS');
    assert.deepEqual(second.value?.meta, { done: 1, total: 3 });
    await w.write(record(id, 'PROGRESS', { meta: { done: 2, total: 3 } }));
    await w.write(record(id, 'SUCCESS', { result: 'ok' }));
    const third = await it.next();
    assert.deepEqual(third.value?.meta, { done: 2, total: 3 });
    const fourth = await it.next();
    assert.equal(fourth.value?.status, 'SUCCESS');
    assert.equal(fourth.value?.result, 'ok');
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });

  test('watch({ signal }) ends as soon as the signal aborts, with no update to wake it, and stops watching', async () => {
    const { result, backend, id } = setup();
    const ac = new AbortController();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const r of result.watch({ signal: ac.signal })) seen.push(r.status);
    })();
    while (seen.length === 0) await flush();
    ac.abort();
    await loop; // would hang here (no update ever comes) if the abort did not end the iteration
    assert.deepEqual(seen, ['PENDING']);
    await backend.writer(id).write(record(id, 'SUCCESS', { result: 1 }));
    await flush();
    assert.deepEqual(seen, ['PENDING'], 'an update after the abort is not delivered');
    const none: string[] = [];
    for await (const r of result.watch({ signal: AbortSignal.abort() })) none.push(r.status);
    assert.deepEqual(none, [], 'an already-aborted signal yields nothing');
  });

  test('watch() of a finished task yields the final record and ends', async () => {
    const { backend, result, id } = setup();
    await backend.writer(id).write(record(id, 'SUCCESS', { result: 1 }));
    const seen: string[] = [];
    for await (const r of result.watch()) seen.push(r.status);
    assert.deepEqual(seen, ['SUCCESS']);
  });

  test('forget() removes the result: PENDING again', async () => {
    const { backend, result, id } = setup();
    await backend.writer(id).write(record(id, 'SUCCESS', { result: 1 }));
    assert.equal(await result.state(), 'SUCCESS');
    await result.forget();
    assert.equal(await result.state(), 'PENDING');
    assert.equal(await backend.get(id), null);
    await result.forget(); // forgetting twice is fine
  });

  test('after forget() a new execution can store a result again', async () => {
    const { backend, result, id } = setup();
    await backend.writer(id).write(record(id, 'SUCCESS', { result: 'old' }));
    await result.forget();
    assert.equal(await backend.writer(id).write(record(id, 'SUCCESS', { result: 'new' })), 'written');
    assert.equal(await result.get(), 'new');
  });

  test('JSON-encoded records (other producers) are read too', async () => {
    const { kv, result, id } = setup();
    await kv.put(id, codecByName('json').encode(record(id, 'SUCCESS', { result: [1, 'two'] })));
    assert.deepEqual(await result.get(), [1, 'two']);
  });
});

describe('KvResultBackend fencing', () => {
  test('the first terminal write wins; a second writer cannot overwrite it', async () => {
    const { backend, result, id } = setup();
    const first = backend.writer(id);
    const second = backend.writer(id);
    assert.equal(await first.write(record(id, 'SUCCESS', { result: 'first', worker: 'w1' })), 'written');
    assert.equal(await second.write(record(id, 'SUCCESS', { result: 'second', worker: 'w2' })), 'terminal');
    assert.equal(await second.write(record(id, 'FAILURE', { error: { name: 'Error', message: 'x' } })), 'terminal');
    const stored = await backend.get(id);
    assert.equal(stored?.result, 'first');
    assert.equal(stored?.worker, 'w1');
    assert.equal(await result.get(), 'first');
  });

  test('a non-terminal write after a terminal one is dropped', async () => {
    const { backend, id } = setup();
    const first = backend.writer(id);
    const second = backend.writer(id);
    await first.write(record(id, 'SUCCESS', { result: 1 }));
    assert.equal(await second.write(record(id, 'PROGRESS', { meta: { late: true } })), 'terminal');
    assert.equal(await first.write(record(id, 'PROGRESS', { meta: { late: true } })), 'terminal');
    assert.equal(await backend.writer(id).write(record(id, 'STARTED')), 'terminal');
    assert.equal((await backend.get(id))?.status, 'SUCCESS');
  });

  test('writers racing through non-terminal states do not block the terminal write', async () => {
    const { backend, id } = setup();
    const a = backend.writer(id);
    const b = backend.writer(id);
    assert.equal(await a.write(record(id, 'STARTED', { worker: 'a' })), 'written');
    assert.equal(await b.write(record(id, 'STARTED', { worker: 'b' })), 'written');
    assert.equal(await a.write(record(id, 'PROGRESS', { meta: { n: 1 } })), 'written');
    assert.equal(await a.write(record(id, 'SUCCESS', { result: 'a' })), 'written');
    assert.equal(await b.write(record(id, 'SUCCESS', { result: 'b' })), 'terminal');
    assert.equal((await backend.get(id))?.result, 'a');
  });

  test('concurrent terminal writes: exactly one wins', async () => {
    const { backend, id } = setup();
    const writers = Array.from({ length: 5 }, () => backend.writer(id));
    const won = await Promise.all(writers.map((w, i) => w.write(record(id, 'SUCCESS', { result: i }))));
    assert.equal(won.filter((w) => w === 'written').length, 1);
    assert.equal((await backend.get(id))?.result, won.indexOf('written'));
  });

  test('watch() reports updates and a deletion as null', async () => {
    const { backend, id } = setup();
    const seen: Array<string | null> = [];
    let done!: () => void;
    const two = new Promise<void>((r) => (done = r));
    const off = backend.watch(id, (r) => {
      seen.push(r ? r.status : null);
      if (seen.length === 2) done();
    });
    await backend.writer(id).write(record(id, 'SUCCESS', { result: 1 }));
    await backend.forget(id);
    await two;
    off();
    assert.deepEqual(seen, ['SUCCESS', null]);
  });
});
