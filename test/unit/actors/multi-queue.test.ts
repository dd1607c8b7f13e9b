/** memory://: a worker on several queues serves each of them promptly (the slots are shared). */
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { resetMemoryBroker } from '../../../src/testing.ts';
import { busyQueueDoesNotStarveAnother, idleQueuesServedPromptly } from '../../helpers/multi-queue-scenarios.ts';

for (const [name, scenario] of [
  ['an idle worker on three queues runs a task on each of them promptly', idleQueuesServedPromptly],
  ['a queue with a backlog does not starve another queue of the same worker', busyQueueDoesNotStarveAnother],
] as const) {
  test(`memory://: ${name}`, async () => {
    const broker = `mq-${randomUUID()}`;
    try {
      await scenario(`memory://${broker}`);
    } finally {
      resetMemoryBroker(broker);
    }
  });
}
