/** examples/ecommerce-orders unchanged on NATS JetStream, twice against the same server. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApp } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { ECOMMERCE_ORDERS_LINES } from '../helpers/ecommerce-orders-lines.ts';
import { runExample } from '../helpers/run-example.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('the e-commerce example prints the same outcomes on NATS JetStream, run twice, and leaves no task queued', async () => {
  for (const run of [1, 2]) {
    const out = await runExample('examples/ecommerce-orders/main.ts', server.url);
    const lines = out.trim().split('\n');
    assert.equal(lines.length, ECOMMERCE_ORDERS_LINES.length, `run ${run}:\n${out}`);
    ECOMMERCE_ORDERS_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re, `run ${run}:\n${out}`));
  }
  // What stays on the broker: no task waits in the four queues, and nothing live is scheduled (a
  // revoked hour-ahead recheck may wait in the delayed stream until its eta; a worker skips it then).
  const app = createApp({ name: 'ecommerce-orders', broker: server.url });
  try {
    for (const q of ['orders', 'inventory', 'payments', 'email']) {
      const [stats] = await app.queueStats(q);
      assert.equal(stats?.depth ?? 0, 0, `queue ${q}`);
    }
    for (const e of await app.scheduled()) {
      assert.equal(e.task, 'inventory.recheck');
      assert.equal(await app.asyncResult(e.id).state(), 'REVOKED', `scheduled ${e.id}`);
    }
  } finally {
    await app.close();
  }
});
