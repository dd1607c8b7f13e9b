/** The rate limiter on the embedded transport. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { rateLimit } from '../../../plugins/rate-limit/index.ts';
import { type App, createApp, parseRate } from '../../../src/index.ts';
import { silentLogger } from '../../../src/testing.ts';
import { until } from '../../helpers/failure-scenarios.ts';
import { maxInWindow } from '../../helpers/windows.ts';

const apps: App[] = [];
after(async () => {
  for (const a of apps) await a.close();
});
const newApp = () => {
  const a = createApp({ name: `rl-${randomUUID().slice(0, 8)}`, broker: `memory://rl-${randomUUID()}` });
  apps.push(a);
  return a;
};


test("rates use Celery's syntax; bad ones are refused", () => {
  assert.equal(parseRate('100/s').perMs, 0.1);
  assert.equal(parseRate('10/m').perMs, 10 / 60_000);
  assert.equal(parseRate('1000/h').text, '1000/h');
  assert.equal(parseRate(5).text, '5/s');
  assert.throws(() => rateLimit({ rate: '10/d' }), /must be a positive rate like '100\/s'/);
  assert.throws(() => rateLimit({ rate: '0/s' }), /positive rate/);
  assert.throws(() => rateLimit({ rate: '1/s', burst: 0 }), /burst \}\) must be a positive integer/);
});

test('local: 40 tasks at 20/s start no faster than the rate, none fails, none counts a retry, and they hold no slot while waiting', async () => {
  const app = newApp();
  app.use(rateLimit({ rate: '20/s', tasks: ['limited'] }));
  const limited = app.task('limited', async (ctx, i: number) => ({ i, at: Date.now(), retries: ctx.retries }));
  const free = app.task('free', async () => Date.now());
  const w = app.worker({ concurrency: 4, logger: silentLogger });
  await w.start();
  try {
    const sent = Date.now();
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => limited.delay(i)));
    // Meanwhile the worker's 4 slots are free: an unlimited task runs at once.
    const f = await (await free.delay()).get({ timeout: '5s' });
    assert.ok(f - sent < 1000, `an unlimited task was not held up (${f - sent} ms)`);
    const out = await Promise.all(rs.map((r) => r.get({ timeout: '20s' })));
    assert.ok(out.every((o) => o.retries === 0));
    const times = out.map((o) => o.at);
    assert.ok(maxInWindow(times, 1000) <= 21, `at most 20/s + 1 burst in any second, saw ${maxInWindow(times, 1000)}`);
    const span = Math.max(...times) - Math.min(...times);
    assert.ok(span >= 1900 - 50, `40 tasks at 20/s take about 2 s, took ${span} ms`);
  } finally {
    await w.stop();
  }
});

test('per key: each tenant gets its own rate', async () => {
  const app = newApp();
  app.use(rateLimit({ rate: '5/s', key: (i) => String(i.args[0]) }));
  const t = app.task('tenant.job', async (_c, tenant: string) => ({ tenant, at: Date.now() }));
  const w = app.worker({ concurrency: 8, logger: silentLogger });
  await w.start();
  try {
    const rs = await Promise.all([...Array.from({ length: 10 }, () => t.delay('a')), ...Array.from({ length: 10 }, () => t.delay('b'))]);
    const out = await Promise.all(rs.map((r) => r.get({ timeout: '20s' })));
    for (const tenant of ['a', 'b']) {
      const times = out.filter((o) => o.tenant === tenant).map((o) => o.at);
      assert.ok(maxInWindow(times, 1000) <= 6, `tenant ${tenant}: at most 5/s + 1`);
      const span = Math.max(...times) - Math.min(...times);
      assert.ok(span >= 1700 && span < 3500, `tenant ${tenant}: 10 at 5/s take ~1.8 s, took ${span} ms (the tenants run side by side)`);
    }
  } finally {
    await w.stop();
  }
});

test('control.rateLimit changes the rate at run time', async () => {
  const app = newApp();
  const limiter = rateLimit({ rate: '1/s' });
  app.use(limiter);
  const t = app.task('slow.lane', async () => Date.now());
  const w = app.worker({ concurrency: 4, logger: silentLogger });
  await w.start();
  try {
    assert.equal(limiter.rateOf('slow.lane'), '1/s');
    await app.control.rateLimit('slow.lane', '50/s');
    await until(() => limiter.rateOf('slow.lane') === '50/s', 2000, 'override seen');
    const started = Date.now();
    const rs = await Promise.all(Array.from({ length: 20 }, () => t.delay()));
    await Promise.all(rs.map((r) => r.get({ timeout: '10s' })));
    assert.ok(Date.now() - started < 3000, `20 tasks at 50/s finish in well under the 19 s 1/s would take (${Date.now() - started} ms)`);
    await app.control.rateLimit('slow.lane', null);
    await until(() => limiter.rateOf('slow.lane') === '1/s', 2000, 'override removed');
    await assert.rejects(app.control.rateLimit('slow.lane', 'fast'), /positive rate/);
  } finally {
    await w.stop();
  }
});
