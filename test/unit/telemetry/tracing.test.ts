/** Spans with the OpenTelemetry SDK's in-memory exporter (memory:// transport). */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { chain } from '../../../src/index.ts';
import { silentLogger } from '../../../src/testing.ts';
import { type SpanView, registerTestTracing } from '../../helpers/otel.ts';
import { until } from '../../helpers/failure-scenarios.ts';

const otel = registerTestTracing();
const f = await import('../../fixtures/traced-tasks.ts');
const worker = f.app.worker({ concurrency: 4, cpuThreads: 1, logger: silentLogger, tasksModule: new URL('../../fixtures/traced-tasks.ts', import.meta.url).href });
before(async () => {
  await worker.start();
});
after(async () => {
  await worker.stop();
  await f.app.close();
  otel.close();
});

const byName = (spans: SpanView[], name: string) => spans.filter((s) => s.name === name);
const one = (spans: SpanView[], name: string): SpanView => {
  const found = byName(spans, name);
  assert.equal(found.length, 1, `one span named ${name}, found ${found.length}: ${spans.map((s) => s.name).join(', ')}`);
  return found[0] as SpanView;
};

test('publish -> execute -> chained task -> CPU thread: one trace, each span the child of the one before', async () => {
  otel.reset();
  const root = trace.getTracer('test').startSpan('http request');
  const r = await trace.getTracer('test').startActiveSpan('POST /orders', async (span) => {
    const w = await chain(f.add.s(2, 3), f.crunch.s()).applyAsync();
    span.end();
    return w;
  });
  root.end();
  assert.equal(await r.get({ timeout: '10s' }), 10);
  await until(() => otel.spans().some((s) => s.name === 'crunch numbers'), 5000, 'the thread span arrived');
  await until(() => otel.spans().filter((s) => s.name.startsWith('process ')).length === 2, 5000, 'both executions ended');
  const spans = otel.spans();
  const http = one(spans, 'POST /orders');
  const apply = one(spans, 'apply chain');
  const pub1 = one(spans, 'publish traced.add');
  const run1 = one(spans, 'process traced.add');
  const pub2 = one(spans, 'publish traced.crunch');
  const run2 = one(spans, 'process traced.crunch');
  const inner = one(spans, 'crunch numbers');
  for (const s of [apply, pub1, run1, pub2, run2, inner]) assert.equal(s.traceId, http.traceId, `${s.name} is in the request's trace`);
  assert.equal(apply.parentSpanId, http.spanId);
  assert.equal(pub1.parentSpanId, apply.spanId);
  assert.equal(run1.parentSpanId, pub1.spanId);
  assert.equal(pub2.parentSpanId, run1.spanId, 'the chained task is published by the first execution');
  assert.equal(run2.parentSpanId, pub2.spanId);
  assert.equal(inner.parentSpanId, run2.spanId, 'a span created in the CPU thread belongs to the task');
  assert.equal(inner.thread, true);
  assert.equal(pub1.kind, SpanKind.PRODUCER);
  assert.equal(run1.kind, SpanKind.CONSUMER);
  assert.deepEqual(
    {
      system: run1.attributes['messaging.system'],
      destination: run1.attributes['messaging.destination.name'],
      op: run1.attributes['messaging.operation.type'],
      id: run1.attributes['messaging.message.id'],
      name: run1.attributes['celeriac.task.name'],
      state: run1.attributes['celeriac.task.state'],
      retries: run1.attributes['celeriac.task.retries'],
    },
    { system: 'nats', destination: 'default', op: 'process', id: run1.attributes['celeriac.task.id'], name: 'traced.add', state: 'SUCCESS', retries: 0 },
  );
  assert.equal(pub1.attributes['messaging.operation.type'], 'send');
  assert.equal(typeof run1.attributes['celeriac.worker'], 'string');
  assert.equal(run1.attributes['app.sum'], 5, 'ctx.span is the process span: the attribute the task set is on it');
});

test('ctx.span is undefined in a CPU thread', async () => {
  assert.equal(await (await f.cpuSpan.delay()).get({ timeout: '10s' }), false);
});

test('a retry: the second attempt is a child of the first, linked to the original publish, and the first has a retry event', async () => {
  otel.reset();
  const r = await f.flaky.delay();
  assert.equal(await r.get({ timeout: '10s' }), 'ok');
  await until(() => byName(otel.spans(), 'process traced.flaky').length === 2, 5000, 'two attempts');
  const spans = otel.spans();
  const pub = one(spans, 'publish traced.flaky');
  const [first, second] = byName(spans, 'process traced.flaky').sort((a, b) => Number(a.attributes['celeriac.task.retries']) - Number(b.attributes['celeriac.task.retries'])) as [SpanView, SpanView];
  assert.equal(first.parentSpanId, pub.spanId);
  assert.equal(first.attributes['celeriac.task.state'], 'RETRY');
  assert.ok(first.events.includes('celeriac.retry'));
  assert.equal(second.parentSpanId, first.spanId);
  assert.equal(second.attributes['celeriac.task.retries'], 1);
  assert.deepEqual(second.links, [{ traceId: pub.traceId, spanId: pub.spanId }], 'linked to the original publish');
  assert.equal(second.attributes['celeriac.task.state'], 'SUCCESS');
});

test('a failure marks the execution span as an error; a delayed run is linked to its publish', async () => {
  otel.reset();
  const boom = f.app.task('traced.boom', async () => {
    throw new TypeError('kaput');
  }, { deadLetter: false });
  void boom;
  // (registered after the worker started: it runs because the executor finds it in the registry)
  const r = await f.app.sendTask('traced.boom');
  await r.get({ timeout: '5s' }).catch(() => undefined);
  const later = await f.add.applyAsync([1, 1], { countdown: '200ms' });
  assert.equal(await later.get({ timeout: '10s' }), 2);
  await until(() => otel.spans().some((s) => s.name === 'process traced.add'), 5000, 'delayed run');
  const spans = otel.spans();
  const failed = one(spans, 'process traced.boom');
  assert.equal(failed.status, SpanStatusCode.ERROR);
  assert.equal(failed.attributes['celeriac.task.state'], 'FAILURE');
  const pub = one(spans, 'publish traced.add');
  const run = one(spans, 'process traced.add');
  assert.equal(run.parentSpanId, pub.spanId);
  assert.deepEqual(run.links, [{ traceId: pub.traceId, spanId: pub.spanId }]);
});

test('a running task revoked with terminate: its execution span ends REVOKED, with the revoke event', async () => {
  otel.reset();
  let started: () => void = () => undefined;
  const running = new Promise<void>((r) => (started = r));
  f.app.task('traced.stuck', () => {
    started();
    return new Promise(() => undefined); // never ends: the terminate abandons it
  });
  const r = await f.app.sendTask('traced.stuck');
  await running;
  // The kill comes from the control message, outside the task's span: the run must still settle in it.
  await f.app.control.revoke([r.id], { terminate: true });
  await assert.rejects(r.get({ timeout: '5s' }), /was revoked and terminated/);
  await until(() => otel.spans().some((s) => s.name === 'process traced.stuck'), 5000, 'the killed run ended');
  const run = one(otel.spans(), 'process traced.stuck');
  assert.equal(run.attributes['celeriac.task.state'], 'REVOKED');
  assert.ok(run.events.includes('celeriac.revoked'), `the revoke event is on the task's span: ${run.events.join(', ')}`);
});
