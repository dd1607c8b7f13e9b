import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import { describe, test } from 'node:test';
import { type WorkerOptions, parseAutoscale, resolveWorkerOptions } from '../../../src/actors/worker-options.ts';
import { type AppOptions, queueSettingsOf, resolveAppOptions } from '../../../src/app/app-options.ts';
import { DEFAULT_RETRY_POLICY } from '../../../src/execution/retry-policy.ts';
import { createApp } from '../../../src/app/create-app.ts';
import { type ApplyOptions, type TaskOptions, resolveApplyOptions, resolveTaskOptions } from '../../../src/app/task-options.ts';
import { isInvalidArgumentError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/testing.ts';

/** Assert that `fn` throws an InvalidArgumentError whose message names `option`. */
function assertInvalid(fn: () => unknown, option: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isInvalidArgumentError(err), `expected an InvalidArgumentError, got ${String(err)}`);
    assert.equal(err.code, 'E_INVALID_ARGUMENT');
    if (typeof option === 'string') assert.ok(err.message.includes(option), `"${err.message}" names ${option}`);
    else assert.match(err.message, option);
    return true;
  });
}

const app = (o: unknown) => () => resolveAppOptions(o as AppOptions);
const task = (o: unknown) => () => resolveTaskOptions(o as TaskOptions, 'default');
const apply = (o: unknown) => () => resolveApplyOptions(o as ApplyOptions, 1_000);
const worker = (o: unknown) => () => resolveWorkerOptions(o as WorkerOptions, 'default');

/** Unique app name per test: task registries are process-global per app name. */
const appName = () => `t-${randomUUID()}`;

