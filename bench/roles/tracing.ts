/**
 * Tracing set-up of a bench role, from BENCH_TRACING: unset = no SDK (the default, as in
 * production without OpenTelemetry); `sdk-100` = an SDK sampling every trace; `sdk-1` = parent-based
 * 1 % sampling. Spans go through a batch processor to an exporter that drops them (the cost measured
 * is creating, recording and batching spans, not shipping them).
 * @module
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';

const mode = process.env.BENCH_TRACING ?? '';
let ended: number | null = null;

/** Spans ended in this process (recorded ones), or null without an SDK: proves the SDK was in the path. */
export function spansEnded(): number | null {
  return ended;
}

if (mode === 'sdk-100' || mode === 'sdk-1') {
  ended = 0;
  const sampler = mode === 'sdk-100' ? new AlwaysOnSampler() : new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.01) });
  const provider = new BasicTracerProvider({
    sampler,
    spanProcessors: [
      {
        onStart: () => undefined,
        onEnd: () => void (ended = (ended ?? 0) + 1),
        forceFlush: async () => undefined,
        shutdown: async () => undefined,
      },
      new BatchSpanProcessor({ export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }), shutdown: async () => undefined }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  if (process.env.BENCH_TRACING_ALS !== '0') context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}
