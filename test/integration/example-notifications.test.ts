/** examples/notifications with CELERIAC_BROKER_URL pointing at a real nats-server. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApp } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { matchNotificationLines } from '../helpers/notifications-lines.ts';
import { runExample } from '../helpers/run-example.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('the notifications example runs unchanged on NATS JetStream, twice, and leaves its dead letters for inspection', async () => {
  // The second run starts from what the first left behind (its two dead letters): it must print the same.
  for (let run = 1; run <= 2; run++) {
    const started = Date.now();
    const next = matchNotificationLines(await runExample('examples/notifications/main.ts', server.url), (line, re) => assert.match(line, re, `run ${run}`));
    assert.ok(next.getTime() > started && next.getTime() <= Date.now() + 86_400_000, `next run ${next.toISOString()}`);
  }
  // What `celeriac dlq list` shows afterwards: the two undeliverable messages, the permanent error
  // not retried, the unreachable device after its three retries.
  const app = createApp({ name: 'notifications-demo', broker: server.url });
  try {
    const dead = await app.deadLetters.list();
    assert.deepEqual(
      dead.map((d) => [d.task, d.reason, d.queue, d.retries]),
      [
        ['notify.sms', 'failed', 'sms', 0],
        ['notify.push', 'retries-exhausted', 'push', 3],
      ],
    );
  } finally {
    await app.close();
  }
});