describe('resolveAppOptions', () => {
  test('defaults', () => {
    assert.deepEqual(resolveAppOptions(), {
      name: 'celeriac',
      broker: 'memory://',
      resultBackend: 'broker',
      serializer: 'msgpack',
      defaultQueue: 'default',
      resultExpiresMs: 86_400_000,
      maxPayloadBytes: 1024 * 1024,
      maxResultBytes: 64 * 1024 * 1024,
      maxQueuedTasks: 1_000_000,
      maxQueuedBytes: 1024 ** 3,
      ackWaitMs: 30_000,
      maxAckPending: 10_000,
      publishTimeoutMs: 30_000,
      duplicateWindowMs: 120_000,
      trackStarted: false,
      maxDeliver: 10,
      maxCrashes: 2,
      queues: {},
      revokeExpiresMs: 86_400_000,
      maxDeadLetters: 1_000_000,
      updateBrokerConfig: true,
      sendSentEvents: false,
      nats: { auth: 'none' },
      streamReplicas: 1,
      security: null,
    });
    assert.deepEqual(resolveAppOptions({}), resolveAppOptions());
  });

  test('given values are kept, durations become ms', () => {
    const r = resolveAppOptions({
      name: 'shop_1',
      broker: 'nats://a:4222,b:4222',
      resultBackend: 'memory',
      serializer: 'json',
      defaultQueue: 'high',
      resultExpires: '1h',
      maxPayloadBytes: 64 * 1024 * 1024,
      maxQueuedTasks: 5,
      maxQueuedBytes: 1000,
      ackWait: '1s',
      maxAckPending: 7,
      publishTimeout: 250,
      duplicateWindow: '2m',
      trackStarted: true,
      maxDeliver: 4,
      maxCrashes: 3,
      queues: { video: { ackWait: '5m' }, mail: { maxDeliver: 20 } },
      revokeExpires: '3h',
      maxDeadLetters: 50,
    });
    assert.deepEqual(r, {
      name: 'shop_1',
      broker: 'nats://a:4222,b:4222',
      resultBackend: 'memory',
      serializer: 'json',
      defaultQueue: 'high',
      resultExpiresMs: 3_600_000,
      maxPayloadBytes: 64 * 1024 * 1024,
      maxResultBytes: 64 * 1024 * 1024,
      maxQueuedTasks: 5,
      maxQueuedBytes: 1000,
      ackWaitMs: 1000,
      maxAckPending: 7,
      publishTimeoutMs: 250,
      duplicateWindowMs: 120_000,
      trackStarted: true,
      maxDeliver: 4,
      maxCrashes: 3,
      queues: { video: { ackWaitMs: 300_000, maxDeliver: 4, priorities: false }, mail: { ackWaitMs: 1000, maxDeliver: 20, priorities: false } },
      revokeExpiresMs: 10_800_000,
      maxDeadLetters: 50,
      updateBrokerConfig: true,
      sendSentEvents: false,
      nats: { auth: 'none' },
      streamReplicas: 1,
      security: null,
    });
    assert.deepEqual(queueSettingsOf(r, 'video'), { ackWaitMs: 300_000, maxDeliver: 4, priorities: false });
    assert.deepEqual(queueSettingsOf(r, 'video--hi'), { ackWaitMs: 300_000, maxDeliver: 4, priorities: false }, 'a band has its queue\'s settings');
    assert.deepEqual(queueSettingsOf(r, 'other'), { ackWaitMs: 1000, maxDeliver: 4, priorities: false });
  });

  test('options must be an object', () => assertInvalid(app(null), /options must be an object/));
  test('broker must be memory:// or nats://', () => {
    assertInvalid(app({ broker: 'redis://localhost' }), 'options.broker');
    assertInvalid(app({ broker: 'localhost:4222' }), 'options.broker');
    assertInvalid(app({ broker: 42 }), 'options.broker');
  });
  test('resultBackend must be broker or memory', () => assertInvalid(app({ resultBackend: 'redis' }), 'options.resultBackend'));
  test('serializer must be msgpack or json', () => assertInvalid(app({ serializer: 'pickle' }), 'options.serializer'));
  test('name must be a subject token', () => {
    assertInvalid(app({ name: 'my.app' }), 'options.name');
    assertInvalid(app({ name: '' }), 'options.name');
    assertInvalid(app({ name: 'a'.repeat(65) }), 'options.name');
    assertInvalid(app({ name: 'a b' }), 'options.name');
  });
  test('defaultQueue must be a subject token', () => {
    assertInvalid(app({ defaultQueue: 'q.*' }), 'options.defaultQueue');
    assertInvalid(app({ defaultQueue: '' }), 'options.defaultQueue');
  });
  test('resultExpires must be a duration', () => assertInvalid(app({ resultExpires: 'forever' }), 'options.resultExpires'));
  test('ackWait must be a duration', () => assertInvalid(app({ ackWait: 'long' }), 'options.ackWait'));
  test('ackWait must be at least 1s', () => assertInvalid(app({ ackWait: 999 }), /options\.ackWait must be at least 1s/));
  test('maxPayloadBytes must be a positive integer', () => {
    assertInvalid(app({ maxPayloadBytes: 0 }), 'options.maxPayloadBytes');
    assertInvalid(app({ maxPayloadBytes: 1.5 }), 'options.maxPayloadBytes');
    assertInvalid(app({ maxPayloadBytes: '1MB' }), 'options.maxPayloadBytes');
  });
  test('maxPayloadBytes must be at most 64 MiB', () =>
    assertInvalid(app({ maxPayloadBytes: 64 * 1024 * 1024 + 1 }), /options\.maxPayloadBytes must be at most 64 MiB/));
  test('maxQueuedTasks must be a positive integer', () => assertInvalid(app({ maxQueuedTasks: -1 }), 'options.maxQueuedTasks'));
  test('maxQueuedBytes must be a positive integer', () => assertInvalid(app({ maxQueuedBytes: 0 }), 'options.maxQueuedBytes'));
  test('maxAckPending must be a positive integer', () => assertInvalid(app({ maxAckPending: 2.5 }), 'options.maxAckPending'));
  test('publishTimeout must be a duration', () => assertInvalid(app({ publishTimeout: '-1s' }), 'options.publishTimeout'));
  test('duplicateWindow must be a duration', () => assertInvalid(app({ duplicateWindow: '10' }), 'options.duplicateWindow'));
  test('duplicateWindow must cover publishTimeout', () =>
    assertInvalid(app({ duplicateWindow: '10s', publishTimeout: '30s' }), 'options.duplicateWindow'));
  test('trackStarted must be a boolean', () => assertInvalid(app({ trackStarted: 'yes' }), 'options.trackStarted'));
  test('maxDeliver must be an integer >= 2', () => {
    assertInvalid(app({ maxDeliver: 1 }), 'options.maxDeliver');
    assertInvalid(app({ maxDeliver: 2.5 }), 'options.maxDeliver');
  });
  test('maxCrashes must be a positive integer', () => assertInvalid(app({ maxCrashes: 0 }), 'options.maxCrashes'));
  test('queues must be an object of queue options', () => {
    assertInvalid(app({ queues: [] }), 'options.queues');
    assertInvalid(app({ queues: { 'a.b': {} } }), 'options.queues key');
    assertInvalid(app({ queues: { a: { ackWait: '10ms' } } }), 'options.queues.a.ackWait');
    assertInvalid(app({ queues: { a: { maxDeliver: 1 } } }), 'options.queues.a.maxDeliver');
    assertInvalid(app({ queues: { a: { prefetch: 1 } } }), 'options.queues.a.prefetch');
    assertInvalid(app({ queues: { 'a--hi': {} } }), 'reserved for priority bands');
    assertInvalid(app({ queues: { a: { priorities: 'yes' } } }), 'options.queues.a.priorities');
  });
  test('revokeExpires must be a duration', () => assertInvalid(app({ revokeExpires: 'soon' }), 'options.revokeExpires'));
  test('maxDeadLetters must be a positive integer', () => assertInvalid(app({ maxDeadLetters: -1 }), 'options.maxDeadLetters'));
});

