/**
 * Where main.ts sends its spans, instead of a collector: a tracer provider with an in-memory
 * exporter in the main thread, the spans CPU threads post on a BroadcastChannel
 * (thread-tracing.ts), and a printer that draws them as one indented tree per trace:
 *
 * ```text
 * trace 4bf92f3577b34da6a3ce929d0e0e4736
 * POST /orders [SERVER] 9.8 ms
 *   apply chain [INTERNAL] 6.1 ms
 *     publish orders.receive [PRODUCER] 5.7 ms
 * ```
 * @module
 */
import { threadId } from 'node:worker_threads';
import { SpanKind, context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator, hrTimeToMilliseconds } from '@opentelemetry/core';
import { BasicTracerProvider, type ReadableSpan, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';

/** The BroadcastChannel CPU threads post their finished spans on. */
export const THREAD_SPANS_CHANNEL = 'celeriac-example-05-tracing';

/** A finished span, reduced to what the tree shows; a plain object, so it can cross threads. */
export interface FinishedSpan {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  startMs: number;
  durationMs: number;
  /** `threadId` of the thread that recorded it (0 = the main thread). */
  thread: number;
}

export function toFinishedSpan(s: ReadableSpan): FinishedSpan {
  return {
    name: s.name,
    kind: s.kind,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    startMs: hrTimeToMilliseconds(s.startTime),
    durationMs: hrTimeToMilliseconds(s.duration),
    thread: threadId,
  };
}

/**
 * Register a tracer provider that hands each finished span to `exporter` at once, with the
 * AsyncLocalStorage context manager (without one, `startActiveSpan` has no parent to find) and the
 * W3C propagator (the `traceparent` header Celeriac writes into each message).
 */
export function registerTracing(exporter: SpanExporter): void {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

/** The spans of this process: the main thread's and those its CPU threads posted. */
export interface SpanCollector {
  spans(): FinishedSpan[];
  /** Resolves true once `done(spans)` holds, false after `timeoutMs`. */
  waitFor(done: (spans: FinishedSpan[]) => boolean, timeoutMs: number): Promise<boolean>;
  close(): void;
}

/** Register tracing in the main thread and collect every finished span in memory. */
export function collectSpans(): SpanCollector {
  const spans: FinishedSpan[] = [];
  const waiters = new Set<() => void>();
  const add = (more: FinishedSpan[]): void => {
    spans.push(...more);
    for (const check of waiters) check();
  };
  registerTracing({
    export(batch: ReadableSpan[], done: (r: ExportResult) => void) {
      add(batch.map(toFinishedSpan));
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: async () => undefined,
  });
  const channel = new BroadcastChannel(THREAD_SPANS_CHANNEL);
  channel.onmessage = (e) => add((e as MessageEvent).data as FinishedSpan[]);
  return {
    spans: () => [...spans],
    waitFor: (done, timeoutMs) =>
      new Promise<boolean>((resolve) => {
        const finish = (ok: boolean): void => {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(ok);
        };
        const check = (): void => {
          if (done(spans)) finish(true);
        };
        const timer = setTimeout(() => finish(false), timeoutMs);
        waiters.add(check);
        check();
      }),
    close: () => channel.close(),
  };
}

/**
 * One block per trace (the oldest first): `trace <id>`, then each span as `name [KIND] <ms> ms`,
 * indented two spaces per level under its parent, siblings in start order. A span recorded in a CPU
 * thread ends in `, in CPU thread <n>`; one whose parent was not recorded in `(parent <id> not
 * recorded)`; one in another trace than its parent (which would be a bug) in `(in trace <id>)`.
 */
export function formatTrace(spans: readonly FinishedSpan[]): string {
  const sorted = [...spans].sort((a, b) => a.startMs - b.startMs);
  const ids = new Set(sorted.map((s) => s.spanId));
  const children = new Map<string, FinishedSpan[]>();
  for (const s of sorted) {
    if (s.parentSpanId && ids.has(s.parentSpanId)) children.set(s.parentSpanId, [...(children.get(s.parentSpanId) ?? []), s]);
  }
  const lines: string[] = [];
  const draw = (s: FinishedSpan, depth: number, traceId: string): void => {
    const thread = s.thread === 0 ? '' : `, in CPU thread ${s.thread}`;
    const orphan = s.parentSpanId && !ids.has(s.parentSpanId) ? ` (parent ${s.parentSpanId} not recorded)` : '';
    const otherTrace = s.traceId === traceId ? '' : ` (in trace ${s.traceId})`;
    lines.push(`${'  '.repeat(depth)}${s.name} [${SpanKind[s.kind]}] ${s.durationMs.toFixed(1)} ms${thread}${orphan}${otherTrace}`);
    for (const c of children.get(s.spanId) ?? []) draw(c, depth + 1, traceId);
  };
  const roots = sorted.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
  for (const traceId of new Set(roots.map((s) => s.traceId))) {
    lines.push(`trace ${traceId}`);
    for (const root of roots.filter((s) => s.traceId === traceId)) draw(root, 0, traceId);
  }
  return lines.join('\n');
}
