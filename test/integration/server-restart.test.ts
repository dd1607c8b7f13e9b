/**
 * nats-server is killed (SIGKILL) and restarted in the middle of a run: every task whose publish was
 * acknowledged is executed and its result stored; producer and worker reconnect by themselves.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApp, type AsyncResult } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('restarting nats-server mid-run loses no acknowledged task', async () => {
  const appName = 'restart';
  const worker = startWorkerProcess({ broker: server.url, app: appName, ackWaitMs: 3000, args: ['-c', '32'] });
  const app = createApp({ name: appName, broker: server.url, ackWait: 3000, publishTimeout: '60s' });
  const add = app.task('math.add', async (_c, a: number, b: number) => a + b);
  try {
    await worker.ready;
    const N = 3000;
    const acked: Array<{ i: number; r: AsyncResult<number> }> = [];
    const failed: unknown[] = [];
    let next = 0;
    let restarted = false;
    const restart = async () => {
      await server.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 500));
      await server.restart();
    };
    let restartDone: Promise<void> | undefined;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < N) {
          const i = next++;
          if (i === 1000 && !restarted) {
            restarted = true;
            restartDone = restart();
          }
          try {
            acked.push({ i, r: await add.delay(i, 1) });
          } catch (err) {
            failed.push(err);
          }
        }
      }),
    );
    await restartDone;
    assert.ok(restarted);
    assert.ok(acked.length >= N - failed.length);
    for (const { i, r } of acked) assert.equal(await r.get({ timeout: '60s' }), i + 1, `acknowledged task ${i} was lost`);
    assert.equal(failed.length, 0, `publishes failed: ${failed.map(String).join('; ')}`);
    assert.match(worker.output(), /broker connection (lost|restored)/);
  } finally {
    worker.proc.kill('SIGTERM');
    await worker.exited;
    await app.close();
  }
});