describe('resolveTaskOptions', () => {
  test('middleware must be an array of middleware objects with a name', () => {
    assert.throws(() => resolveTaskOptions({ middleware: {} as never }, 'q'), /task options.middleware must be an array/);
    assert.throws(() => resolveTaskOptions({ middleware: [{ name: '' }] as never }, 'q'), /middleware\[0\].name must be a non-empty string/);
    assert.throws(() => resolveTaskOptions({ middleware: [{ name: 'x', execute: 5 }] as never }, 'q'), /"x": execute must be a function/);
  });

  test('defaults take the app default queue', () => {
    const none = { retry: DEFAULT_RETRY_POLICY, timeLimitMs: null, softTimeLimitMs: null, deadLetter: true, priority: null, middleware: [] };
    assert.deepEqual(resolveTaskOptions(undefined, 'main'), { kind: 'io', queue: 'main', ignoreResult: false, ...none });
    assert.deepEqual(resolveTaskOptions({ kind: 'cpu', queue: 'heavy', ignoreResult: true }, 'main'), {
      kind: 'cpu',
      queue: 'heavy',
      ignoreResult: true,
      ...none,
    });
    const t = resolveTaskOptions({ timeLimit: '30s', softTimeLimit: '25s', deadLetter: false, retry: { maxRetries: 5, backoff: 'exponential' } }, 'main');
    assert.equal(t.timeLimitMs, 30_000);
    assert.equal(t.softTimeLimitMs, 25_000);
    assert.equal(t.deadLetter, false);
    assert.equal(t.retry.maxRetries, 5);
    assert.equal(t.retry.countdownMs, 1000, 'curves start at 1 s (Celery backoff factor)');
    assert.equal(t.retry.backoffMaxMs, 600_000);
  });
  test('softTimeLimit must be below timeLimit', () => assertInvalid(task({ timeLimit: '1s', softTimeLimit: '2s' }), 'task options.softTimeLimit'));
  test('timeLimit must be a positive duration', () => assertInvalid(task({ timeLimit: 0 }), 'task options.timeLimit'));
  test('deadLetter must be a boolean', () => assertInvalid(task({ deadLetter: 'no' }), 'task options.deadLetter'));
  test('priority must be an integer 0-9', () => assertInvalid(task({ priority: 10 }), 'task options.priority'));
  test('retry.backoff must be a known curve or a function', () => assertInvalid(task({ retry: { backoff: 'cubic' } }), 'task options.retry.backoff'));
  test('retry.maxRetries must be a non-negative integer or Infinity', () => {
    assertInvalid(task({ retry: { maxRetries: -1 } }), 'task options.retry.maxRetries');
    assert.equal(resolveTaskOptions({ retry: { maxRetries: Infinity } }, 'q').retry.maxRetries, Infinity);
  });
  test('retry.autoretryFor must be classes or predicates', () => assertInvalid(task({ retry: { autoretryFor: ['TypeError'] } }), 'task options.retry.autoretryFor[0]'));
  test('retry.jitter must be a boolean', () => assertInvalid(task({ retry: { jitter: 1 } }), 'task options.retry.jitter'));
  test('options must be an object', () => assertInvalid(task(5), /task options must be an object/));
  test('kind must be io or cpu', () => assertInvalid(task({ kind: 'gpu' }), 'task options.kind'));
  test('queue must be a subject token', () => assertInvalid(task({ queue: 'a.b' }), 'task options.queue'));
  test('ignoreResult must be a boolean', () => assertInvalid(task({ ignoreResult: 1 }), 'task options.ignoreResult'));
});

