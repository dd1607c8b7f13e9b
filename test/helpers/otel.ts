/**
 * OpenTelemetry SDK set-up for tests: a global tracer provider with an in-memory exporter, the
 * AsyncLocalStorage context manager and the W3C propagator. In a CPU thread (where the tasks module
 * calls {@link registerThreadTracing}), finished spans are posted to the main thread over a
 * BroadcastChannel instead.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';

export const THREAD_SPANS_CHANNEL = 'celeriac-test-thread-spans';

/** A span as the tests compare them (also what a thread posts). */
export interface SpanView {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
  events: string[];
  links: Array<{ traceId: string; spanId: string }>;
  status: number;
  thread: boolean;
}

export function view(s: ReadableSpan, thread = false): SpanView {
  const parent = (s as ReadableSpan & { parentSpanContext?: { spanId: string }; parentSpanId?: string }).parentSpanContext?.spanId ?? (s as { parentSpanId?: string }).parentSpanId;
  return {
    name: s.name,
    kind: s.kind,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: parent,
    attributes: { ...s.attributes },
    events: s.events.map((e) => e.name),
    links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
    status: s.status.code,
    thread,
  };
}

function register(exporter: SpanExporter): void {
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

/** In the test process: spans in memory, plus the spans CPU threads post. */
export function registerTestTracing(): { spans(): SpanView[]; reset(): void; close(): void } {
  const exporter = new InMemorySpanExporter();
  register(exporter);
  const fromThreads: SpanView[] = [];
  const channel = new BroadcastChannel(THREAD_SPANS_CHANNEL);
  channel.onmessage = (e) => fromThreads.push(...((e as MessageEvent).data as SpanView[]));
  return {
    spans: () => [...exporter.getFinishedSpans().map((s) => view(s)), ...fromThreads],
    reset: () => {
      exporter.reset();
      fromThreads.length = 0;
    },
    close: () => channel.close(),
  };
}

/** In a CPU thread: finished spans go to the main thread. */
export function registerThreadTracing(): void {
  const channel = new BroadcastChannel(THREAD_SPANS_CHANNEL);
  channel.unref?.();
  register({
    export(spans: ReadableSpan[], done: (r: ExportResult) => void) {
      channel.postMessage(spans.map((s) => view(s, true)));
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: async () => channel.close(),
  });
}
