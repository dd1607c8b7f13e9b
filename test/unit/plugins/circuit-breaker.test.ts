/** The circuit breaker on the embedded transport: opens, defers, half-opens, closes; pauses a queue. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { type CircuitChange, circuitBreaker } from '../../../plugins/circuit-breaker/index.ts';
import { type App, createApp, isTaskError } from '../../../src/index.ts';
import { silentLogger } from '../../../src/testing.ts';
import { until } from '../../helpers/failure-scenarios.ts';

const apps: App[] = [];
after(async () => {
  for (const a of apps) await a.close();
});
const newApp = () => {
  const a = createApp({ name: `cb-${randomUUID().slice(0, 8)}`, broker: `memory://cb-${randomUUID()}` });
  apps.push(a);
  return a;
};

test('options are checked', () => {
  assert.throws(() => circuitBreaker({ failureThreshold: 0 }), /failureThreshold \}\) must be a positive integer/);
  assert.throws(() => circuitBreaker({ halfOpenAfter: 'soon' }), /halfOpenAfter \}\) must be a duration/);
  assert.throws(() => circuitBreaker({ scope: 'global' as never }), /scope \}\) must be 'local' or 'cluster'/);
});

test('closed -> open after the threshold; while open tasks are deferred (not run, not failed, no retry); half-open trial success closes it', async () => {
  const app = newApp();
  const changes: CircuitChange[] = [];
  const breaker = circuitBreaker({ failureThreshold: 3, halfOpenAfter: '1200ms', onStateChange: (c) => changes.push(c) });
  app.use(breaker);
  let down = true;
  const runs: number[] = [];
  const call = app.task('dep.call', async (ctx, n: number) => {
    runs.push(n);
    if (down) throw new Error('dependency down');
    return { n, retries: ctx.retries };
  }, { deadLetter: false });
  const w = app.worker({ concurrency: 4, logger: silentLogger });
  await w.start();
  const events: string[] = [];
  const stopEvents = await app.events.subscribe((e) => events.push(`${String(e.from)}->${String(e.to)}`), { types: ['circuit-changed'] });
  try {
    for (let i = 0; i < 3; i++) await (await call.delay(i)).get({ timeout: '5s' }).catch((e: unknown) => assert.ok(isTaskError(e)));
    assert.equal((await breaker.state('dep.call')).state, 'open');
    down = false;
    const openedAt = Date.now();
    const r = await call.delay(99);
    const v = await r.get({ timeout: '10s' });
    assert.equal(v.retries, 0, 'no retry was counted while it waited');
    assert.ok(Date.now() - openedAt >= 1000, 'it ran only once the circuit let a trial through');
    assert.deepEqual(runs, [0, 1, 2, 99], 'it was not run while the circuit was open');
    assert.equal((await breaker.state('dep.call')).state, 'closed');
    assert.deepEqual(
      changes.map((c) => `${c.from}->${c.to}`),
      ['closed->open', 'open->half-open', 'half-open->closed'],
    );
    const opened = changes[0];
    assert.equal((opened?.halfOpenAt ?? 0) - (opened?.at ?? 0), 1200, 'an opening is dated when it happened: halfOpenAt is exactly halfOpenAfter later');
    await until(() => events.length === 3, 2000, 'circuit-changed events');
    assert.deepEqual(events, ['closed->open', 'open->half-open', 'half-open->closed'], 'each change is a worker event');
  } finally {
    stopEvents();
    await w.stop();
  }
});

test('a failed trial reopens the circuit for another halfOpenAfter', async () => {
  const app = newApp();
  const changes: string[] = [];
  const breaker = circuitBreaker({ failureThreshold: 1, halfOpenAfter: '500ms', onStateChange: (c) => changes.push(`${c.from}->${c.to}`) });
  app.use(breaker);
  const call = app.task('dep.call', async () => {
    throw new Error('still down');
  }, { deadLetter: false });
  const w = app.worker({ concurrency: 2, logger: silentLogger });
  await w.start();
  try {
    await (await call.delay()).get({ timeout: '5s' }).catch(() => undefined);
    await (await call.delay()).get({ timeout: '5s' }).catch(() => undefined);
    assert.deepEqual(changes, ['closed->open', 'open->half-open', 'half-open->open']);
  } finally {
    await w.stop();
  }
});

test('a half-open trial that ends in an error isFailure does not count hands the trial back: the next call closes the circuit', async () => {
  const app = newApp();
  const changes: string[] = [];
  class InvalidNumber extends Error {}
  const breaker = circuitBreaker({
    failureThreshold: 1,
    halfOpenAfter: '300ms',
    isFailure: (err) => !(err instanceof InvalidNumber),
    onStateChange: (c) => changes.push(`${c.from}->${c.to}`),
  });
  app.use(breaker);
  let down = true;
  const send = app.task('sms.send', async (_ctx, to: string) => {
    if (to === 'bad') throw new InvalidNumber(`${to} is not a phone number`);
    if (down) throw new Error('gateway down');
    return `sent to ${to}`;
  }, { deadLetter: false });
  const w = app.worker({ concurrency: 1, logger: silentLogger });
  await w.start();
  try {
    await (await send.delay('+1')).get({ timeout: '5s' }).catch(() => undefined);
    down = false;
    // The first call after halfOpenAfter is the trial; it fails with a non-counted error.
    await new Promise((r) => setTimeout(r, 350));
    await assert.rejects((await send.delay('bad')).get({ timeout: '5s' }), (e: unknown) => isTaskError(e) && e.remote.name === 'Error');
    assert.equal((await breaker.state('sms.send')).trials, 0, 'the trial was handed back');
    assert.equal(await (await send.delay('+2')).get({ timeout: '5s' }), 'sent to +2');
    assert.deepEqual(changes, ['closed->open', 'open->half-open', 'half-open->closed']);
  } finally {
    await w.stop();
  }
});

test('a trial that never reports back (its worker died) stops counting after halfOpenAfter', async () => {
  const app = newApp();
  const breaker = circuitBreaker({ failureThreshold: 1, halfOpenAfter: '300ms' });
  app.use(breaker);
  let mode: 'fail' | 'hang' | 'ok' = 'fail';
  const release: Array<() => void> = [];
  const call = app.task('dep.call', async () => {
    if (mode === 'fail') throw new Error('down');
    if (mode === 'hang') await new Promise<void>((r) => release.push(r));
    return 'ok';
  }, { deadLetter: false });
  const w = app.worker({ concurrency: 2, logger: silentLogger });
  await w.start();
  try {
    await (await call.delay()).get({ timeout: '5s' }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 350));
    mode = 'hang';
    await call.delay(); // the trial: runs and never answers (as if its worker had died)
    await until(async () => (await breaker.state('dep.call')).trials === 1);
    mode = 'ok';
    // Within halfOpenAfter of the lost trial the next call waits; after it, it becomes the trial and closes the circuit.
    assert.equal(await (await call.delay()).get({ timeout: '5s' }), 'ok');
    assert.equal((await breaker.state('dep.call')).state, 'closed');
  } finally {
    for (const r of release) r();
    await w.stop();
  }
});

test('a queue whose every task is behind an open circuit is not fetched from until half-open', async () => {
  const app = newApp();
  const breaker = circuitBreaker({ failureThreshold: 1, halfOpenAfter: '1500ms', halfOpenMaxCalls: 1 });
  app.use(breaker);
  let down = true;
  const call = app.task('dep.call', async (_c, n: number) => {
    if (down) throw new Error('down');
    return n;
  }, { deadLetter: false });
  const w = app.worker({ concurrency: 4, logger: silentLogger });
  await w.start();
  try {
    await (await call.delay(-1)).get({ timeout: '5s' }).catch(() => undefined);
    await until(async () => (await breaker.state('dep.call')).state === 'open', 2000, 'open');
    down = false;
    await new Promise((r) => setTimeout(r, 50));
    const before = w.stats().returned;
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => call.delay(i)));
    await new Promise((r) => setTimeout(r, 600));
    const deferred = w.stats().returned - before;
    assert.ok(deferred <= 4, `at most one pull's worth (4 slots) was fetched and deferred while paused, not ${deferred} of 50`);
    const values = await Promise.all(rs.map((r) => r.get({ timeout: '15s' })));
    assert.deepEqual(
      values,
      Array.from({ length: 50 }, (_, i) => i),
    );
  } finally {
    await w.stop();
  }
});
