/** examples/image-processing with CELERIAC_BROKER_URL pointing at a real nats-server. */
import { after, before, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { checkImageProcessingExample } from '../helpers/image-processing-example.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('the image-processing example runs unchanged on NATS JetStream', async () => {
  await checkImageProcessingExample(server.url);
});

test('run again against the same broker, it prints the same lines (dead letters purged at start)', async () => {
  await checkImageProcessingExample(server.url);
});
