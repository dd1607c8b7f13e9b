/**
 * `celeriac worker` starts the OpenTelemetry SDK when OTEL_* variables ask for it and flushes it on
 * shutdown: a worker process exports its spans over OTLP/HTTP (JSON) to a receiver in this test.
 */
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createApp } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { until } from '../helpers/failure-scenarios.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';

let nats: NatsServerHandle;
let receiver: Server;
const bodies: unknown[] = [];
before(async () => {
  nats = await startNatsServer();
  receiver = createServer((req, res) => {
    let data = '';
    req.on('data', (d: Buffer) => (data += d.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(JSON.parse(data));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
});
after(async () => {
  receiver.close();
  await nats.stop();
});

type OtlpSpan = { name: string; kind: number; attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }> };

test('a worker started with OTEL_* variables exports its spans over OTLP/HTTP and flushes them on SIGTERM', async () => {
  const port = (receiver.address() as AddressInfo).port;
  const w = startWorkerProcess({
    broker: nats.url,
    app: 'otelcli',
    args: ['-n', 'otel-worker'],
    env: {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_SERVICE_NAME: 'otel-test-worker',
    },
  });
  await w.ready;
  const app = createApp({ name: 'otelcli', broker: nats.url });
  try {
    const r = await app.sendTask('math.add', [2, 3]);
    assert.equal(await r.get({ timeout: '10s' }), 5);
    w.proc.kill('SIGTERM');
    await w.exited;
    await until(() => bodies.length > 0, 5000, 'spans exported');
    const spans = bodies.flatMap((b) =>
      (b as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }).resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)),
    );
    const span = spans.find((s) => s.name === 'process math.add');
    assert.ok(span, `a process span was exported (got ${spans.map((s) => s.name).join(', ')})`);
    const attr = (k: string) => span.attributes.find((a) => a.key === k)?.value;
    assert.equal(attr('celeriac.task.id')?.stringValue, r.id);
    assert.equal(attr('celeriac.worker')?.stringValue, 'otel-worker');
    assert.equal(attr('celeriac.task.state')?.stringValue, 'SUCCESS');
    const service = JSON.stringify(bodies[0]).includes('otel-test-worker');
    assert.ok(service, 'the service name came from OTEL_SERVICE_NAME');
  } finally {
    if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
    await app.close();
  }
});

test('OTEL_* variables decide whether the SDK starts (none, OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED mean no)', async () => {
  const { telemetryRequested } = await import('../../src/cli/otel.ts');
  assert.equal(telemetryRequested({}), false);
  assert.equal(telemetryRequested({ OTEL_TRACES_EXPORTER: 'none' }), false);
  assert.equal(telemetryRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' }), true);
  assert.equal(telemetryRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x', OTEL_SDK_DISABLED: 'true' }), false);
});
