/**
 * Tracing inside a CPU thread. Celeriac runs a CPU task in the trace context of its `process` span,
 * but each thread has its own OpenTelemetry globals: the spans a task creates there are recorded only
 * if the tasks module registers a tracer provider and a context manager in every thread as well.
 * tasks.ts calls {@link registerThreadTracing} when it is imported by a thread (the main thread is
 * set up by main.ts, serve.ts or `celeriac worker`).
 * @module
 */
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { THREAD_SPANS_CHANNEL, registerTracing, toFinishedSpan } from './print-trace.ts';

/** The rule `celeriac worker` applies (src/cli/otel.ts): do the OTEL_* variables ask for traces? */
export function tracesRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter !== undefined && exporter !== '' && exporter !== 'none') return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * When the OTEL_* variables ask for traces (the worker runs under `celeriac worker`, README.md), the
 * thread starts its own `@opentelemetry/sdk-node`, which exports to the same collector as the main
 * thread. Otherwise it posts each finished span on a BroadcastChannel, for main.ts to print.
 */
export async function registerThreadTracing(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (tracesRequested(env)) {
    const { NodeSDK } = await import('@opentelemetry/sdk-node');
    // Traces only: the main thread's SDK reports the worker's metrics.
    // Its batches go out every 5 s while the worker runs (with tracing on, the pool keeps idle
    // threads' event loops running), and the pool flushes them before it stops the threads.
    new NodeSDK({ ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: 'celeriac-worker' }), metricReaders: [], logRecordProcessors: [] }).start();
    return;
  }
  const channel = new BroadcastChannel(THREAD_SPANS_CHANNEL);
  channel.unref();
  registerTracing({
    export(spans: ReadableSpan[], done: (r: ExportResult) => void) {
      channel.postMessage(spans.map(toFinishedSpan));
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: async () => channel.close(),
  });
}
