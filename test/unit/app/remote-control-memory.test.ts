/**
 * Remote control on memory://: two worker nodes answer inspect and control requests; `destination`
 * narrows to one; pools resize; consumers are added and cancelled; queue stats and purge.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { createApp } from '../../../src/app/create-app.ts';
import { resetMemoryBroker, silentLogger } from '../../../src/testing.ts';

function setup() {
  const broker = `rc-${randomUUID()}`;
  const app = createApp({ name: 'rc', broker: `memory://${broker}` });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = app.task('rc.slow', async () => {
    await gate;
    return 'ok';
  });
  const quick = app.task('rc.quick', async (_c, n: number) => n * 2);
  const w1 = app.worker({ name: 'w1', logger: silentLogger, concurrency: 4, scheduler: false });
  const w2 = app.worker({ name: 'w2', logger: silentLogger, concurrency: 4, scheduler: false });
  return {
    app,
    slow,
    quick,
    w1,
    w2,
    release,
    async close() {
      release();
      await w1.stop(1000);
      await w2.stop(1000);
      await app.close();
      resetMemoryBroker(broker);
    },
  };
}

test('inspect ping, registered, active and stats reach every worker; destination narrows to one', async () => {
  const s = setup();
  try {
    await s.w1.start();
    await s.w2.start();
    const pings = await s.app.control.inspect().ping();
    assert.deepEqual(
      pings.map((r) => [r.worker, r.ok && r.result]),
      [
        ['w1', 'pong'],
        ['w2', 'pong'],
      ],
    );
    const one = await s.app.control.inspect({ destination: ['w2'] }).ping();
    assert.deepEqual(one.map((r) => r.worker), ['w2']);

    const registered = await s.app.control.inspect({ destination: ['w1'] }).registered();
    const names = registered[0]?.ok ? registered[0].result.map((t) => t.name) : [];
    assert.ok(names.includes('rc.slow') && names.includes('rc.quick'), `registered: ${names.join(',')}`);

    const results = await Promise.all([s.slow.delay(), s.slow.delay(), s.slow.delay()]);
    const ids = new Set(results.map((r) => r.id));
    let running: string[] = [];
    for (let i = 0; i < 100 && running.length < 3; i++) {
      const active = await s.app.control.inspect().active();
      running = active.flatMap((r) => (r.ok ? r.result.map((t) => t.id) : []));
      if (running.length < 3) await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(new Set(running), ids, 'the three running tasks, across both workers');
    const stats = await s.app.control.inspect().stats();
    assert.equal(stats.length, 2);
    for (const r of stats) {
      assert.ok(r.ok);
      assert.equal((r.result.pool as { io: { size: number } }).io.size, 4);
    }
    s.release();
    assert.deepEqual(await Promise.all(results.map((r) => r.get({ timeout: '5s' }))), ['ok', 'ok', 'ok']);
  } finally {
    await s.close();
  }
});

test('pool-grow and pool-shrink change the async slots; bad arguments get an error reply', async () => {
  const s = setup();
  try {
    await s.w1.start();
    const grown = await s.app.control.poolGrow(3, { destination: ['w1'] });
    assert.deepEqual(grown, [{ worker: 'w1', ok: true, result: { pool: 'io', size: 7 } }]);
    const shrunk = await s.app.control.poolShrink(5, { destination: ['w1'] });
    assert.deepEqual(shrunk, [{ worker: 'w1', ok: true, result: { pool: 'io', size: 2 } }]);
    const tooSmall = await s.app.control.poolShrink(5, { destination: ['w1'] });
    assert.equal(tooSmall[0]?.ok, false);
    assert.match(tooSmall[0]?.ok === false ? tooSmall[0].error.message : '', /below 1/);
    const noCpu = await s.app.control.poolGrow(1, { destination: ['w1'], pool: 'cpu' });
    assert.match(noCpu[0]?.ok === false ? noCpu[0].error.message : '', /no CPU pool/);
    assert.throws(() => s.app.control.poolGrow(0), /positive integer/);
    // tasks still run with 2 slots
    assert.equal(await (await s.quick.delay(21)).get({ timeout: '5s' }), 42);
  } finally {
    await s.close();
  }
});

test('add-consumer and cancel-consumer change what a worker takes; queue stats and purge', async () => {
  const s = setup();
  try {
    await s.w1.start();
    const other = await s.quick.applyAsync([5], { queue: 'other' });
    await new Promise((r) => setTimeout(r, 50));
    const before = await s.app.queueStats('other');
    assert.deepEqual(before, [{ queue: 'other', depth: 1, inFlight: 0, redelivered: 0, waitingPulls: 0, hasConsumer: false }]);
    const added = await s.app.control.addConsumer('other', { destination: ['w1'] });
    assert.deepEqual(added[0]?.ok && added[0].result.consuming, ['default', 'other']);
    assert.equal(await other.get({ timeout: '5s' }), 10);
    const queues = await s.app.control.inspect().activeQueues();
    assert.deepEqual(queues[0]?.ok && queues[0].result.map((q) => q.queue), ['default', 'other']);

    const cancelled = await s.app.control.cancelConsumer('other', { destination: ['w1'] });
    assert.deepEqual(cancelled[0]?.ok && cancelled[0].result.consuming, ['default']);
    await s.quick.applyAsync([1], { queue: 'other' });
    await s.quick.applyAsync([2], { queue: 'other' });
    await new Promise((r) => setTimeout(r, 100));
    const waiting = (await s.app.queueStats('other'))[0];
    assert.equal(waiting?.depth, 2, 'not consumed any more');
    assert.equal(waiting?.hasConsumer, false);
    assert.equal(await s.app.purge('other'), 2);
    assert.equal((await s.app.queueStats('other'))[0]?.depth, 0);
    const last = await s.app.control.cancelConsumer('default', { destination: ['w1'] });
    assert.equal(last[0]?.ok, false, 'the last queue cannot be cancelled');
  } finally {
    await s.close();
  }
});

test('time-limit overrides a task limit on the workers; shutdown stops a worker', async () => {
  const s = setup();
  const app = s.app;
  const sleepy = app.task('rc.sleepy', async (ctx) => {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, 5000);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(ctx.signal.reason as Error);
      });
    });
  });
  try {
    await s.w1.start();
    const set = await app.control.timeLimit('rc.sleepy', { soft: 0.1, hard: 2 });
    assert.deepEqual(set, [{ worker: 'w1', ok: true, result: { task: 'rc.sleepy', softMs: 100, hardMs: 2000 } }]);
    const r = await sleepy.delay();
    await assert.rejects(r.get({ timeout: '5s' }), /soft time limit/i);
    const stopped = new Promise<void>((resolve) => s.w1.onStopped(resolve));
    const bye = await app.control.shutdown({ destination: ['w1'] });
    assert.deepEqual(bye, [{ worker: 'w1', ok: true, result: 'shutting down' }]);
    await stopped;
    assert.equal(s.w1.state, 'stopped');
  } finally {
    await s.close();
  }
});

test('a time-limit override of the soft limit alone keeps the task\'s own hard limit', async () => {
  const s = setup();
  const app = s.app;
  // Its own hard limit is 300 ms; it ignores ctx.signal, so only the hard limit stops it.
  const stubborn = app.task('rc.stubborn', async () => new Promise<string>((r) => setTimeout(() => r('finished'), 3000)), { timeLimit: '300ms' });
  try {
    await s.w1.start();
    const set = await app.control.timeLimit('rc.stubborn', { soft: 10 });
    assert.deepEqual(set, [{ worker: 'w1', ok: true, result: { task: 'rc.stubborn', softMs: 10_000 } }]);
    const r = await stubborn.delay();
    await assert.rejects(r.get({ timeout: '5s' }), (err: Error) => /time limit/i.test(err.message) && !/soft/i.test(err.message));
    const cleared = await app.control.timeLimit('rc.stubborn', { soft: null, hard: null });
    assert.deepEqual(cleared[0]?.ok && cleared[0].result, { task: 'rc.stubborn', softMs: null, hardMs: null });
  } finally {
    await s.close();
  }
});

test('autoscale grows the async slots with the backlog, up to max, and shrinks them back to min after the keepalive', async () => {
  const broker = `rc-${randomUUID()}`;
  const app = createApp({ name: 'rcauto', broker: `memory://${broker}` });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const held = app.task('rc.held', async () => {
    await gate;
    return 1;
  });
  const w = app.worker({ name: 'auto', logger: silentLogger, autoscale: { max: 8, min: 2, keepalive: '300ms' }, scheduler: false });
  try {
    await w.start();
    assert.equal((w.statsReport().pool as { io: { size: number } }).io.size, 2);
    const rs = await Promise.all(Array.from({ length: 20 }, () => held.delay()));
    let size = 2;
    for (let i = 0; i < 100 && size < 8; i++) {
      await new Promise((r) => setTimeout(r, 100));
      size = (w.statsReport().pool as { io: { size: number } }).io.size;
    }
    assert.equal(size, 8, 'grown to max while 20 tasks wait');
    assert.equal(w.activeTasks().length, 8, 'and 8 run at once');
    release();
    await Promise.all(rs.map((r) => r.get({ timeout: '10s' })));
    for (let i = 0; i < 100 && size > 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      size = (w.statsReport().pool as { io: { size: number } }).io.size;
    }
    assert.equal(size, 2, 'back to min once idle for the keepalive (8 -> 4 -> 2)');
    assert.equal(await (await held.delay()).get({ timeout: '5s' }), 1, 'still serving');
  } finally {
    release();
    await w.stop(1000);
    await app.close();
    resetMemoryBroker(broker);
  }
});

test('the code example of docs/guide/operations.md runs as written', async () => {
  const guide = await readFile(new URL('../../../docs/guide/operations.md', import.meta.url), 'utf8');
  const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  assert.equal(blocks.length, 1);
  const s = setup();
  const alpha = s.app.worker({ name: 'alpha', logger: silentLogger, concurrency: 4, scheduler: false });
  const lines: unknown[][] = [];
  const console = { log: (...a: unknown[]) => lines.push(a), error: (...a: unknown[]) => lines.push(['error', ...a]) };
  try {
    await alpha.start();
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...a: string[]) => (...v: unknown[]) => Promise<void>;
    // The snippet is plain JavaScript as well as TypeScript.
    await new AsyncFunction('app', 'console', blocks[0] as string)(s.app, console);
    assert.deepEqual(lines, [['alpha', { io: { size: 4, running: 0, held: 4 }, cpu: null, autoscale: null }]]);
  } finally {
    await alpha.stop(1000);
    await s.close();
  }
});

test('inspect reserved lists a task received and not started yet; active lists it once it runs', async () => {
  const s = setup();
  try {
    await s.w1.start();
    // A keyed task is checked against the result store before it runs: hold that lookup.
    const backend = await s.app.resultBackend();
    const lookup = backend.getEntry.bind(backend);
    let releaseLookup!: () => void;
    const held = new Promise<void>((r) => (releaseLookup = r));
    backend.getEntry = async (id) => {
      await held;
      return lookup(id);
    };
    const r = await s.quick.applyAsync([4], { idempotencyKey: 'rc-keyed-1' });
    let reserved: Array<{ id: string; name: string; args: string }> = [];
    for (let i = 0; i < 100 && reserved.length === 0; i++) {
      const replies = await s.app.control.inspect({ destination: ['w1'] }).reserved();
      reserved = replies[0]?.ok ? replies[0].result : [];
      if (reserved.length === 0) await new Promise((res) => setTimeout(res, 10));
    }
    assert.deepEqual(reserved.map((t) => [t.id, t.name, t.args]), [['rc-keyed-1', 'rc.quick', '[4]']]);
    const active = await s.app.control.inspect({ destination: ['w1'] }).active();
    assert.deepEqual(active[0]?.ok && active[0].result, [], 'not running yet');
    releaseLookup();
    assert.equal(await r.get({ timeout: '5s' }), 8);
    const after = await s.app.control.inspect({ destination: ['w1'] }).reserved();
    assert.deepEqual(after[0]?.ok && after[0].result, [], 'once it ran it is not reserved again, even while it settles');
  } finally {
    await s.close();
  }
});

test('inspect scheduled: the scheduler leader lists the delayed tasks, a node without scheduler none', async () => {
  const s = setup();
  const leader = s.app.worker({ name: 'leader', logger: silentLogger, concurrency: 2 });
  try {
    await s.w1.start();
    await leader.start();
    const r = await s.quick.applyAsync([1], { countdown: '60s' });
    let entries: Array<{ id: string; queue: string }> = [];
    for (let i = 0; i < 100 && entries.length === 0; i++) {
      const replies = await s.app.control.inspect().scheduled();
      const mine = replies.find((x) => x.worker === 'leader');
      entries = mine?.ok && mine.result.leading ? mine.result.entries : [];
      if (entries.length === 0) await new Promise((res) => setTimeout(res, 20));
    }
    assert.deepEqual(entries.map((e) => [e.id, e.queue]), [[r.id, 'default']]);
    const w1 = (await s.app.control.inspect({ destination: ['w1'] }).scheduled())[0];
    assert.deepEqual(w1?.ok && w1.result, { leading: false, pending: 0, entries: [] });
  } finally {
    await leader.stop(1000);
    await s.close();
  }
});
