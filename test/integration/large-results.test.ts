/**
 * Large results (ADR 0012) against a real nats-server: a ~3 MiB return value goes through the
 * `<app>-blobs` object store (the server's max_payload is 1 MiB) and comes back byte for byte; a
 * 100 MiB return fails the task with ResultTooLargeError; groups, chains and chords pass them on.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createApp } from '../../src/index.ts';
import { provisionApp } from '../../src/app/provision-app.ts';
import { type NatsServerHandle, silentLogger, startNatsServer } from '../../src/testing.ts';
import { bytesOf, largeResultScenarios } from '../helpers/large-result-scenarios.ts';

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

test('the blob bucket is an object store created on first use, expiring with resultExpires', async () => {
  const name = `ttl-${randomUUID().slice(0, 8)}`;
  const app = createApp({ name, broker: server.url, resultExpires: '1h' });
  const big = app.task('ttl.big', () => bytesOf(2 * 1024 * 1024, 1));
  const worker = app.worker({ logger: silentLogger });
  await worker.start();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await assert.rejects(jsm.streams.info(`OBJ_${name}-blobs`), 'no bucket before a large result');
    assert.equal((await (await big.delay()).get({ timeout: '30s' })).length, 2 * 1024 * 1024);
    const info = await jsm.streams.info(`OBJ_${name}-blobs`);
    assert.equal(info.config.max_age, 3600 * 1e9);
    assert.equal(info.config.num_replicas, 1);
    assert.ok(info.state.bytes > 2 * 1024 * 1024, `stream holds the value (${info.state.bytes} bytes)`);
  } finally {
    await nc.close();
    await worker.stop();
    await app.close();
  }
});

test('celeriac provision creates the blob bucket too', async () => {
  const name = `prov-${randomUUID().slice(0, 8)}`;
  const app = createApp({ name, broker: server.url, resultExpires: '2h' });
  const nc = await connect({ servers: server.url });
  try {
    const report = await provisionApp(app, ['default']);
    assert.ok(report.streams.includes(`OBJ_${name}-blobs`), report.streams.join(','));
    const info = await (await jetstreamManager(nc)).streams.info(`OBJ_${name}-blobs`);
    assert.equal(info.config.max_age, 7200 * 1e9);
    // A later resultExpires is applied to the existing bucket, as to the KV buckets.
    const later = createApp({ name, broker: server.url, resultExpires: '3h' });
    try {
      await provisionApp(later, ['default']);
      assert.equal((await (await jetstreamManager(nc)).streams.info(`OBJ_${name}-blobs`)).config.max_age, 3 * 3600 * 1e9);
    } finally {
      await later.close();
    }
  } finally {
    await nc.close();
    await app.close();
  }
});