describe('resolveApplyOptions', () => {
  test('defaults', () => {
    assert.deepEqual(resolveApplyOptions(undefined, 1_000), {
      taskId: undefined,
      queue: undefined,
      priority: null,
      headers: {},
      expires: null,
      eta: null,
      ignoreResult: undefined,
      timeLimits: null,
      idempotencyKey: null,
    });
  });
  test('time limits per call are [soft, hard] in ms', () => {
    assert.deepEqual(resolveApplyOptions({ timeLimit: '2s', softTimeLimit: 1500 }).timeLimits, [1500, 2000]);
    assertInvalid(apply({ timeLimit: '1s', softTimeLimit: '1s' }), 'options.softTimeLimit');
  });
  test('idempotencyKey becomes the task id', () => {
    const r = resolveApplyOptions({ idempotencyKey: 'charge:order-42' });
    assert.equal(r.taskId, 'charge:order-42');
    assert.equal(r.idempotencyKey, 'charge:order-42');
    assertInvalid(apply({ idempotencyKey: 'a', taskId: 'b' }), 'options.idempotencyKey');
    assertInvalid(apply({ idempotencyKey: 'a b' }), 'options.idempotencyKey');
    assertInvalid(apply({ idempotencyKey: 'a', ignoreResult: true }), 'options.idempotencyKey');
  });

  test('times are epoch ms: countdown and duration expires count from now', () => {
    const r = resolveApplyOptions({ countdown: '10s', expires: '1m', priority: 9, taskId: 'id-1', queue: 'q', ignoreResult: true }, 1_000);
    assert.equal(r.eta, 11_000);
    assert.equal(r.expires, 61_000);
    assert.equal(r.priority, 9);
    assert.equal(r.taskId, 'id-1');
    assert.equal(r.queue, 'q');
    assert.equal(r.ignoreResult, true);
  });

  test('eta and expires as Dates', () => {
    const eta = new Date('2030-01-01T00:00:00Z');
    const expires = new Date('2030-01-02T00:00:00Z');
    const r = resolveApplyOptions({ eta, expires, headers: { 'x-a': 'b' } }, 1_000);
    assert.equal(r.eta, eta.getTime());
    assert.equal(r.expires, expires.getTime());
    assert.deepEqual(r.headers, { 'x-a': 'b' });
  });

  test('options must be an object', () => assertInvalid(apply('fast'), /applyAsync options must be an object/));
  test('countdown and eta are exclusive', () =>
    assertInvalid(apply({ countdown: '1s', eta: new Date() }), /countdown or eta, not both/));
  test('priority must be an integer 0-9', () => {
    assertInvalid(apply({ priority: 10 }), 'options.priority');
    assertInvalid(apply({ priority: -1 }), 'options.priority');
    assertInvalid(apply({ priority: 1.5 }), 'options.priority');
    assertInvalid(apply({ priority: '5' }), 'options.priority');
  });
  test('countdown must be a duration', () => assertInvalid(apply({ countdown: 'soon' }), 'options.countdown'));
  test('eta must be a valid Date', () => {
    assertInvalid(apply({ eta: '2030-01-01' }), 'options.eta');
    assertInvalid(apply({ eta: new Date('nope') }), 'options.eta');
  });
  test('expires must be a Date or a duration', () => {
    assertInvalid(apply({ expires: 'later' }), 'options.expires');
    assertInvalid(apply({ expires: new Date('nope') }), 'options.expires');
  });
  test('ignoreResult must be a boolean', () => assertInvalid(apply({ ignoreResult: 'no' }), 'options.ignoreResult'));
  test('taskId must be 1-200 chars of [A-Za-z0-9_.:-]', () => {
    assertInvalid(apply({ taskId: 'a/b' }), 'options.taskId');
    assertInvalid(apply({ taskId: '' }), 'options.taskId');
    assertInvalid(apply({ taskId: 'x'.repeat(201) }), 'options.taskId');
  });
  test('queue must be a subject token', () => assertInvalid(apply({ queue: 'a b' }), 'options.queue'));
  test('headers are validated', () => assertInvalid(apply({ headers: { id: 'x' } }), 'options.headers'));
});

