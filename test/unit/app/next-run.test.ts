/** app.nextRun(name): when beat fires a schedule next, as beat computes it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, isInvalidArgumentError } from '../../../src/index.ts';

test('nextRun gives the next slot of an interval, a cron pattern with a time zone, and the jittered fire time', async () => {
  const app = createApp({ name: 'nr', broker: 'memory://next-run' });
  try {
    app.schedule('ping', { task: 'ops.ping', every: '30s' });
    app.schedule('digest', { task: 'mail.digest', cron: '0 8 * * *', timezone: 'Europe/Berlin' });
    app.schedule('spread', { task: 'ops.sync', every: '1h', jitter: '10m' });
    const at = new Date('2026-11-24T07:00:10.000Z');
    assert.equal(app.nextRun('ping', at)?.toISOString(), '2026-11-24T07:00:30.000Z');
    // 08:00 in Berlin (UTC+1 in November) is 07:00 UTC: the next one is tomorrow's.
    assert.equal(app.nextRun('digest', at)?.toISOString(), '2026-11-25T07:00:00.000Z');
    const spread = app.nextRun('spread', at)?.getTime() ?? 0;
    const slot = Date.parse('2026-11-24T08:00:00.000Z');
    assert.ok(spread >= slot && spread <= slot + 10 * 60_000, new Date(spread).toISOString());
    assert.equal(app.nextRun('spread', at)?.getTime(), spread, 'the same jitter every time (a hash of name and slot)');
    assert.ok((app.nextRun('ping')?.getTime() ?? 0) > Date.now(), 'default: after now');
  } finally {
    await app.close();
  }
});

test('nextRun of a name no schedule has is an InvalidArgumentError naming the registered ones', async () => {
  const app = createApp({ name: 'nr2', broker: 'memory://next-run-2' });
  try {
    app.schedule('ping', { task: 'ops.ping', every: '30s' });
    assert.throws(() => app.nextRun('pong'), (e: unknown) => isInvalidArgumentError(e) && /no schedule has this name \(registered: ping\)/.test(e.message));
  } finally {
    await app.close();
  }
});
