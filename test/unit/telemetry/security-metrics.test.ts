/** `celeriac.security.rejected` (ADR 0010) with the OpenTelemetry SDK's in-memory exporter: one point per reason and kind. */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, type DataPoint, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { createApp } from '../../../src/index.ts';
import { codecByName } from '../../../src/protocol/codec.ts';
import { controlSubject } from '../../../src/protocol/control.ts';
import { encodeTask } from '../../../src/protocol/envelope.ts';
import { revokedBucketName } from '../../../src/protocol/names.ts';
import { signControl } from '../../../src/protocol/signing.ts';
import { resetMemoryBroker, silentLogger } from '../../../src/testing.ts';

test('refused tasks, control requests and control-bucket values are counted by reason and kind', async () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  const broker = `secmet-${randomUUID()}`;
  const key = generateKeyPairSync('ed25519');
  const app = createApp({ name: 'secmet', broker: `memory://${broker}`, security: { signingKey: key.privateKey, keyId: 'k1' } });
  app.task('secmet.noop', async () => null);
  const w = app.worker({ logger: silentLogger, concurrency: 2 });
  await w.start();
  try {
    const t = app.transport();
    await t.publish('default', encodeTask({ task: 'secmet.noop', args: [] }, codecByName('msgpack')));
    const subject = controlSubject(app.name);
    const body = new TextEncoder().encode('{"command":"shutdown","arguments":{}}');
    const inbox = t.inbox();
    let replied!: () => void;
    const reply = new Promise<void>((r) => (replied = r));
    const off = t.listen(inbox, () => replied());
    t.notify(subject, signControl(subject, body, { id: 'k1', privateKey: generateKeyPairSync('ed25519').privateKey }), body, inbox);
    await reply;
    off();
    const raw = await t.openKv(revokedBucketName(app.name), { ttlMs: 0 });
    await raw.put(randomUUID(), new TextEncoder().encode('{"terminate":true}'));
    const sec = app.security;
    const end = Date.now() + 10_000;
    while ((sec?.rejected.unsigned ?? 0) < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await reader.forceFlush();
  } finally {
    await w.stop();
    await app.close();
    resetMemoryBroker(broker);
  }
  const all = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
  const m = all.filter((x) => x.descriptor.name === 'celeriac.security.rejected').at(-1);
  assert.ok(m, 'celeriac.security.rejected exported');
  const points = (m.dataPoints as Array<DataPoint<number>>).map((d) => `${d.attributes['celeriac.message.kind']}/${d.attributes.reason}=${d.value}`).sort();
  assert.deepEqual(points, ['control/bad_signature=1', 'kv/unsigned=1', 'task/unsigned=1']);
});
