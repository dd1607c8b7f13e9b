/**
 * Failure-semantics scenarios shared by the memory:// unit test and the nats:// integration test:
 * the same behaviour must hold on both transports. The caller has configured the fixture app's
 * broker; each scenario uses fresh keys.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { WorkerNode } from '../../src/actors/worker-node.ts';
import { isTaskError } from '../../src/index.ts';
import { encodeTask } from '../../src/protocol/envelope.ts';
import type { Logger } from '../../src/util/logger.ts';
import type * as Fixture from '../fixtures/failure-tasks.ts';

/** Wait (bounded) until `cond` holds. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A logger that keeps its lines (children included). */
export function recordingLogger(): Logger & { lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> } {
  const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  const l = {
    lines,
    debug: (msg: string, fields?: Record<string, unknown>) => void lines.push({ level: 'debug', msg, fields }),
    info: (msg: string, fields?: Record<string, unknown>) => void lines.push({ level: 'info', msg, fields }),
    warn: (msg: string, fields?: Record<string, unknown>) => void lines.push({ level: 'warn', msg, fields }),
    error: (msg: string, fields?: Record<string, unknown>) => void lines.push({ level: 'error', msg, fields }),
    child: () => l,
  };
  return l as Logger & { lines: typeof lines };
}

const key = () => randomUUID().slice(0, 8);

