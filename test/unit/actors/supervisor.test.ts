import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isClosedError, isEscalationError, isInvalidArgumentError } from '../../../src/errors.ts';
import type { EscalationError } from '../../../src/errors.ts';
import { deferred, sleep } from '../../../src/util/deferred.ts';
import {
  backoffDelayMs,
  DEFAULT_SUPERVISOR_OPTIONS,
  resolveSupervisorOptions,
  Supervisor,
} from '../../../src/actors/kernel/index.ts';
import type { ActorBehavior, StopReason, SupervisorOptions } from '../../../src/actors/kernel/index.ts';
import { EventLog, flush, track } from './helpers.ts';

const fast = { initialMs: 1, maxMs: 1 };

/** An error matcher: InvalidArgumentError whose message names `field`. */
function invalid(field: string) {
  return (err: unknown): boolean => isInvalidArgumentError(err) && (err as Error).message.includes(field);
}

describe('supervisor options', () => {
  test('defaults', () => {
    const o = resolveSupervisorOptions();
    assert.equal(o.maxRestarts, 5);
    assert.equal(o.withinMs, 10_000);
    assert.deepEqual(o.backoff, { initialMs: 100, maxMs: 5_000, factor: 2 });
    assert.equal(o.onFatal, DEFAULT_SUPERVISOR_OPTIONS.onFatal);
    assert.deepEqual(resolveSupervisorOptions({ backoff: { initialMs: 50 } }).backoff, { initialMs: 50, maxMs: 5_000, factor: 2 });
  });

  test('maxRestarts must be a non-negative integer', () => {
    for (const maxRestarts of [-1, 1.5, Number.NaN]) {
      assert.throws(() => resolveSupervisorOptions({ maxRestarts }), invalid('options.maxRestarts'));
    }
    assert.equal(resolveSupervisorOptions({ maxRestarts: 0 }).maxRestarts, 0);
  });

  test('withinMs must be a positive number', () => {
    for (const withinMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => resolveSupervisorOptions({ withinMs }), invalid('options.withinMs'));
    }
  });

  test('backoff.initialMs must be a non-negative number', () => {
    for (const initialMs of [-1, Number.NaN]) {
      assert.throws(() => resolveSupervisorOptions({ backoff: { initialMs } }), invalid('options.backoff.initialMs'));
    }
  });

  test('backoff.maxMs must be a number >= initialMs', () => {
    assert.throws(() => resolveSupervisorOptions({ backoff: { initialMs: 10, maxMs: 5 } }), invalid('options.backoff.maxMs'));
    assert.throws(() => resolveSupervisorOptions({ backoff: { maxMs: Number.NaN } }), invalid('options.backoff.maxMs'));
  });

  test('backoff.factor must be a number >= 1', () => {
    for (const factor of [0.5, 0, Number.NaN]) {
      assert.throws(() => resolveSupervisorOptions({ backoff: { factor } }), invalid('options.backoff.factor'));
    }
  });

  test('onEvent and onFatal must be functions', () => {
    const notFn = 'nope' as unknown as () => void;
    assert.throws(() => resolveSupervisorOptions({ onEvent: notFn }), invalid('options.onEvent'));
    assert.throws(() => resolveSupervisorOptions({ onFatal: notFn }), invalid('options.onFatal'));
  });

  test('the constructor and spawnSupervisor validate options; spawn validates mailboxCapacity and names', () => {
    assert.throws(() => new Supervisor('root', { maxRestarts: -1 }), invalid('options.maxRestarts'));
    const sup = new Supervisor('root');
    assert.throws(() => sup.spawnSupervisor('sub', { withinMs: 0 }), invalid('options.withinMs'));
    const behavior = (): ActorBehavior<string> => ({ receive() {} });
    assert.throws(() => sup.spawn('a', behavior, { mailboxCapacity: 0 }), invalid('options.mailboxCapacity'));
    assert.throws(() => sup.spawn('', behavior), invalid('name'));
    sup.spawn('a', behavior);
    assert.throws(() => sup.spawn('a', behavior), invalid('"a"'));
    return sup.stop();
  });

  test('backoffDelayMs grows by factor and is capped at maxMs', () => {
    const b = { initialMs: 10, maxMs: 50, factor: 2 };
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, b)), [10, 20, 40, 50, 50]);
  });
});