describe('resolveWorkerOptions', () => {
  test('defaults', () => {
    assert.deepEqual(resolveWorkerOptions({}, 'main'), {
      queues: ['main'],
      concurrency: 64,
      cpuThreads: availableParallelism(),
      cpuStart: 'lazy',
      maxTasksPerThread: 0,
      maxMemoryPerThreadMb: 0,
      name: `celeriac@${hostname()}`,
      tasksModule: undefined,
      graceMs: 30_000,
      logger: undefined,
      maxRestarts: 10,
      restartWindowMs: 60_000,
      timeLimitMs: null,
      softTimeLimitMs: null,
      scheduler: true,
      schedulerLeaseMs: 3000,
      events: true,
      heartbeatMs: 2000,
      autoscale: null,
    });
  });

  test('given values are kept; %h becomes the host name', () => {
    const r = resolveWorkerOptions(
      {
        queues: ['a', 'b'],
        concurrency: 100_000,
        cpuThreads: 1,
        cpuStart: 'eager',
        name: 'w-%h-%h',
        tasksModule: 'file:///app/tasks.js',
        grace: '5s',
        logger: silentLogger,
        maxRestarts: 0,
        restartWindow: '1m',
      },
      'main',
    );
    assert.deepEqual(r, {
      queues: ['a', 'b'],
      concurrency: 100_000,
      cpuThreads: 1,
      cpuStart: 'eager',
      maxTasksPerThread: 0,
      maxMemoryPerThreadMb: 0,
      name: `w-${hostname()}-${hostname()}`,
      tasksModule: 'file:///app/tasks.js',
      graceMs: 5_000,
      logger: silentLogger,
      maxRestarts: 0,
      restartWindowMs: 60_000,
      timeLimitMs: null,
      softTimeLimitMs: null,
      scheduler: true,
      schedulerLeaseMs: 3000,
      events: true,
      heartbeatMs: 2000,
      autoscale: null,
    });
    const l = resolveWorkerOptions({ timeLimit: '2m', softTimeLimit: '1m' }, 'main');
    assert.deepEqual([l.softTimeLimitMs, l.timeLimitMs], [60_000, 120_000]);
    assertInvalid(worker({ timeLimit: '1m', softTimeLimit: '2m' }), 'worker options.softTimeLimit');
    assertInvalid(worker({ scheduler: 'yes' }), 'worker options.scheduler');
    assertInvalid(worker({ schedulerLease: '10ms' }), 'worker options.schedulerLease');
  });

  test('autoscale: { max, min? }; concurrency starts at min and must lie within; --autoscale max,min parses', () => {
    const a = resolveWorkerOptions({ autoscale: { max: 32, min: 4 } }, 'main');
    assert.deepEqual([a.autoscale, a.concurrency], [{ max: 32, min: 4, keepaliveMs: 30_000 }, 4]);
    assert.deepEqual(resolveWorkerOptions({ autoscale: { max: 8, keepalive: '5s' } }, 'main').autoscale, { max: 8, min: 1, keepaliveMs: 5000 });
    assertInvalid(worker({ autoscale: { max: 0 } }), 'worker options.autoscale.max');
    assertInvalid(worker({ autoscale: { max: 4, min: 5 } }), 'worker options.autoscale.min');
    assertInvalid(worker({ autoscale: { max: 4, min: 2 }, concurrency: 8 }), /within autoscale min-max/);
    assertInvalid(worker({ autoscale: 'x' }), 'worker options.autoscale');
    assert.deepEqual(parseAutoscale('10,3'), { max: 10, min: 3 });
    assert.deepEqual(parseAutoscale('10'), { max: 10, min: 1 });
    assertInvalid(() => parseAutoscale('3,10'), 'worker options.autoscale.min');
    assertInvalid(() => parseAutoscale('ten'), '--autoscale');
  });

  test('queues must be a non-empty array', () => {
    assertInvalid(worker({ queues: [] }), 'worker options.queues');
    assertInvalid(worker({ queues: 'default' }), 'worker options.queues');
  });
  test('each queue must be a subject token', () => assertInvalid(worker({ queues: ['ok', 'not.ok'] }), 'worker options.queues[1]'));
  test('queues must not repeat', () => assertInvalid(worker({ queues: ['a', 'b', 'a'] }), /worker options\.queues has duplicates/));
  test('concurrency must be an integer 1-100000', () => {
    assertInvalid(worker({ concurrency: 0 }), 'worker options.concurrency');
    assertInvalid(worker({ concurrency: 1.5 }), 'worker options.concurrency');
    assertInvalid(worker({ concurrency: 100_001 }), 'worker options.concurrency');
    assertInvalid(worker({ concurrency: '8' }), 'worker options.concurrency');
  });
  test('cpuThreads must be an integer 1-1024', () => {
    assertInvalid(worker({ cpuThreads: 0 }), 'worker options.cpuThreads');
    assertInvalid(worker({ cpuThreads: 1025 }), 'worker options.cpuThreads');
  });
  test("cpuStart must be 'lazy' or 'eager'", () => {
    assertInvalid(worker({ cpuStart: 'later' }), /worker options\.cpuStart must be 'lazy' or 'eager', got "later"/);
  });
  test('maxTasksPerThread must be a positive integer', () => {
    assertInvalid(worker({ maxTasksPerThread: 0 }), 'worker options.maxTasksPerThread');
    assertInvalid(worker({ maxTasksPerThread: 1.5 }), 'worker options.maxTasksPerThread');
    assert.equal(resolveWorkerOptions({ maxTasksPerThread: 100 }, 'main').maxTasksPerThread, 100);
  });
  test('maxMemoryPerThreadMb must be a number of MiB > 0', () => {
    assertInvalid(worker({ maxMemoryPerThreadMb: 0 }), 'worker options.maxMemoryPerThreadMb');
    assertInvalid(worker({ maxMemoryPerThreadMb: '200' }), 'worker options.maxMemoryPerThreadMb');
    assert.equal(resolveWorkerOptions({ maxMemoryPerThreadMb: 256 }, 'main').maxMemoryPerThreadMb, 256);
  });
  test('name must be 1-200 characters', () => {
    assertInvalid(worker({ name: '' }), 'worker options.name');
    assertInvalid(worker({ name: 'n'.repeat(201) }), 'worker options.name');
  });
  test('name must be a string', () => assertInvalid(worker({ name: 42 }), 'worker options.name'));
  test('tasksModule must be a file: URL', () => {
    assertInvalid(worker({ tasksModule: '/app/tasks.js' }), 'worker options.tasksModule');
    assertInvalid(worker({ tasksModule: 'https://x/tasks.js' }), 'worker options.tasksModule');
  });
  test('grace must be a duration', () => assertInvalid(worker({ grace: 'a while' }), 'worker options.grace'));
  test('maxRestarts must be a non-negative integer', () => {
    assertInvalid(worker({ maxRestarts: -1 }), 'worker options.maxRestarts');
    assertInvalid(worker({ maxRestarts: 0.5 }), 'worker options.maxRestarts');
  });
  test('restartWindow must be a duration', () => assertInvalid(worker({ restartWindow: '1 minute' }), 'worker options.restartWindow'));
});

