/**
 * Parent-based sampling across a task's hops (memory:// transport, an SDK whose root sampler decides
 * by span name): a publish that is sampled out takes its decision along, so the worker's span and
 * what the task publishes are not sampled again as new roots (which made orphan `process` traces
 * with no publish above them).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Attributes, type Context, type Link, type SpanKind, context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, ParentBasedSampler, type Sampler, SamplingDecision, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createApp } from '../../../src/index.ts';
import { silentLogger } from '../../../src/testing.ts';
import { until } from '../../helpers/failure-scenarios.ts';

/** Roots are sampled unless their name is in `skip` (the rest follow their parent). */
class ByName implements Sampler {
  constructor(private readonly skip: ReadonlySet<string>) {}
  shouldSample(_ctx: Context, _traceId: string, name: string, _kind: SpanKind, _attrs: Attributes, _links: Link[]) {
    return { decision: this.skip.has(name) ? SamplingDecision.NOT_RECORD : SamplingDecision.RECORD_AND_SAMPLED };
  }
  toString(): string {
    return 'ByName';
  }
}

const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new BasicTracerProvider({
    sampler: new ParentBasedSampler({ root: new ByName(new Set(['publish sampled.parent', 'POST /skip'])) }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  }),
);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const app = createApp({ name: 'sampled', broker: 'memory://sampled' });
const child = app.task('sampled.child', async () => 'child done');
const parent = app.task('sampled.parent', async () => {
  const r = await child.delay();
  return r.id;
});
const worker = app.worker({ concurrency: 2, logger: silentLogger });

before(() => worker.start());
after(async () => {
  await worker.stop();
  await app.close();
});

const names = () => exporter.getFinishedSpans().map((s) => s.name).sort();

test('a sampled-out publish: neither its execution nor the task it publishes are recorded as new roots', async () => {
  exporter.reset();
  const childId = (await (await parent.delay()).get({ timeout: '5s' })) as string;
  assert.equal(await app.asyncResult(childId).get({ timeout: '5s' }), 'child done');
  await new Promise((r) => setTimeout(r, 100)); // an execution span ends just after its result is stored
  // Without the decision in the headers, "process sampled.parent" was a new (sampled) root, and so
  // were the child's publish and execution.
  assert.deepEqual(names(), []);
});

test('a sampled-out request span: the tasks it sends follow it', async () => {
  exporter.reset();
  await trace.getTracer('test').startActiveSpan('POST /skip', async (span) => {
    await (await child.delay()).get({ timeout: '5s' });
    span.end();
  });
  await new Promise((r) => setTimeout(r, 100)); // an execution span ends just after its result is stored
  assert.deepEqual(names(), []);
});

test('a sampled publish (the control): its execution and the task it publishes are recorded in its trace', async () => {
  exporter.reset();
  await trace.getTracer('test').startActiveSpan('POST /keep', async (span) => {
    await (await child.delay()).get({ timeout: '5s' });
    span.end();
  });
  await until(() => names().length >= 3, 5000, 'the execution span ended');
  const spans = exporter.getFinishedSpans();
  assert.deepEqual(names(), ['POST /keep', 'process sampled.child', 'publish sampled.child']);
  assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 1, 'one trace');
});
