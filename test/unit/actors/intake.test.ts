/** memory://: a worker's intake asks for messages as its slots come free. */
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { resetMemoryBroker } from '../../../src/testing.ts';
import { freedSlotTakesTheNextTask } from '../../helpers/intake-scenarios.ts';

test('memory://: with every slot busy on long tasks, a slot that comes free takes the next task at once', async () => {
  const broker = `in-${randomUUID()}`;
  try {
    await freedSlotTakesTheNextTask(`memory://${broker}`);
  } finally {
    resetMemoryBroker(broker);
  }
});