describe('app.task', () => {
  test('registers tasks under valid names of up to 200 characters', () => {
    const a = createApp({ name: appName() });
    const long = 'n'.repeat(200);
    a.task('math.add', async (_ctx, x: number, y: number) => x + y);
    a.task(long, () => 1, { kind: 'cpu', queue: 'heavy' });
    assert.deepEqual(a.taskNames(), ['math.add', long].sort());
    assert.equal(a.taskKind(long), 'cpu');
    assert.equal(a.getTask(long)?.options.queue, 'heavy');
    assert.equal(a.getTask('math.add')?.options.queue, 'default');
  });

  test('rejects names with invalid characters', () => {
    const a = createApp({ name: appName() });
    assertInvalid(() => a.task('math add', () => 1), /task name must be 1-200 characters/);
    assertInvalid(() => a.task('math/add', () => 1), /task name/);
    assertInvalid(() => a.task('', () => 1), /task name/);
    assert.deepEqual(a.taskNames(), []);
  });

  test('rejects names over 200 characters', () => {
    const a = createApp({ name: appName() });
    assertInvalid(() => a.task('n'.repeat(201), () => 1), /task name must be 1-200 characters/);
  });

  test('rejects a duplicate registration and keeps the first', () => {
    const a = createApp({ name: appName() });
    const first = () => 'first';
    a.task('dup', first);
    assertInvalid(() => a.task('dup', () => 'second'), /app\.task\("dup"\): a task with this name is already registered/);
    assert.equal(a.getTask('dup')?.fn, first);
  });

  test('rejects a non-function', () => {
    const a = createApp({ name: appName() });
    assertInvalid(() => a.task('x', 'nope' as never), /fn must be a function/);
  });

  test('task options are validated', () => {
    const a = createApp({ name: appName() });
    assertInvalid(() => a.task('x', () => 1, { kind: 'gpu' as never }), 'task options.kind');
  });

  test('a task uses the app default queue', () => {
    const a = createApp({ name: appName(), defaultQueue: 'main' });
    assert.equal(a.task('x', () => 1).options.queue, 'main');
  });
});

