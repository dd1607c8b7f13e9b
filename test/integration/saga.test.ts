/**
 * A saga against a real nats-server: its worker is SIGKILLed in the middle of a step; another
 * worker resumes it from the log without running the completed steps again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { until } from '../helpers/failure-scenarios.ts';
import { type WorkerProcess, startWorkerProcess } from '../helpers/worker-process.ts';

let server: NatsServerHandle;
const children: WorkerProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'celeriac-saga-'));

before(async () => {
  server = await startNatsServer();
});
after(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a worker SIGKILLed mid-saga: another resumes from the log; completed steps are not run again', async () => {
  const appName = 'sagacrash';
  const log = join(dir, 'saga.log');
  const env = { SAGA_APP: appName, SAGA_LOG: log, SAGA_SLOW_MS: '1500' };
  const start = (name: string) => {
    const w = startWorkerProcess({ broker: server.url, app: appName, module: 'test/fixtures/saga-tasks.ts', env, args: ['-n', name] });
    children.push(w);
    return w;
  };
  const w1 = start('w1');
  await w1.ready;
  process.env.SAGA_APP = appName;
  process.env.CELERIAC_BROKER_URL = server.url;
  const { app, placeOrder } = await import('../fixtures/saga-tasks.ts');
  try {
    const run = await placeOrder.apply({ id: 7 });
    const lines = () => {
      try {
        return readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
      } catch {
        return [];
      }
    };
    await until(() => lines().some((l) => l.startsWith('charge-start')), 15_000, 'the charge step started');
    w1.proc.kill('SIGKILL');
    await w1.exited;
    const w2 = start('w2');
    await w2.ready;
    const out = await run.get({ timeout: '30s' });
    assert.equal(out.state, 'SUCCESS');
    assert.deepEqual(out.result, { shipped: 7 });
    const names = lines().map((l) => l.split(' ')[0]);
    const count = (n: string) => names.filter((x) => x === n).length;
    assert.equal(count('reserve'), 1, 'the completed step did not run again');
    assert.equal(count('charge-start'), 2, 'the step in flight when the worker died ran again');
    assert.equal(count('charge'), 1);
    assert.equal(count('ship'), 1);
    assert.equal(count('release') + count('refund'), 0, 'nothing was compensated');
    assert.deepEqual(
      out.history.map((h) => h.status),
      ['done', 'done', 'done'],
    );
  } finally {
    await app.close();
  }
});
