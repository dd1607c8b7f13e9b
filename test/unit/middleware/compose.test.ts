import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMiddlewareError } from '../../../src/index.ts';
import { compose } from '../../../src/middleware/compose.ts';

type Wrap = (input: string, next: (i: string) => Promise<string>) => Promise<string>;
const mw = (name: string, fn: Wrap) => ({ name, fn });

test('hooks run in the order given, outermost first, around the last step', async () => {
  const trail: string[] = [];
  const chain = compose<string, string>([
    mw('a', async (i, next) => {
      trail.push('a>');
      const r = await next(`${i}a`);
      trail.push('<a');
      return r;
    }),
    mw('b', async (i, next) => {
      trail.push('b>');
      const r = await next(`${i}b`);
      trail.push('<b');
      return r;
    }),
  ]);
  assert.equal(await chain('x', async (i) => (trail.push(`run ${i}`), i.toUpperCase())), 'XAB');
  assert.deepEqual(trail, ['a>', 'b>', 'run xab', '<b', '<a']);
});

test('a hook that does not call next short-circuits; the last step never runs', async () => {
  let ran = false;
  const chain = compose<string, string>([mw('cache', async () => 'cached'), mw('never', async (i, n) => n(i))]);
  assert.equal(await chain('x', async () => ((ran = true), 'real')), 'cached');
  assert.equal(ran, false);
});

test('calling next twice rejects with a MiddlewareError naming the hook', async () => {
  const chain = compose<string, string>([
    mw('greedy', async (i, next) => {
      await next(i);
      return next(i);
    }),
  ]);
  let runs = 0;
  await assert.rejects(
    chain('x', async () => String(++runs)),
    (err: unknown) => isMiddlewareError(err) && /middleware "greedy" called next\(\) more than once/.test((err as Error).message),
  );
  assert.equal(runs, 1, 'the task ran once');
});

test('a hook that throws synchronously rejects the chain; no hooks means the last step alone', async () => {
  const chain = compose<string, string>([
    mw('bad', () => {
      throw new Error('sync');
    }),
  ]);
  await assert.rejects(chain('x', async (i) => i), /sync/);
  assert.equal(await compose<string, string>([])('y', async (i) => i), 'y');
});
