/** NATS: a worker's intake asks for messages as its slots come free. */
import { after, before, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { freedSlotTakesTheNextTask } from '../helpers/intake-scenarios.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('NATS: with every slot busy on long tasks, a slot that comes free takes the next task at once', () => freedSlotTakesTheNextTask(server.url));
