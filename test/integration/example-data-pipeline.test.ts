/** examples/data-pipeline/main.ts with CELERIAC_BROKER_URL pointing at a real nats-server. */
import { after, before, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { checkDataPipelineExample } from '../helpers/data-pipeline-example.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('the data-pipeline example runs unchanged on NATS JetStream (chord join in KV, progress through KV watches)', async () => {
  await checkDataPipelineExample(server.url);
});

test('run again against the same broker (beat state and results of the first run kept), it prints the same lines and loads the same files', async () => {
  await checkDataPipelineExample(server.url);
});