describe('Supervisor', { timeout: 2000 }, () => {
  test('restart back-off grows exponentially per consecutive crash', async () => {
    const log = new EventLog();
    const sup = new Supervisor('root', {
      maxRestarts: 10,
      backoff: { initialMs: 2, factor: 2, maxMs: 8 },
      onEvent: log.onEvent,
    });
    let created = 0;
    sup.spawn('w', () => {
      const id = ++created;
      return {
        start() {
          if (id <= 4) throw new Error(`crash ${id}`);
        },
        receive() {},
      };
    });
    await log.until('child-started', 'w');
    const crashes = log.of('child-crashed', 'w');
    const restarts = log.of('child-restarted', 'w');
    assert.deepEqual(crashes.map((e) => e.delayMs), [2, 4, 8, 8]);
    assert.deepEqual(restarts.map((e) => [e.attempt, e.delayMs]), [[1, 2], [2, 4], [3, 8], [4, 8]]);
    restarts.forEach((r, i) => {
      const crash = crashes[i];
      assert.ok(crash && log.timeOf(r) - log.timeOf(crash) >= r.delayMs - 1, `restart ${i + 1} waited its delay`);
    });
    await sup.stop();
  });

  test('back-off resets after the child ran withinMs without crashing', async () => {
    const log = new EventLog();
    const sup = new Supervisor('root', {
      maxRestarts: 10,
      withinMs: 60,
      backoff: { initialMs: 2, factor: 2, maxMs: 100 },
      onEvent: log.onEvent,
    });
    const ref = sup.spawn<string>('w', () => ({
      receive(m) {
        if (m === 'boom') throw new Error('boom');
      },
    }));
    ref.tell('boom');
    await log.until('child-restarted', 'w', 1);
    ref.tell('boom');
    await log.until('child-restarted', 'w', 2);
    await sleep(70); // the feature under test is elapsed time: run longer than withinMs
    ref.tell('boom');
    await log.until('child-restarted', 'w', 3);
    assert.deepEqual(log.of('child-crashed', 'w').map((e) => [e.attempt, e.delayMs]), [[1, 2], [2, 4], [1, 2]]);
    await sup.stop();
  });

  test('exceeding restart intensity escalates to the parent, which restarts the child supervisor', async () => {
    const log = new EventLog();
    const root = new Supervisor('root', { backoff: fast, onEvent: log.onEvent, onFatal: (e) => assert.fail(e) });
    const sub = root.spawnSupervisor('sub', { maxRestarts: 2, withinMs: 5_000, backoff: fast });
    let created = 0;
    let siblingCreated = 0;
    const stops: string[] = [];
    const received: [number, string][] = [];
    const done = deferred();
    const sibling = sub.spawn('sibling', () => {
      siblingCreated++;
      return { receive() {}, stop: (_ctx, reason) => void stops.push(`sibling:${reason}`) };
    });
    const w = sub.spawn<string>('w', () => {
      const id = ++created;
      return {
        start() {
          if (id <= 3) throw new Error(`crash ${id}`);
        },
        receive(m) {
          received.push([id, m]);
          if (m === 'hello') done.resolve();
        },
      };
    });

    const escalated = await log.until('escalated', 'w');
    assert.equal(escalated.supervisor, 'sub');
    assert.ok(isEscalationError(escalated.error));
    assert.equal((escalated.error.cause as Error).message, 'crash 3');
    assert.equal(sub.state, 'failed');
    assert.deepEqual(stops, ['sibling:shutdown']);
    w.tell('kept'); // the mailbox survives the subtree restart

    const crashed = await log.until('child-crashed', 'sub');
    assert.equal(crashed.supervisor, 'root');
    assert.equal(crashed.error, escalated.error);
    await log.until('child-restarted', 'sub');
    await log.until('child-started', 'w');
    assert.equal(sub.state, 'running');
    assert.equal(w.state, 'running');
    assert.equal(created, 4);
    assert.equal(siblingCreated, 2, 'the restart re-ran every child factory');
    assert.equal(sibling.state, 'running');
    w.tell('hello');
    await done.promise;
    assert.deepEqual(received, [
      [4, 'kept'],
      [4, 'hello'],
    ]);
    await root.stop();
    assert.equal(sub.state, 'stopped');
    assert.equal(w.state, 'stopped');
  });

  test('a root that exceeds its intensity stops its children and calls onFatal with EscalationError', async () => {
    const log = new EventLog();
    const fatal = deferred<EscalationError>();
    const sup = new Supervisor('root', { maxRestarts: 1, backoff: fast, onEvent: log.onEvent, onFatal: fatal.resolve });
    const stops: string[] = [];
    const a = sup.spawn<string>('a', () => ({ receive() {}, stop: (_c, r) => void stops.push(`a:${r}`) }));
    sup.spawn('b', () => ({
      start() {
        throw new Error('always');
      },
      receive() {},
    }));
    const err = await fatal.promise;
    assert.ok(isEscalationError(err));
    assert.equal(err.code, 'E_ESCALATED');
    assert.equal((err.cause as Error).message, 'always');
    assert.equal(log.of('child-crashed', 'b').length, 2, 'one restart allowed, the second crash is one too many');
    assert.equal(log.of('child-restarted', 'b').length, 1);
    assert.equal(sup.state, 'failed');
    assert.equal(a.state, 'stopped');
    assert.deepEqual(stops, ['a:shutdown']);
    assert.throws(() => a.tell('x'), isClosedError);
    assert.throws(() => sup.spawn('c', () => ({ receive() {} })), isClosedError);
  });

  test('maxRestarts 0 escalates on the first crash', async () => {
    const fatal = deferred<EscalationError>();
    const sup = new Supervisor('root', { maxRestarts: 0, onFatal: fatal.resolve });
    const ref = sup.spawn<string>('w', () => ({
      receive() {
        throw new Error('first');
      },
    }));
    ref.tell('go');
    assert.equal(((await fatal.promise).cause as Error).message, 'first');
  });

  test('stop is graceful: reverse start order, in-flight and queued messages finish first', async () => {
    const log = new EventLog();
    const sup = new Supervisor('root', { onEvent: log.onEvent });
    const order: string[] = [];
    const entered = deferred();
    const gate = deferred();
    const behavior =
      (name: string) =>
      (): ActorBehavior<string> => ({
        async receive(m) {
          if (m === 'slow') {
            entered.resolve();
            await gate.promise;
          }
          order.push(`${name}:${m}`);
        },
        stop: (_ctx, reason: StopReason) => void order.push(`${name}:stop:${reason}`),
      });
    const a = sup.spawn('a', behavior('a'));
    const b = sup.spawn('b', behavior('b'));
    const c = sup.spawn('c', behavior('c'));
    b.tell('slow');
    b.tell('queued');
    await entered.promise;
    const stopping = track(sup.stop());
    await flush();
    assert.equal(sup.state, 'draining');
    assert.equal(c.state, 'stopped');
    assert.equal(b.state, 'draining');
    assert.equal(a.state, 'running');
    assert.equal(stopping.settled, false, 'stop waits for the in-flight message');
    assert.throws(() => b.tell('late'), isClosedError);
    gate.resolve();
    await stopping.promise;
    assert.deepEqual(order, ['c:stop:shutdown', 'b:slow', 'b:queued', 'b:stop:shutdown', 'a:stop:shutdown']);
    assert.deepEqual(log.of('child-stopped').map((e) => e.child), ['c', 'b', 'a']);
    assert.equal(sup.state, 'stopped');
    await sup.stop(); // idempotent
  });

  test('stop cancels a pending restart', async () => {
    const log = new EventLog();
    const sup = new Supervisor('root', { backoff: { initialMs: 30, maxMs: 30 }, onEvent: log.onEvent });
    let created = 0;
    const ref = sup.spawn<string>('w', () => {
      created++;
      return {
        receive() {
          throw new Error('boom');
        },
      };
    });
    ref.tell('go');
    await log.until('child-crashed', 'w');
    await sup.stop();
    assert.equal(ref.state, 'stopped');
    await sleep(40); // past the back-off: a leaked timer would restart the child now
    assert.equal(created, 1);
    assert.equal(log.of('child-restarted').length, 0);
  });

  test('child() finds actor children; nested supervisors stop with their parent', async () => {
    const root = new Supervisor('root');
    const sub = root.spawnSupervisor('sub', {});
    const leaf = sub.spawn('leaf', (): ActorBehavior<number> => ({ receive() {} }));
    const top = root.spawn('top', (): ActorBehavior<number> => ({ receive() {} }));
    assert.equal(root.child('top'), top);
    assert.equal(root.child('sub'), undefined);
    assert.equal(root.child('missing'), undefined);
    assert.equal(sub.child('leaf'), leaf);
    await root.stop();
    assert.equal(sub.state, 'stopped');
    assert.equal(leaf.state, 'stopped');
    assert.throws(() => root.spawnSupervisor('late', {} satisfies SupervisorOptions), isClosedError);
  });
});

test('stopChild stops one actor for good and frees its name', async () => {
  const root = new Supervisor('root');
  const stops: string[] = [];
  root.spawn('a', () => ({ receive() {}, stop: () => void stops.push('a') }));
  root.spawn('b', () => ({ receive() {}, stop: () => void stops.push('b') }));
  await new Promise((r) => setImmediate(r));
  assert.equal(await root.stopChild('a'), true);
  assert.deepEqual(stops, ['a']);
  assert.equal(root.child('a'), undefined);
  assert.equal(await root.stopChild('a'), false);
  root.spawn('a', () => ({ receive() {} }));
  assert.ok(root.child('a'), 'the name can be used again');
  await root.stop();
  assert.deepEqual(stops, ['a', 'b']);
});
