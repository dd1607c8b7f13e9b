/** Sagas on the embedded transport, including the property: exactly the completed steps are compensated, in reverse. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type Saga, saga } from '../../../plugins/saga/index.ts';
import { type App, type WorkerNode, createApp } from '../../../src/index.ts';
import { silentLogger } from '../../../src/testing.ts';

const app: App = createApp({ name: `saga-${randomUUID().slice(0, 8)}`, broker: `memory://saga-${randomUUID()}` });
/** Per run: what ran, in order ("s3" = step 3, "u3" = its compensation). */
const trail = new Map<string, string[]>();
const note = (run: string, what: string) => trail.set(run, [...(trail.get(run) ?? []), what]);

type Input = { run: string; failAt: number | null; failUndo?: number };
const steps = Array.from({ length: 8 }, (_, k) =>
  app.task(`step.${k}`, async (_c, input: Input) => {
    note(input.run, `s${k}`);
    if (input.failAt === k) throw new Error(`step ${k} failed`);
    return `r${k}`;
  }, { deadLetter: false }),
);
const undos = Array.from({ length: 8 }, (_, k) =>
  app.task(`undo.${k}`, async (_c, input: Input, result: string) => {
    note(input.run, `u${k}`);
    if (input.failUndo === k) throw new Error(`undo ${k} failed`);
    assert.equal(result, `r${k}`, 'a compensation gets its step’s result');
  }, { deadLetter: false }),
);
const sagas: Saga[] = Array.from({ length: 8 }, (_, i) => {
  const n = i + 1;
  let s = saga(`test.${n}`, { compensationRetries: 0 });
  for (let k = 0; k < n; k++) s = s.step(steps[k] as (typeof steps)[number], undos[k] as (typeof undos)[number]);
  return s;
});
for (const s of sagas) app.use(s);
let worker: WorkerNode;
before(async () => {
  worker = app.worker({ concurrency: 32, logger: silentLogger });
  await worker.start();
});
after(async () => {
  await worker.stop();
  await app.close();
});

test('for any failure point in 1 to 8 steps, exactly the completed steps are compensated, in reverse order', async () => {
  const cases: Array<{ n: number; failAt: number | null }> = [];
  for (let n = 1; n <= 8; n++) for (const failAt of [null, ...Array.from({ length: n }, (_, k) => k)]) cases.push({ n, failAt });
  await Promise.all(
    cases.map(async ({ n, failAt }) => {
      const runId = randomUUID();
      const input: Input = { run: runId, failAt };
      const r = await (sagas[n - 1] as Saga).apply(input, { id: runId });
      const out = await r.get({ timeout: '30s' });
      const ran = Array.from({ length: failAt === null ? n : failAt + 1 }, (_, k) => `s${k}`);
      const undone = failAt === null ? [] : Array.from({ length: failAt }, (_, k) => `u${failAt - 1 - k}`);
      const what = `n=${n} failAt=${failAt}`;
      assert.deepEqual(trail.get(runId), [...ran, ...undone], what);
      assert.equal(out.state, failAt === null ? 'SUCCESS' : 'COMPENSATED', what);
      if (failAt === null) assert.equal(out.result, `r${n - 1}`);
      assert.deepEqual(
        out.history.map((h) => h.status),
        Array.from({ length: n }, (_, k) => (failAt === null ? 'done' : k < failAt ? 'compensated' : k === failAt ? 'failed' : 'pending')),
        what,
      );
    }),
  );
  assert.equal(cases.length, 44);
});

test('a compensation that fails for good: the others still run, and the saga ends FAILED', async () => {
  const runId = randomUUID();
  const r = await (sagas[3] as Saga).apply({ run: runId, failAt: 3, failUndo: 1 } satisfies Input, { id: runId });
  const out = await r.get({ timeout: '30s' });
  assert.equal(out.state, 'FAILED');
  assert.deepEqual(trail.get(runId), ['s0', 's1', 's2', 's3', 'u2', 'u1', 'u0']);
  assert.deepEqual(
    out.history.map((h) => h.status),
    ['compensated', 'compensation-failed', 'compensated', 'failed'],
  );
  assert.match(out.history[1]?.compensationError?.message ?? '', /undo 1 failed/);
});

test('bad use is refused clearly', async () => {
  assert.throws(() => saga('bad name!'), /saga\(name\): name must be/);
  await assert.rejects(saga('lonely').apply({}), /has no steps/);
  await assert.rejects(saga('unused').step(steps[0] as (typeof steps)[number]).apply({}), /is not added to an app/);
  const runId = randomUUID();
  await (sagas[0] as Saga).apply({ run: runId, failAt: null } satisfies Input, { id: runId });
  await assert.rejects((sagas[0] as Saga).apply({ run: runId, failAt: null } satisfies Input, { id: runId }), /exists already/);
});
