// Thread recycling of the CPU pool (ADR 0012): maxTasksPerThread and maxMemoryPerThreadMb end a
// thread after the run that passed the limit, and a fresh thread replaces it; no run fails.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgumentError } from '../../../src/errors.ts';
import { CpuPool, type CpuPoolOptions, resolveCpuPoolOptions } from '../../../src/execution/cpu-pool.ts';
import type { TaskContextData, TaskLogger, TaskOutcome } from '../../../src/execution/task-definition.ts';

const LEAKY = new URL('../../fixtures/cpu/leaky.ts', import.meta.url).href;
const APP = 'cpuleak';

function ctx(i: number, name: string): TaskContextData {
  const id = `t-${i}`;
  return {
    id,
    name,
    retries: 0,
    rootId: id,
    parentId: null,
    headers: {},
    hostname: 'test-host',
    delivery: { stream: 'memory', sequence: i, deliveryCount: 1, redelivered: false },
    attempt: { sequence: i, delivery: 1, token: `${i}.1` },
    idempotencyKey: null,
  };
}

function logger(): TaskLogger & { infos: Array<{ msg: string; fields?: Record<string, unknown> }> } {
  const infos: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
  const none = () => undefined;
  return { infos, debug: none, info: (msg, fields) => infos.push({ msg, ...(fields ? { fields } : {}) }), warn: none, error: (msg, fields) => console.error(msg, fields) };
}

function value(o: TaskOutcome): unknown {
  assert.equal(o.ok, true, `expected success, got ${JSON.stringify(o)}`);
  return (o as { ok: true; value: unknown }).value;
}

const MB = 1024 * 1024;
/** RSS growth allowed with recycling on; 200 runs x 5 MiB leak about 1 GB without it. */
const BOUND_MB = 400;

/** Run the leaking task 200 times on 2 threads; resolves with the peak RSS growth (MiB) and the outcomes. */
async function leak200(options: Partial<CpuPoolOptions>): Promise<{ growthMb: number; outcomes: TaskOutcome[]; recycled: number; log: ReturnType<typeof logger> }> {
  const log = logger();
  const pool = new CpuPool({ moduleUrl: LEAKY, appName: APP, threads: 2, logger: log, ...options });
  await pool.start();
  try {
    const base = process.memoryUsage().rss;
    let peak = base;
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const o = await pool.run('leak', [i], ctx(i, 'leak'));
        peak = Math.max(peak, process.memoryUsage().rss);
        return o;
      }),
    );
    return { growthMb: (peak - base) / MB, outcomes, recycled: pool.stats().recycled, log };
  } finally {
    await pool.close();
  }
}

describe('CPU thread recycling', () => {
  it('validates maxTasksPerThread and maxMemoryPerThreadMb', () => {
    const valid: CpuPoolOptions = { moduleUrl: LEAKY, appName: APP };
    const rejects = (o: CpuPoolOptions, field: string) =>
      assert.throws(() => resolveCpuPoolOptions(o), (err: unknown) => isInvalidArgumentError(err) && (err as Error).message.includes(`options.${field}`));
    rejects({ ...valid, maxTasksPerThread: 0 }, 'maxTasksPerThread');
    rejects({ ...valid, maxTasksPerThread: 2.5 }, 'maxTasksPerThread');
    rejects({ ...valid, maxMemoryPerThreadMb: 0 }, 'maxMemoryPerThreadMb');
    rejects({ ...valid, maxMemoryPerThreadMb: Number.NaN }, 'maxMemoryPerThreadMb');
    const r = resolveCpuPoolOptions(valid);
    assert.equal(r.maxTasksPerThread, 0);
    assert.equal(r.maxMemoryPerThreadMb, 0);
  });

  it('maxMemoryPerThreadMb keeps the RSS of a leaking task bounded; every run succeeds', async () => {
    const on = await leak200({ maxMemoryPerThreadMb: 64 });
    assert.equal(on.outcomes.filter((o) => o.ok).length, 200);
    assert.ok(on.recycled >= 5, `threads recycled ${on.recycled} times`);
    assert.ok(on.growthMb < BOUND_MB, `RSS grew ${on.growthMb.toFixed(0)} MiB with recycling, bound ${BOUND_MB}`);
    const line = on.log.infos.find((l) => l.msg === 'CPU thread recycled');
    assert.equal(line?.fields?.reason, 'max-memory');
    assert.match(String(line?.fields?.limit), /maxMemoryPerThreadMb 64/);
    // The same load without the option: the leak stays, so the bound above means something.
    const off = await leak200({});
    assert.equal(off.outcomes.filter((o) => o.ok).length, 200);
    assert.equal(off.recycled, 0);
    assert.ok(off.growthMb > BOUND_MB, `RSS grew only ${off.growthMb.toFixed(0)} MiB without recycling`);
  });

  it('maxTasksPerThread: 5 recycles threads without failing any run, including a long one in flight', async () => {
    const log = logger();
    const pool = new CpuPool({ moduleUrl: LEAKY, appName: APP, threads: 2, logger: log, maxTasksPerThread: 5 });
    await pool.start();
    try {
      // One thread holds the long task while the other runs (and recycles through) the short ones.
      const long = pool.run('thread', [1500], ctx(0, 'thread'));
      const short = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.run('thread', [5], ctx(i + 1, 'thread'))));
      const ids = new Set(short.map(value));
      const longId = value(await long);
      ids.add(longId);
      assert.ok(ids.size >= 4, `expected >= 4 distinct threads, got ${[...ids].join(',')}`);
      assert.ok(pool.stats().recycled >= 3, `recycled ${pool.stats().recycled}`);
      assert.ok(log.infos.some((l) => l.msg === 'CPU thread recycled' && l.fields?.reason === 'max-tasks' && l.fields.tasks === 5));
      // The pool still has its threads and runs tasks.
      assert.equal(typeof value(await pool.run('thread', [0], ctx(99, 'thread'))), 'number');
      assert.equal(pool.stats().threads, 2);
    } finally {
      await pool.close();
    }
  });
});
