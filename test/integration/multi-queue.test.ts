/** NATS: a worker on several queues serves each of them promptly (the slots are shared). */
import { after, before, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { busyQueueDoesNotStarveAnother, idleQueuesServedPromptly } from '../helpers/multi-queue-scenarios.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('NATS: an idle worker on three queues runs a task on each of them promptly', () => idleQueuesServedPromptly(server.url));
test('NATS: a queue with a backlog does not starve another queue of the same worker', () => busyQueueDoesNotStarveAnother(server.url));
