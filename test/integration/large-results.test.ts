/**
 * Large results (ADR 0012) against a real nats-server: a ~3 MiB return value goes through the
 * `<app>-blobs` object store (the server's max_payload is 1 MiB) and comes back byte for byte; a
 * 100 MiB return fails the task with ResultTooLargeError; groups, chains and chords pass them on.
 */
import { describe } from 'node:test';
import { after, before } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { largeResultScenarios } from '../helpers/large-result-scenarios.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server?.kill();
});

describe('large results on nats://', () => {
  largeResultScenarios(() => ({ broker: server.url }), { big: 3 * 1024 * 1024, tooBig: 100 * 1024 * 1024 });
});
