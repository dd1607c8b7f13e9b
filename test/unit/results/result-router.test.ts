/** ResultRouter: results routed back to the publishing client (reply_to), bounded and with fallback. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { codecByName } from '../../../src/protocol/codec.ts';
import { MAX_ROUTED_RECORD_BYTES, REPLY_PREFIX, ResultRouter } from '../../../src/results/result-router.ts';
import type { ResultRecord } from '../../../src/results/states.ts';
import { resetMemoryBroker } from '../../../src/testing.ts';
import { MemoryTransport } from '../../../src/transport/memory/memory-transport.ts';

const codec = codecByName('msgpack');
const broker = `rr-${randomUUID()}`;
const transport = new MemoryTransport(`memory://${broker}`);
after(async () => {
  await transport.close();
  resetMemoryBroker(broker);
});

function record(id: string, status: ResultRecord['status'] = 'SUCCESS', result: unknown = 42): ResultRecord {
  return { status, taskId: id, name: 't', result, error: null, traceback: null, dateDone: null, meta: null, children: [], worker: 'w', attempts: 1 };
}

function send(router: ResultRouter, r: ResultRecord): void {
  transport.notify(router.subject, { id: r.taskId }, codec.encode(r));
}

test('listens on a _celeriac.reply.<app>.<client> subject', () => {
  const router = new ResultRouter(transport, 'shop', (b) => codec.decode(b));
  assert.ok(router.subject.startsWith(`${REPLY_PREFIX}shop.`));
  assert.notEqual(router.subject, new ResultRouter(transport, 'shop', (b) => codec.decode(b)).subject);
});

test('a waiter gets the routed result; a result that arrives first is cached for the next get', async () => {
  const router = new ResultRouter(transport, 'a', (b) => codec.decode(b));
  router.start();
  router.track('t1');
  assert.ok(router.expects('t1'));
  const waiting = router.wait('t1', 5_000);
  send(router, record('t1'));
  assert.equal((await waiting)?.result, 42);
  assert.equal(router.expects('t1'), false);

  router.track('t2');
  send(router, record('t2', 'FAILURE', null));
  await new Promise((r) => setImmediate(r));
  assert.equal(router.take('t2')?.status, 'FAILURE');
  assert.equal(router.take('t2'), undefined, 'taken once');
  router.close();
});

test('the wait ends empty-handed after its time, so the caller falls back to the bucket', async () => {
  const router = new ResultRouter(transport, 'b', (b) => codec.decode(b));
  router.start();
  router.track('slow');
  assert.equal(await router.wait('slow', 20), undefined);
  router.close();
});

test('non-terminal or undecodable notifications are ignored', async () => {
  const router = new ResultRouter(transport, 'c', (b) => codec.decode(b));
  router.start();
  router.track('x');
  send(router, record('x', 'PROGRESS'));
  transport.notify(router.subject, { id: 'x' }, new Uint8Array([0xc1]));
  await new Promise((r) => setImmediate(r));
  assert.equal(router.take('x'), undefined);
  assert.ok(router.expects('x'));
  router.close();
});

test('the cache of unclaimed results is bounded (oldest forgotten first)', async () => {
  const router = new ResultRouter(transport, 'd', (b) => codec.decode(b));
  router.start();
  for (let i = 0; i < 10_001; i++) {
    router.track(`k${i}`);
    send(router, record(`k${i}`));
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(router.take('k0'), undefined, 'the oldest was evicted');
  assert.equal(router.take('k10000')?.result, 42);
  router.close();
});

test('unclaimed results are bounded in bytes too, not only in count', async () => {
  const router = new ResultRouter(transport, 'd2', (b) => codec.decode(b));
  router.start();
  // 300 results of 60 KB (under the routing limit): 18 MB, over the 16 MiB the cache keeps.
  const big = 'x'.repeat(60_000);
  for (let i = 0; i < 300; i++) {
    router.track(`b${i}`);
    send(router, record(`b${i}`, 'SUCCESS', big));
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(router.take('b0'), undefined, 'the oldest was evicted although the count is far below 10,000');
  assert.equal(router.take('b299')?.result, big);
  router.close();
});

test('a client whose cache overflows stops asking for routed results for a while', async () => {
  const router = new ResultRouter(transport, 'p', (b) => codec.decode(b));
  router.start();
  assert.equal(router.accepting, true);
  for (let i = 0; i < 10_000; i++) {
    router.track(`p${i}`);
    send(router, record(`p${i}`));
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(router.accepting, true, 'a full cache alone does not pause routing');
  router.track('p10000');
  send(router, record('p10000'));
  await new Promise((r) => setImmediate(r));
  assert.equal(router.accepting, false, 'an unclaimed result pushed out of the cache pauses routing');
  router.close();
});

test('a claimed result does not pause routing, however many go through', async () => {
  const router = new ResultRouter(transport, 'q', (b) => codec.decode(b));
  router.start();
  for (let i = 0; i < 12_000; i++) {
    router.track(`q${i}`);
    const waiting = router.wait(`q${i}`, 5_000);
    send(router, record(`q${i}`));
    assert.equal((await waiting)?.taskId, `q${i}`);
  }
  assert.equal(router.accepting, true);
  router.close();
});

test('a notice without a record (too big to route) sends the waiter to the bucket at once and caches nothing', async () => {
  const router = new ResultRouter(transport, 'n', (b) => codec.decode(b));
  router.start();
  router.track('huge');
  const started = Date.now();
  const waiting = router.wait('huge', 60_000);
  transport.notify(router.subject, { id: 'huge' }, new Uint8Array(0));
  assert.equal(await waiting, undefined);
  assert.ok(Date.now() - started < 5_000, 'released without waiting out its time');
  assert.equal(router.expects('huge'), false, 'a later get() goes to the bucket without waiting');
  transport.notify(router.subject, { id: 'later' }, new Uint8Array(0));
  await new Promise((r) => setImmediate(r));
  assert.equal(router.take('later'), undefined);
  assert.ok(MAX_ROUTED_RECORD_BYTES >= 16 * 1024);
  router.close();
});

test('a lost connection sends waiters to the bucket at once and forgets what was routed', async () => {
  const listeners: Array<(s: 'disconnected' | 'connected') => void> = [];
  const t = Object.assign(Object.create(transport) as MemoryTransport, {
    onStatus: (l: (s: 'disconnected' | 'connected') => void) => {
      listeners.push(l);
      return () => undefined;
    },
    listen: transport.listen.bind(transport),
  });
  const router = new ResultRouter(t, 'e', (b) => codec.decode(b));
  router.start();
  router.track('lost');
  const waiting = router.wait('lost', 60_000);
  for (const l of listeners) l('disconnected');
  assert.equal(await waiting, undefined, 'released without waiting out its time');
  assert.equal(router.expects('lost'), false);
  router.close();
});

test('a result whose waiter gave up (the task ran longer than the routed wait) is not cached', async () => {
  const router = new ResultRouter(transport, 'late', (b) => codec.decode(b));
  router.start();
  // 12,000 slow tasks: each get() waits here, gives up, reads the bucket; the results come later.
  for (let i = 0; i < 12_000; i++) router.track(`s${i}`);
  await Promise.all(Array.from({ length: 12_000 }, (_, i) => router.wait(`s${i}`, 1)));
  assert.equal(router.expects('s0'), false, 'a result nobody waits for here any more');
  for (let i = 0; i < 12_000; i++) send(router, record(`s${i}`));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(router.take('s11999'), undefined, 'not cached: its get() went to the bucket');
  assert.equal(router.accepting, true, 'late results do not fill the cache and pause routing');
  router.close();
});

test('untracked results are not cached', async () => {
  const router = new ResultRouter(transport, 'untracked', (b) => codec.decode(b));
  router.start();
  send(router, record('nobody-asked'));
  await new Promise((r) => setImmediate(r));
  assert.equal(router.take('nobody-asked'), undefined);
  router.close();
});

test('a newer record of a task whose result is cached replaces it (a replayed dead letter ran again)', async () => {
  const router = new ResultRouter(transport, 'replayed', (b) => codec.decode(b));
  router.start();
  router.track('r1');
  send(router, record('r1', 'FAILURE', null));
  send(router, record('r1', 'SUCCESS', 'second run ok'));
  await new Promise((r) => setImmediate(r));
  assert.equal(router.take('r1')?.result, 'second run ok');
  router.close();
});