describe('createApp', () => {
  test('createApp validates its options', () => {
    assertInvalid(() => createApp({ broker: 'amqp://x' }), 'options.broker');
  });

  test('creating an app and registering tasks opens no connection', async () => {
    // Network handles only (TCPSocketWrap, ConnectWrap, GetAddrInfoReqWrap, ...): timers and fs requests vary.
    const sockets = () => process.getActiveResourcesInfo().filter((r) => /TCP|Connect|AddrInfo|Pipe|UDP/.test(r));
    const before = sockets();
    // Port 1 has nothing listening: a connection attempt would fail or leave a socket/handle behind.
    const a = createApp({ name: appName(), broker: 'nats://127.0.0.1:1' });
    a.task('t.one', async () => 1);
    a.task('t.two', async () => 2, { queue: 'other' });
    const handle = a.asyncResult('some-id');
    assert.equal(handle.id, 'some-id');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sockets(), before);
    assert.deepEqual(a.taskNames(), ['t.one', 't.two']);
    await a.close();
  });
});

test('worker options.events and options.heartbeat are checked', async () => {
  const { resolveWorkerOptions } = await import('../../../src/actors/worker-options.ts');
  assert.throws(() => resolveWorkerOptions({ events: 'yes' as never }, 'q'), /worker options.events must be a boolean/);
  assert.throws(() => resolveWorkerOptions({ heartbeat: '10ms' }, 'q'), /heartbeat must be at least 100 ms/);
  assert.equal(resolveWorkerOptions({ heartbeat: '1s', events: false }, 'q').heartbeatMs, 1000);
});

test('options.sendSentEvents must be a boolean', async () => {
  const { resolveAppOptions } = await import('../../../src/app/app-options.ts');
  assert.throws(() => resolveAppOptions({ sendSentEvents: 1 as never }), /sendSentEvents/);
});
