import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isClosedError } from '../../../src/errors.ts';
import { deferred } from '../../../src/util/deferred.ts';
import { Supervisor } from '../../../src/actors/kernel/index.ts';
import type { ActorContext, StopReason, SupervisorOptions } from '../../../src/actors/kernel/index.ts';
import { EventLog, flush, track } from './helpers.ts';

function root(log: EventLog, options: SupervisorOptions = {}): Supervisor {
  return new Supervisor('root', {
    backoff: { initialMs: 1, maxMs: 1 },
    onEvent: log.onEvent,
    onFatal: (err) => assert.fail(err),
    ...options,
  });
}

describe('actors', { timeout: 2000 }, () => {
  test('processes messages one at a time, in order', async () => {
    const log = new EventLog();
    const sup = root(log);
    let active = 0;
    let maxActive = 0;
    const seen: number[] = [];
    const done = deferred();
    const ref = sup.spawn<number>('worker', () => ({
      async receive(n) {
        maxActive = Math.max(maxActive, ++active);
        for (let i = 0; i < (n * 7) % 4; i++) await flush(); // uneven handler durations
        seen.push(n);
        active--;
        if (n === 19) done.resolve();
      },
    }));
    for (let i = 0; i < 20; i++) ref.tell(i);
    await done.promise;
    assert.equal(maxActive, 1);
    assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => i));
    await sup.stop();
  });

  test('moves starting -> running -> stopped; a stopped actor refuses messages', async () => {
    const log = new EventLog();
    const sup = root(log);
    const gate = deferred();
    let ctx: ActorContext<string> | undefined;
    const got: string[] = [];
    const ref = sup.spawn<string>('a', () => ({
      async start(c) {
        ctx = c;
        await gate.promise;
      },
      receive: (m) => void got.push(m),
    }));
    assert.equal(ref.state, 'starting');
    ref.tell('early'); // queued while starting
    gate.resolve();
    await log.until('child-started', 'a');
    assert.equal(ref.state, 'running');
    assert.equal(ctx?.name, 'a');
    assert.equal(ctx?.self, ref);
    assert.equal(sup.child('a'), ref);
    await sup.stop();
    assert.deepEqual(got, ['early']);
    assert.equal(ref.state, 'stopped');
    assert.equal(ctx?.signal.aborted, true);
    assert.throws(() => ref.tell('late'), isClosedError);
    assert.equal(ref.tryTell('late'), false);
    await assert.rejects(ref.send('late'), isClosedError);
  });

  test('a crash in receive restarts a fresh behaviour; the crashing message is not redelivered', async () => {
    const log = new EventLog();
    const sup = root(log);
    let created = 0;
    const starts: number[] = [];
    const stops: [number, StopReason, boolean][] = [];
    const received: [number, string][] = [];
    const done = deferred();
    const ref = sup.spawn<string>('w', () => {
      const id = ++created;
      return {
        start: () => void starts.push(id),
        receive(m) {
          if (m === 'boom') throw new Error('boom');
          received.push([id, m]);
          if (m === 'last') done.resolve();
        },
        stop: (ctx, reason) => void stops.push([id, reason, ctx.signal.aborted]),
      };
    });
    for (const m of ['a', 'boom', 'b', 'last']) ref.tell(m);
    await done.promise;
    assert.deepEqual(received, [
      [1, 'a'],
      [2, 'b'],
      [2, 'last'],
    ]);
    assert.deepEqual(starts, [1, 2]);
    assert.deepEqual(stops, [[1, 'crash', true]]);
    const [crash] = log.of('child-crashed', 'w');
    assert.equal((crash?.error as Error).message, 'boom');
    assert.equal(log.of('child-restarted', 'w').length, 1);
    await sup.stop();
    assert.deepEqual(stops.at(-1), [2, 'shutdown', true]);
  });

  test('ctx.fail from a background loop crashes and restarts the actor', async () => {
    const log = new EventLog();
    const sup = root(log);
    const triggers: ReturnType<typeof deferred>[] = [];
    const signals: AbortSignal[] = [];
    const stops: StopReason[] = [];
    const received: [number, string][] = [];
    const ref = sup.spawn<string>('poller', () => {
      const id = triggers.length + 1;
      return {
        start(ctx) {
          const trigger = deferred();
          triggers.push(trigger);
          signals.push(ctx.signal);
          void (async () => {
            try {
              await trigger.promise; // stands in for a poll loop that eventually breaks
            } catch (err) {
              ctx.fail(err);
            }
          })();
        },
        receive: (m) => void received.push([id, m]),
        stop: (_ctx, reason) => void stops.push(reason),
      };
    });
    await log.until('child-started', 'poller');
    triggers[0]?.reject(new Error('connection lost'));
    await log.until('child-started', 'poller', 2);
    assert.equal(triggers.length, 2);
    assert.equal(signals[0]?.aborted, true);
    assert.equal((signals[0]?.reason as Error).message, 'connection lost');
    assert.equal(signals[1]?.aborted, false);
    assert.deepEqual(stops, ['crash']);
    ref.tell('after');
    await sup.stop();
    assert.deepEqual(received, [[2, 'after']]);
  });

  test('messages sent while the actor restarts are kept and processed afterwards', async () => {
    const log = new EventLog();
    const sup = root(log, { backoff: { initialMs: 20, maxMs: 20 } });
    const received: [number, string][] = [];
    let created = 0;
    const done = deferred();
    const ref = sup.spawn<string>('w', () => {
      const id = ++created;
      return {
        receive(m) {
          if (m === 'boom') throw new Error('boom');
          received.push([id, m]);
          if (m === 'k2') done.resolve();
        },
      };
    });
    ref.tell('boom');
    await log.until('child-crashed', 'w');
    assert.equal(ref.state, 'failed');
    ref.tell('k1');
    await ref.send('k2');
    await done.promise;
    assert.deepEqual(received, [
      [2, 'k1'],
      [2, 'k2'],
    ]);
    await sup.stop();
  });

  test('a throwing start() or factory is a crash and is restarted', async () => {
    const log = new EventLog();
    const sup = root(log);
    let calls = 0;
    sup.spawn<string>('flaky', () => {
      calls++;
      if (calls === 1) throw new Error('factory broke');
      return {
        start() {
          if (calls === 2) throw new Error('start broke');
        },
        receive() {},
      };
    });
    await log.until('child-started', 'flaky');
    assert.equal(calls, 3);
    assert.deepEqual(
      log.of('child-crashed', 'flaky').map((e) => (e.error as Error).message),
      ['factory broke', 'start broke'],
    );
    await sup.stop();
  });

  test('an error thrown by stop() is reported and does not block the shutdown', async () => {
    const log = new EventLog();
    const sup = root(log);
    const ref = sup.spawn<string>('messy', () => ({
      receive() {},
      stop() {
        throw new Error('cleanup broke');
      },
    }));
    await log.until('child-started', 'messy');
    await sup.stop();
    assert.equal(ref.state, 'stopped');
    const [failed] = log.of('child-stop-failed', 'messy');
    assert.equal((failed?.error as Error).message, 'cleanup broke');
  });

  test('send applies backpressure when the mailbox is full', async () => {
    const log = new EventLog();
    const sup = root(log);
    const entered = deferred();
    const gate = deferred();
    const seen: number[] = [];
    const ref = sup.spawn<number>(
      'slow',
      () => ({
        async receive(n) {
          if (n === 1) {
            entered.resolve();
            await gate.promise;
          }
          seen.push(n);
        },
      }),
      { mailboxCapacity: 1 },
    );
    ref.tell(1);
    await entered.promise; // 1 is in flight, the mailbox is empty again
    ref.tell(2);
    assert.equal(ref.tryTell(99), false);
    const third = track(ref.send(3));
    await flush();
    assert.equal(third.settled, false, 'send must wait for room');
    gate.resolve();
    await third.promise;
    await sup.stop();
    assert.deepEqual(seen, [1, 2, 3]); // stop drains what was queued
  });
});
