/**
 * A 3-node nats-server cluster with R3 streams and buckets: SIGKILL of the task stream's leader in
 * the middle of a run loses no acknowledged task, and processing goes on (docs/guide/deployment.md).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type AsyncResult, createApp, isConfigMismatchError, provisionApp } from '../../src/index.ts';
import { type NatsClusterHandle, startNatsCluster } from '../../src/testing.ts';
import { NatsTransport } from '../../src/transport/nats/nats-transport.ts';
import { isTransientApiError } from '../../src/transport/nats/provision.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';

interface StreamInfo {
  config: { num_replicas: number };
  cluster?: { leader?: string; replicas?: Array<{ name: string }> };
}

let cluster: NatsClusterHandle;
before(async () => {
  cluster = await startNatsCluster({ size: 3 });
});
after(async () => {
  await cluster.stop();
});

/** A stream's info; asked up to three times, as provisioning does (a stream electing a leader answers nothing). */
async function streamInfo(app: ReturnType<typeof createApp>, name: string): Promise<StreamInfo> {
  const t = app.transport();
  await t.connect();
  assert.ok(t instanceof NatsTransport && t.connection);
  for (let attempt = 1; ; attempt++) {
    try {
      const m = await t.connection.request(`$JS.API.STREAM.INFO.${name}`, '', { timeout: 10_000 });
      return m.json<StreamInfo>();
    } catch (err) {
      if (attempt === 3 || !isTransientApiError(err)) throw err;
    }
  }
}

test('streamReplicas: 3 makes every stream and bucket R3, provisioning grows R1 streams to R3, more replicas than nodes is a clear error', async () => {
  const app = createApp({ name: 'r3', broker: cluster.url, streamReplicas: 3 });
  try {
    const report = await provisionApp(app, ['default']);
    assert.ok(report.streams.length >= 11, report.streams.join(','));
    for (const name of report.streams) {
      const info = await streamInfo(app, name);
      assert.equal(info.config.num_replicas, 3, `${name} is not R3`);
      assert.equal(info.cluster?.replicas?.length, 2, `${name} has no two followers`);
    }
  } finally {
    await app.close();
  }
  // An app that started on R1 streams is brought to R3 by provisioning it with streamReplicas: 3.
  const r1 = createApp({ name: 'grow', broker: cluster.url });
  await provisionApp(r1, ['default']);
  assert.equal((await streamInfo(r1, 'grow-tasks')).config.num_replicas, 1);
  await r1.close();
  const grown = createApp({ name: 'grow', broker: cluster.url, streamReplicas: 3 });
  try {
    await provisionApp(grown, ['default']);
    for (const name of ['grow-tasks', 'KV_grow-results']) assert.equal((await streamInfo(grown, name)).config.num_replicas, 3, name);
  } finally {
    await grown.close();
  }
  const r5 = createApp({ name: 'r5', broker: cluster.url, streamReplicas: 5 });
  await assert.rejects(r5.transport().connect(), (err: unknown) => isConfigMismatchError(err) && /streamReplicas 5 needs a JetStream cluster of at least 5 nodes/.test((err as Error).message));
  await r5.close();
});

test('SIGKILL of the task stream leader mid-run: 0 acknowledged tasks lost, processing continues', async (t) => {
  const appName = 'clustered';
  const worker = startWorkerProcess({ broker: cluster.url, app: appName, ackWaitMs: 5000, args: ['-c', '32'], env: { CELERIAC_STREAM_REPLICAS: '3' } });
  const app = createApp({ name: appName, broker: cluster.url, streamReplicas: 3, ackWait: 5000, publishTimeout: '30s' });
  const add = app.task('math.add', async (_c, a: number, b: number) => a + b);
  try {
    await worker.ready;
    const leaderName = (await streamInfo(app, `${appName}-tasks`)).cluster?.leader;
    const leader = cluster.nodes.find((n) => n.name === leaderName);
    assert.ok(leader, `no leader for the task stream (${String(leaderName)})`);

    const N = 1500;
    const acked: Array<{ i: number; r: AsyncResult<number> }> = [];
    const failed: unknown[] = [];
    let next = 0;
    let killed: Promise<void> | undefined;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < N) {
          const i = next++;
          if (i === 500) killed = leader.kill('SIGKILL');
          try {
            acked.push({ i, r: await add.delay(i, 1) });
          } catch (err) {
            failed.push(err);
          }
        }
      }),
    );
    await killed;
    assert.equal(leader.pid, undefined, 'the leader was killed');
    // A publish may fail while the stream elects a new leader (it was never acknowledged); nearly all go through.
    assert.ok(acked.length >= N * 0.9, `only ${acked.length} of ${N} publishes acknowledged: ${failed.slice(0, 3).map(String).join('; ')}`);
    for (const { i, r } of acked) assert.equal(await r.get({ timeout: '60s' }), i + 1, `acknowledged task ${i} was lost`);
    t.diagnostic(`${acked.length}/${N} publishes acknowledged and all ${acked.length} succeeded; leader ${leader.name} killed at publish 500`);

    // The node comes back and catches up; the cluster keeps working.
    await leader.restart();
    await cluster.waitForLeader();
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => add.delay(i, 100)));
    for (const [i, r] of after.entries()) assert.equal(await r.get({ timeout: '30s' }), i + 100);
    assert.equal((await streamInfo(app, `${appName}-tasks`)).cluster?.replicas?.length, 2);
  } finally {
    worker.proc.kill('SIGTERM');
    await worker.exited;
    await app.close();
  }
});