/** Register the shared scenarios (call inside a test file, after the fixture's broker is configured). */
export function failureScenarios(load: () => typeof Fixture): void {
  let f: typeof Fixture;
  let worker: WorkerNode;
  const log = recordingLogger();
  const tasksModule = new URL('../fixtures/failure-tasks.ts', import.meta.url).href;

  before(async () => {
    f = load();
    worker = f.app.worker({ concurrency: 8, cpuThreads: 1, tasksModule, logger: log, name: 'scenario-worker' });
    await worker.start();
  });
  after(async () => {
    await worker.stop(0);
  });

  describe('retries', () => {
    test('autoretryFor retries with exponential back-off (200, 400 ms) and then succeeds', async () => {
      const k = key();
      const r = await f.flaky.delay(k, 2);
      const states: string[] = [];
      const watching = (async () => {
        for await (const u of r.watch()) states.push(u.status);
      })();
      const v = await r.get({ timeout: '15s' });
      await watching;
      assert.equal(v.retries, 2, 'ctx.retries counts deliberate retries');
      const a = f.attempts.get(k) ?? [];
      assert.deepEqual(
        a.map(([n]) => n),
        [0, 1, 2],
      );
      const gaps = [(a[1]?.[1] ?? 0) - (a[0]?.[1] ?? 0), (a[2]?.[1] ?? 0) - (a[1]?.[1] ?? 0)];
      for (const [i, want] of [200, 400].entries()) {
        const got = gaps[i] ?? 0;
        assert.ok(got >= want - 20 && got <= want + 900, `retry ${i + 1} after ${got} ms, wanted ${want} ms (-20/+900)`);
      }
      assert.ok(states.includes('RETRY'), `RETRY state was visible (saw ${states.join(',')})`);
      const info = await r.info();
      assert.equal(info.status, 'SUCCESS');
    });

    test('the RETRY state carries the error and the next attempt time', async () => {
      const k = key();
      const r = await f.flaky.delay(k, 1);
      // The RETRY record stays for the 200 ms back-off; watch() sees every stored update.
      let retry: Awaited<ReturnType<typeof r.info>> | undefined;
      for await (const u of r.watch()) if (u.status === 'RETRY') retry ??= u;
      assert.ok(retry, 'a RETRY state was stored');
      assert.equal(retry.error?.name, 'FlakyError');
      assert.equal(retry.meta?.retries, 1);
      assert.ok(!Number.isNaN(Date.parse(String(retry.meta?.nextAttemptAt))));
      assert.equal(await r.state(), 'SUCCESS');
    });

    test('retries exhausted: FAILURE with the last error, then the dead-letter stream', async () => {
      const k = key();
      const r = await f.hopeless.delay(k);
      await assert.rejects(r.get({ timeout: '15s' }), (e) => isTaskError(e) && e.remote.name === 'FlakyError' && /retry 2/.test(e.remote.message));
      assert.equal(f.attempts.get(k)?.length, 3, 'one run plus maxRetries (2) retries');
      const dl = await f.app.deadLetters.show(r.id);
      assert.equal(dl.length, 1);
      assert.equal(dl[0]?.reason, 'retries-exhausted');
      assert.equal(dl[0]?.retries, 2);
      assert.equal(dl[0]?.error?.name, 'FlakyError');
    });

    test('dontAutoretryFor wins: a ValidationError fails at once', async () => {
      const k = key();
      const r = await f.validates.delay(k);
      await assert.rejects(r.get({ timeout: '10s' }), (e) => isTaskError(e) && e.remote.name === 'ValidationError');
      assert.equal(f.attempts.get(k)?.length, 1);
      assert.equal((await f.app.deadLetters.show(r.id))[0]?.reason, 'failed');
    });

    test('ctx.retry() retries by hand', async () => {
      const r = await f.manual.delay(2);
      assert.equal(await r.get({ timeout: '10s' }), 2);
    });
  });

  describe('control-flow signals', () => {
    test('Reject: FAILURE and dead-lettered on the first attempt', async () => {
      const r = await f.rejects.delay('bad input');
      await assert.rejects(r.get({ timeout: '10s' }), (e) => isTaskError(e) && e.remote.name === 'ValidationError');
      const [dl] = await f.app.deadLetters.show(r.id);
      assert.equal(dl?.reason, 'rejected');
      assert.equal(dl?.attempts, 1);
      assert.deepEqual(dl?.args, [['bad input'], {}, null], 'the original body is kept');
    });

    test('Ignore: acknowledged, no result stored', async () => {
      const before = worker.stats().skipped;
      const r = await f.ignores.delay();
      await until(() => worker.stats().skipped > before, 10_000, 'ignored');
      assert.equal(await r.state(), 'PENDING');
      assert.equal((await f.app.deadLetters.show(r.id)).length, 0);
    });
  });

  describe('time limits', () => {
    test('soft limit aborts ctx.signal with SoftTimeLimitExceeded; the task cleans up and returns', async () => {
      const r = await f.soft.delay();
      assert.deepEqual(await r.get({ timeout: '5s' }), { cleanedUp: true, reason: 'SoftTimeLimitExceeded' });
    });

    test('hard limit abandons an I/O task that ignores its signal, frees its slot and names it', async () => {
      const started = Date.now();
      const r = await f.stubborn.delay();
      await assert.rejects(r.get({ timeout: '5s' }), (e) => isTaskError(e) && e.remote.name === 'TimeLimitExceeded');
      assert.ok(Date.now() - started < 3000, 'failed at the limit, not when the task ended');
      assert.ok(log.lines.some((l) => l.level === 'warn' && /did not stop/.test(l.msg) && l.fields?.task === 'f.stubborn'));
      await until(() => worker.stats().active === 0, 5000, 'slot freed');
    });

    test('a per-call soft limit applies to a task that sets none', async () => {
      const r = await f.waitsForSignal.applyAsync([key()], { softTimeLimit: '100ms' });
      await assert.rejects(r.get({ timeout: '5s' }), (e) => isTaskError(e) && e.remote.name === 'SoftTimeLimitExceeded');
    });

    test("the worker's default limits apply to tasks that set none", async () => {
      const limited = f.app.worker({ queues: ['limited'], softTimeLimit: '100ms', timeLimit: '1s', logger: log, name: 'limited-worker' });
      await limited.start();
      try {
        const r = await f.waitsForSignal.applyAsync([key()], { queue: 'limited' });
        await assert.rejects(r.get({ timeout: '5s' }), (e) => isTaskError(e) && e.remote.name === 'SoftTimeLimitExceeded');
      } finally {
        await limited.stop(0);
      }
    });

    test('hard limit terminates a spinning CPU thread; the pool keeps serving', async () => {
      const r = await f.spin.delay();
      await assert.rejects(r.get({ timeout: '10s' }), (e) => isTaskError(e) && e.remote.name === 'TimeLimitExceeded');
      assert.equal(await (await f.square.delay(7)).get({ timeout: '15s' }), 49);
    });
  });

  describe('expiry and revoke', () => {
    test('an expired task is not run: REVOKED with reason expired', async () => {
      const k = key();
      const r = await f.counted.applyAsync([k], { expires: new Date(Date.now() - 1) });
      await assert.rejects(r.get({ timeout: '10s' }), isTaskError);
      const info = await r.info();
      assert.equal(info.status, 'REVOKED');
      assert.equal(info.meta?.reason, 'expired');
      assert.equal(f.runs.get(k), undefined);
    });

    test('a revoked queued task never runs (REVOKED), also for a worker started later', async () => {
      const k = key();
      const r = await f.counted.applyAsync([k], { queue: 'parked' });
      await r.revoke();
      assert.equal(await r.state(), 'REVOKED', 'visible at once');
      const late = f.app.worker({ queues: ['parked'], logger: log, name: 'late-worker' });
      await late.start();
      try {
        await until(() => late.stats().skipped > 0, 10_000, 'revoked task skipped');
        assert.equal(f.runs.get(k), undefined, 'the task function never ran');
        assert.equal(await r.state(), 'REVOKED');
      } finally {
        await late.stop(0);
      }
    });

    test('revoking a running I/O task aborts its signal', async () => {
      const k = key();
      const r = await f.waitsForSignal.delay(k);
      await until(() => f.runs.get(k) === 1, 10_000, 'task running');
      await r.revoke();
      await assert.rejects(r.get({ timeout: '10s' }), isTaskError);
      const info = await r.info();
      assert.equal(info.status, 'REVOKED');
      await until(() => worker.activeTasks().every((t) => t.id !== r.id), 5000, 'run ended');
    });

    test('revoke with terminate stops a running CPU task; the pool keeps serving', async () => {
      const r = await f.spinLong.delay();
      await until(() => worker.activeTasks().some((t) => t.id === r.id), 10_000, 'cpu task running');
      await new Promise((res) => setTimeout(res, 100));
      const t0 = Date.now();
      await r.revoke({ terminate: true });
      await until(() => worker.activeTasks().every((t) => t.id !== r.id), 10_000, 'cpu task terminated');
      assert.ok(Date.now() - t0 < 5000);
      assert.equal(await r.state(), 'REVOKED');
      assert.equal(await (await f.square.delay(9)).get({ timeout: '15s' }), 81);
    });
  });

  describe('dead-letter replay and idempotency keys', () => {
    test('a dead-lettered task replayed from the DLQ runs again under its id', async () => {
      const k = key();
      const r = await f.once.delay(k);
      await assert.rejects(r.get({ timeout: '10s' }), isTaskError);
      assert.equal((await f.app.deadLetters.show(r.id)).length, 1);
      const replayed = await f.app.deadLetters.replay({ ids: [r.id] });
      assert.deepEqual(replayed, [r.id]);
      assert.equal(await f.app.asyncResult(r.id).get({ timeout: '10s' }), 'ok after 2 runs');
      assert.equal((await f.app.deadLetters.show(r.id)).length, 0, 'the entry left the DLQ');
    });

    test('an idempotency key runs once: a second publish is deduplicated, a later copy is skipped', async () => {
      const k = key();
      const idem = `charge-${k}`;
      const a = await f.counted.applyAsync([k], { idempotencyKey: idem });
      const b = await f.counted.applyAsync([k], { idempotencyKey: idem });
      assert.equal(a.id, idem);
      assert.equal(b.id, idem);
      assert.equal(await a.get({ timeout: '10s' }), k);
      // A copy published after the broker's duplicate window (simulated with another Nats-Msg-Id).
      const copy = encodeTask({ task: 'f.counted', id: idem, args: [k], idempotencyKey: idem }, f.app.codec);
      copy.headers['Nats-Msg-Id'] = `${idem}:later`;
      const skipped = worker.stats().skipped;
      await f.app.transport().publish('default', copy);
      await until(() => worker.stats().skipped > skipped, 10_000, 'copy skipped');
      assert.equal(f.runs.get(k), 1, 'executed once');
    });
  });
}
