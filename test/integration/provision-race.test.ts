/**
 * Clients that provision the same app at the same moment (two workers started together) all
 * succeed: nats-server checks a new stream's subjects against every stream, the one another client
 * has just created included, so a losing create reads "subjects overlap" and must be checked as an
 * existing stream instead of failing the worker.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { ensureQueueConsumer, ensureStream, kvStreamConfig, taskStreamConfig } from '../../src/transport/nats/provision.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('eight connections creating the same streams and consumer at once all succeed, and each exists once', async () => {
  const conns = await Promise.all(Array.from({ length: 8 }, () => connect({ servers: server.url })));
  try {
    const managers = await Promise.all(conns.map((nc) => jetstreamManager(nc)));
    for (let round = 0; round < 20; round++) {
      const app = `race${round}`;
      const wants = [
        { ...taskStreamConfig(`${app}-tasks`, app, { maxMsgs: 1000, maxBytes: 1 << 20, maxMsgSize: 1 << 16, duplicateWindowMs: 60_000 }), num_replicas: 1 },
        { ...kvStreamConfig(`${app}-results`, 60_000), num_replicas: 1 },
      ];
      const outcomes = await Promise.allSettled(managers.flatMap((jsm) => wants.map((w) => ensureStream(jsm, w))));
      const failed = outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason));
      assert.deepEqual(failed, [], `round ${round}: ${failed.length} of ${outcomes.length} failed`);
      // The queue's consumer, by the same eight at once.
      const consumers = await Promise.allSettled(
        managers.map((jsm) => ensureQueueConsumer(jsm, `${app}-tasks`, 'default', `${app}.tasks.default`, { ackWaitMs: 30_000, maxDeliver: 5, maxAckPending: 100 })),
      );
      const cFailed = consumers.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason));
      assert.deepEqual(cFailed, [], `round ${round}: consumers`);
    }
    const names: string[] = [];
    for await (const n of (managers[0] as (typeof managers)[0]).streams.names()) names.push(n);
    assert.equal(names.filter((n) => n.startsWith('race')).length, 20);
    assert.equal(names.filter((n) => n.startsWith('KV_race')).length, 20);
  } finally {
    await Promise.all(conns.map((nc) => nc.close()));
  }
});
