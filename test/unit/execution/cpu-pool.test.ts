import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { isClosedError, isInvalidArgumentError } from '../../../src/errors.ts';
import type { SerializedError } from '../../../src/errors.ts';
import { CpuPool, DEFAULT_CPU_POOL_OPTIONS, resolveCpuPoolOptions } from '../../../src/execution/cpu-pool.ts';
import type { CpuPoolOptions } from '../../../src/execution/cpu-pool.ts';
import type { TaskContextData, TaskLogger, TaskOutcome } from '../../../src/execution/task-definition.ts';

const fixture = (name: string): string => new URL(`../../fixtures/cpu/${name}`, import.meta.url).href;
const TASKS = fixture('tasks.ts');
const APP = 'cpufix';

function ctxData(id: string, name: string): TaskContextData {
  return {
    id,
    name,
    retries: 0,
    rootId: id,
    parentId: null,
    headers: { 'x-test': '1' },
    hostname: 'test-host',
    delivery: { stream: 'memory', sequence: 1, deliveryCount: 1, redelivered: false },
    attempt: { sequence: 1, delivery: 1, token: '1.1' },
    idempotencyKey: null,
  };
}

interface LogLine {
  level: keyof TaskLogger;
  msg: string;
  fields: Record<string, unknown> | undefined;
}

/** A logger that records lines and lets a test await a given message. */
function recordingLogger(): TaskLogger & { lines: LogLine[]; next(msg: string): Promise<LogLine> } {
  const lines: LogLine[] = [];
  const waiters: Array<{ msg: string; resolve: (l: LogLine) => void }> = [];
  const line = (level: keyof TaskLogger) => (msg: string, fields?: Record<string, unknown>) => {
    const l = { level, msg, fields };
    lines.push(l);
    for (const w of waiters.filter((x) => x.msg === msg)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(l);
    }
  };
  return {
    lines,
    next: (msg) => new Promise((resolve) => waiters.push({ msg, resolve })),
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
  };
}

function failure(outcome: TaskOutcome): SerializedError {
  assert.equal(outcome.ok, false, `expected a failed outcome, got ${JSON.stringify(outcome)}`);
  return (outcome as { ok: false; error: SerializedError }).error;
}

describe('resolveCpuPoolOptions', () => {
  const valid: CpuPoolOptions = { moduleUrl: TASKS, appName: APP };
  const rejects = (options: CpuPoolOptions, field: string) =>
    assert.throws(
      () => resolveCpuPoolOptions(options),
      (err: unknown) => isInvalidArgumentError(err) && (err as Error).message.includes(`options.${field}`),
    );

  it('applies defaults', () => {
    const r = resolveCpuPoolOptions(valid);
    assert.equal(r.threads, availableParallelism());
    assert.equal(r.idleTimeoutMs, DEFAULT_CPU_POOL_OPTIONS.idleTimeoutMs);
    assert.equal(r.resourceLimits, undefined);
    assert.equal(typeof r.logger.info, 'function');
  });
  it('threads must be a positive integer', () => {
    rejects({ ...valid, threads: 0 }, 'threads');
    rejects({ ...valid, threads: 1.5 }, 'threads');
  });
  it('moduleUrl is required', () => rejects({ appName: APP }, 'moduleUrl'));
  it('moduleUrl must be a file: URL', () => {
    rejects({ ...valid, moduleUrl: './tasks.ts' }, 'moduleUrl');
    rejects({ ...valid, moduleUrl: 'https://example.com/tasks.js' }, 'moduleUrl');
  });
  it('appName must be a non-empty string', () => {
    rejects({ moduleUrl: TASKS }, 'appName');
    rejects({ ...valid, appName: '' }, 'appName');
  });
  it('idleTimeoutMs must be finite and >= 0', () => {
    rejects({ ...valid, idleTimeoutMs: -1 }, 'idleTimeoutMs');
    rejects({ ...valid, idleTimeoutMs: Number.NaN }, 'idleTimeoutMs');
  });
  it('resourceLimits must be an object', () =>
    rejects({ ...valid, resourceLimits: 5 as unknown as CpuPoolOptions['resourceLimits'] }, 'resourceLimits'));
  it('logger must have the four level methods', () =>
    rejects({ ...valid, logger: { info: () => undefined } as unknown as TaskLogger }, 'logger'));
});

