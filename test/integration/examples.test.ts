/** The examples with CELERIAC_BROKER_URL pointing at a real nats-server. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { until } from '../helpers/failure-scenarios.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';
import { AUDIT_LINES, CANVAS_LINES, SIGNING_LINES, FAILURES_LINES, HTTP_API_LINES, QUICKSTART_LINES, TRACING_LINES, TRACING_TREE, printedTrace, runExample } from '../helpers/run-example.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('the quickstart demo runs unchanged on NATS JetStream', async () => {
  const lines = (await runExample('examples/01-quickstart/main.ts', server.url)).trim().split('\n');
  assert.match(lines[0] ?? '', new RegExp(`^worker started on ${server.url.replace(/[.]/g, '\\.')} `));
  QUICKSTART_LINES.slice(1).forEach((re, i) => assert.match(lines[i + 1] ?? '', re));
  assert.ok(lines.includes('data.import SUCCESS     -> {"imported":5}'));
  assert.equal(lines.at(-1), 'done');
});

test('the failures example runs unchanged on NATS JetStream', async () => {
  const lines = (await runExample('examples/02-failures/main.ts', server.url)).trim().split('\n');
  assert.equal(lines.length, FAILURES_LINES.length, lines.join('\n'));
  FAILURES_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re));
});

test('the canvas example runs unchanged on NATS JetStream', async () => {
  const lines = (await runExample('examples/03-canvas/main.ts', server.url)).trim().split('\n');
  assert.equal(lines.length, CANVAS_LINES.length, lines.join('\n'));
  CANVAS_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re));
});

test('the audit-plugin example runs unchanged on NATS JetStream', async () => {
  const lines = (await runExample('examples/04-audit-plugin/main.ts', server.url)).trim().split('\n');
  assert.deepEqual(lines, AUDIT_LINES);
});

test('the message-signing example refuses the same messages on NATS JetStream', async () => {
  const lines = (await runExample('examples/06-message-signing/main.ts', server.url)).trim().split('\n');
  assert.equal(lines.length, SIGNING_LINES.length, lines.join('\n'));
  SIGNING_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re));
});

test('the tracing example prints the same single trace on NATS JetStream', async () => {
  const lines = (await runExample('examples/05-tracing/main.ts', server.url)).trim().split('\n');
  assert.equal(lines[0], `worker and API started on ${server.url}`);
  TRACING_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re));
  const { traces, spans } = printedTrace(lines.slice(TRACING_LINES.length));
  assert.equal(traces.length, 1, `one trace:\n${lines.join('\n')}`);
  assert.deepEqual(spans, TRACING_TREE, lines.join('\n'));
  assert.equal(lines.at(-1), 'done');
});

for (const framework of ['express', 'fastify']) {
  test(`the ${framework} example runs unchanged on NATS JetStream`, async () => {
    const lines = (await runExample(`examples/${framework}/main.ts`, server.url)).trim().split('\n');
    assert.equal(lines.length, HTTP_API_LINES.length + 1, lines.join('\n'));
    assert.equal(lines[0], `worker and API started on ${server.url}`);
    HTTP_API_LINES.forEach((re, i) => assert.match(lines[i + 1] ?? '', re, lines.join('\n')));
  });
}

/** A span as OTLP/HTTP JSON carries it, with the service that sent it. */
interface OtlpSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  attributes: Array<{ key: string; value: { intValue?: string | number } }>;
}
const OTLP_KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

test("the tracing example's README set-up: celeriac worker and serve.ts export that trace over OTLP/HTTP", async () => {
  const spans: OtlpSpan[] = [];
  const receiver = createServer((req, res) => {
    let data = '';
    req.on('data', (d: Buffer) => (data += d.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const body = JSON.parse(data) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const rs of body.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans) spans.push(...ss.spans.map((sp) => ({ ...sp, service })));
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
  };
  const worker = startWorkerProcess({ broker: server.url, app: 'orders', module: 'examples/05-tracing/tasks.ts', args: ['--cpu-threads', '1'], env: { ...otel, OTEL_SERVICE_NAME: 'orders-worker' } });
  const api = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../examples/05-tracing/serve.ts', import.meta.url))], {
    env: { ...process.env, ...otel, OTEL_SERVICE_NAME: 'orders-api', CELERIAC_BROKER_URL: server.url, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const apiExited = once(api, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const listening = new Promise<string>((resolve, reject) => {
    let out = '';
    api.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const url = /orders API on (\S+),/.exec(out)?.[1];
      if (url) resolve(url);
    });
    void apiExited.then(([code]) => reject(new Error(`serve.ts exited (${code}) before listening:\n${out}`)));
  });
  listening.catch(() => undefined);
  try {
    const [base] = await Promise.all([listening, worker.ready]);
    const order = { customer: 'Ada', lines: [{ sku: 'tea', qty: 2, cents: 450 }] };
    const posted = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(order) });
    assert.equal(posted.status, 202);
    const { id } = (await posted.json()) as { id: string };
    await until(async () => ((await (await fetch(`${base}/orders/${id}`)).json()) as { state: string }).state === 'SUCCESS', 20_000, 'the chain finished');
    // The CPU thread's SDK exports its batch on its timer (the pool keeps idle threads awake with tracing on).
    await until(() => spans.some((sp) => sp.name === 'checksum order'), 15_000, 'the CPU thread exported its span while the worker ran');
    worker.proc.kill('SIGTERM');
    api.kill('SIGTERM');
    assert.equal(await worker.exited, 0, worker.output());
    assert.equal((await apiExited)[0], 0);

    assert.equal(new Set(spans.map((sp) => sp.traceId)).size, 1, 'one trace');
    const ids = new Set(spans.map((sp) => sp.spanId));
    const tree: Array<[number, string, string, boolean]> = [];
    const draw = (sp: OtlpSpan, depth: number): void => {
      tree.push([depth, sp.name, OTLP_KINDS[sp.kind] ?? String(sp.kind), sp.attributes.some((a) => a.key === 'thread.id' && Number(a.value.intValue) > 0)]);
      const children = spans.filter((c) => c.parentSpanId === sp.spanId).sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
      for (const c of children) draw(c, depth + 1);
    };
    for (const root of spans.filter((sp) => !sp.parentSpanId || !ids.has(sp.parentSpanId))) draw(root, 0);
    assert.deepEqual(tree, TRACING_TREE, JSON.stringify(tree));
    assert.deepEqual(
      spans.map((sp) => `${sp.service}: ${sp.name}`).filter((x) => x.startsWith('orders-api')).sort(),
      ['orders-api: POST /orders', 'orders-api: apply chain', 'orders-api: publish orders.receive'],
    );
  } finally {
    if (worker.proc.exitCode === null && worker.proc.signalCode === null) worker.proc.kill('SIGKILL');
    if (api.exitCode === null && api.signalCode === null) api.kill('SIGKILL');
    receiver.close();
  }
});