describe('CpuPool', () => {
  const logger = recordingLogger();
  const pool = new CpuPool({ moduleUrl: TASKS, appName: APP, threads: 2, logger });

  before(() => pool.start());
  after(() => pool.close());

  it('starts warm threads', () => {
    assert.equal(pool.state, 'running');
    assert.deepEqual(pool.stats(), { threads: 2, started: true, busy: 0, queued: 0, recycled: 0 });
  });

  it('runs a CPU task with its arguments intact', async () => {
    const echo = { nested: [1, 'two', { three: 3 }], when: new Date(0), map: new Map([['k', 1]]), bytes: new Uint8Array([1, 2]) };
    const outcome = await pool.run('fib', [20, echo], ctxData('t-fib', 'fib'));
    assert.deepEqual(outcome, { ok: true, value: { fib: 6765, echo, taskId: 't-fib' } });
  });

  it('gives the task every data field of its context, and its functions', async () => {
    const given: TaskContextData = { ...ctxData('t-ctx', 'ctxData'), traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    const outcome = await pool.run('ctxData', [], given);
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    const value = (outcome as { ok: true; value: { data: TaskContextData; functions: string[]; aborted: boolean } }).value;
    assert.deepEqual(value.data, given);
    assert.deepEqual(value.functions, ['function', 'function', 'function', 'function']);
    assert.equal(value.aborted, false);
  });

  it('returns a thrown error with name, message, code, stack and cause', async () => {
    const error = failure(await pool.run('fail', ['bad input'], ctxData('t-fail', 'fail')));
    assert.equal(error.name, 'FixtureError');
    assert.equal(error.message, 'bad input');
    assert.equal(error.code, 'E_FIXTURE');
    assert.match(error.stack ?? '', /fixtures\/cpu\/tasks\.ts/);
    assert.equal(error.cause?.name, 'RangeError');
    assert.equal(error.cause?.message, 'inner cause');
  });

  it('delivers progress in order before resolving, and forwards log lines', async () => {
    const metas: Array<Record<string, unknown>> = [];
    const outcome = await pool.run('progress', [3], ctxData('t-prog', 'progress'), { onState: (state, m) => metas.push({ state, ...m }) });
    assert.deepEqual(outcome, { ok: true, value: 3 });
    assert.deepEqual(metas, [
      { state: 'PROGRESS', step: 1, of: 3 },
      { state: 'PROGRESS', step: 2, of: 3 },
      { state: 'PROGRESS', step: 3, of: 3 },
    ]);
    const line = logger.lines.find((l) => l.msg === 'progress done');
    assert.deepEqual(line, { level: 'info', msg: 'progress done', fields: { steps: 3, taskId: 't-prog', task: 'progress' } });
  });

  it('delivers ctx.updateState() custom states in order, and refuses a state the runtime sets inside the thread', async () => {
    const seen: Array<[string, Record<string, unknown> | null]> = [];
    const outcome = await pool.run('custom-states', [], ctxData('t-states', 'custom-states'), { onState: (state, m) => seen.push([state, m]) });
    assert.deepEqual(seen, [
      ['UPLOADING', { part: 1 }],
      ['STARTED', null],
    ]);
    assert.equal(outcome.ok, true);
    const refused = outcome.ok ? String(outcome.value) : '';
    assert.match(refused, /^E_INVALID_ARGUMENT: ctx\.updateState\(state, meta\) in task custom-states: "SUCCESS" is set by the runtime, not by a task \(return a value\)/);
  });

  it('aborts ctx.signal in the thread when the main-thread signal aborts', async () => {
    const ac = new AbortController();
    const started = logger.next('waiting for abort');
    const running = pool.run('wait-abort', [], ctxData('t-abort', 'wait-abort'), { signal: ac.signal });
    await started;
    assert.deepEqual(pool.stats(), { threads: 2, started: true, busy: 1, queued: 0, recycled: 0 });
    ac.abort(new Error('stop now'));
    assert.deepEqual(await running, { ok: true, value: { result: 'aborted', reason: 'stop now' } });
  });

  it('starts a task with an aborted signal when the signal aborted before the run', async () => {
    const outcome = await pool.run('wait-abort', [], ctxData('t-pre', 'wait-abort'), { signal: AbortSignal.abort(new Error('early')) });
    assert.deepEqual(outcome, { ok: true, value: { result: 'aborted', reason: 'early' } });
  });

  it('fails the task with WorkerLostError when its thread exits, and keeps working', async () => {
    const error = failure(await pool.run('exit', [3], ctxData('t-exit', 'exit')));
    assert.equal(error.name, 'WorkerLostError');
    assert.equal(error.code, 'E_WORKER_LOST');
    assert.match(error.message, /thread running task "exit" died \(exit code 3\)/);
    const next = await pool.run('fib', [10, null], ctxData('t-after', 'fib'));
    assert.deepEqual(next, { ok: true, value: { fib: 55, echo: null, taskId: 't-after' } });
  });

  it('fails the task with WorkerLostError on an uncaught asynchronous throw', async () => {
    const error = failure(await pool.run('async-throw', [], ctxData('t-throw', 'async-throw')));
    assert.equal(error.code, 'E_WORKER_LOST');
    assert.match(error.message, /task "async-throw" died .*boom later/);
    assert.equal(error.cause?.message, 'boom later');
  });

  it('returns E_NOT_REGISTERED for an unknown task', async () => {
    const error = failure(await pool.run('no.such.task', [], ctxData('t-unknown', 'no.such.task')));
    assert.equal(error.code, 'E_NOT_REGISTERED');
    assert.match(error.message, /no\.such\.task/);
  });

  it('turns a result that cannot be cloned into a task error', async () => {
    const error = failure(await pool.run('uncloneable', [], ctxData('t-clone', 'uncloneable')));
    assert.equal(error.name, 'DataCloneError');
    assert.match(error.message, /task "uncloneable"/);
  });
});

describe('CpuPool lifecycle', () => {
  it('start() rejects naming the URL when the module cannot be imported', async () => {
    const url = fixture('does-not-exist.ts');
    const pool = new CpuPool({ moduleUrl: url, appName: APP, threads: 1 });
    await assert.rejects(pool.start(), (err: unknown) => isInvalidArgumentError(err) && (err as Error).message.includes(url));
    assert.equal(pool.state, 'failed');
    await pool.close();
  });

  it('start() rejects naming the URL when the module registers no task for the app', async () => {
    const url = fixture('no-tasks.ts');
    const pool = new CpuPool({ moduleUrl: url, appName: APP, threads: 1 });
    await assert.rejects(
      pool.start(),
      (err: unknown) => isInvalidArgumentError(err) && (err as Error).message.includes(url) && (err as Error).message.includes(`"${APP}"`),
    );
    await pool.close();
  });

  it('run() throws ClosedError before start() and after close()', async () => {
    const pool = new CpuPool({ moduleUrl: TASKS, appName: APP, threads: 1 });
    await assert.rejects(pool.run('fib', [1, null], ctxData('t', 'fib')), isClosedError);
    await pool.close();
    assert.equal(pool.state, 'stopped');
    await assert.rejects(pool.run('fib', [1, null], ctxData('t', 'fib')), isClosedError);
  });
});

describe('CpuPool resize', () => {
  it('grows and shrinks the threads; a run in flight on the old threads finishes; bad sizes are refused', async () => {
    const pool = new CpuPool({ moduleUrl: TASKS, appName: APP, threads: 1 });
    await pool.start();
    try {
      const ctrl = new AbortController();
      // Holds a thread of the first set until aborted.
      const held = pool.run('wait-abort', [], ctxData('t-held', 'wait-abort'), { signal: ctrl.signal });
      await pool.resize(3);
      assert.equal(pool.threads, 3);
      assert.equal(pool.stats().threads, 3);
      const outcomes = await Promise.all([1, 2, 3].map((i) => pool.run('fib', [10, i], ctxData(`t${i}`, 'fib'))));
      assert.deepEqual(outcomes.map((o) => o.ok), [true, true, true], 'runs go to the new threads while the old one is busy');
      ctrl.abort(new Error('stop waiting'));
      assert.deepEqual(await held, { ok: true, value: { result: 'aborted', reason: 'stop waiting' } }, 'the old thread finished its run, then was retired');
      await pool.resize(1);
      assert.equal(pool.threads, 1);
      assert.deepEqual(await pool.run('fib', [10, null], ctxData('t4', 'fib')), { ok: true, value: { fib: 55, echo: null, taskId: 't4' } });
      assert.throws(() => pool.resize(0), isInvalidArgumentError);
      // Relative resizes asked at once add up (each applies to the size when its turn comes).
      assert.deepEqual(await Promise.all([pool.resizeBy(1), pool.resizeBy(1)]), [2, 3]);
      assert.equal(pool.threads, 3);
      await assert.rejects(pool.resizeBy(-3), (err: unknown) => isInvalidArgumentError(err) && /must stay 1-1024/.test((err as Error).message));
      assert.equal(pool.threads, 3, 'a refused resize changes nothing');
    } finally {
      await pool.close();
    }
    await assert.rejects(pool.resize(2), isClosedError);
  });
});

describe('CpuPool lazy start', () => {
  it('starts no thread until the first run; that run warms them; later runs share them', async () => {
    const logger = recordingLogger();
    const pool = new CpuPool({ moduleUrl: TASKS, appName: APP, threads: 2, lazy: true, logger });
    try {
      await pool.start();
      assert.equal(pool.state, 'running');
      assert.deepEqual(pool.stats(), { threads: 2, started: false, busy: 0, queued: 0, recycled: 0 });
      const started = logger.next('CPU threads started');
      // Two runs at once before any thread exists: one start serves both.
      const outcomes = await Promise.all([1, 2].map((i) => pool.run('fib', [10, i], ctxData(`l${i}`, 'fib'))));
      assert.deepEqual(outcomes.map((o) => o.ok), [true, true]);
      assert.equal((await started).fields?.threads, 2);
      assert.equal(logger.lines.filter((l) => l.msg === 'CPU threads started').length, 1);
      assert.deepEqual(pool.stats(), { threads: 2, started: true, busy: 0, queued: 0, recycled: 0 });
    } finally {
      await pool.close();
    }
  });

  it('a resize before the first run only changes how many threads it starts', async () => {
    const pool = new CpuPool({ moduleUrl: TASKS, appName: APP, threads: 1, lazy: true, logger: recordingLogger() });
    try {
      await pool.start();
      assert.equal(await pool.resize(3), 3);
      assert.equal(pool.stats().started, false);
      assert.equal((await pool.run('fib', [5, null], ctxData('r1', 'fib'))).ok, true);
      assert.deepEqual({ threads: pool.stats().threads, started: pool.stats().started }, { threads: 3, started: true });
    } finally {
      await pool.close();
    }
  });

  it('a module that cannot load in a thread fails that run with WorkerLostError, not start()', async () => {
    const url = fixture('no-tasks.ts');
    const logger = recordingLogger();
    const pool = new CpuPool({ moduleUrl: url, appName: APP, threads: 1, lazy: true, logger });
    try {
      await pool.start();
      const error = failure(await pool.run('fib', [1, null], ctxData('bad', 'fib')));
      assert.equal(error.code, 'E_WORKER_LOST', JSON.stringify(error));
      assert.match(error.message, /could not start/);
      assert.ok(logger.lines.some((l) => l.level === 'error' && l.msg === 'CPU threads could not start'));
      assert.equal(pool.stats().started, false, 'the next run tries again');
    } finally {
      await pool.close();
    }
  });

  it('close() while the first run starts the threads ends that run with ClosedError and leaves no thread', async () => {
    const pool = new CpuPool({ moduleUrl: TASKS, appName: APP, threads: 1, lazy: true, logger: recordingLogger() });
    await pool.start();
    const run = pool.run('fib', [5, null], ctxData('c1', 'fib'));
    await pool.close();
    const error = failure(await run);
    assert.equal(error.code, 'E_CLOSED');
    assert.equal(pool.state, 'stopped');
  });
});
