/**
 * Spans of publishes and executions, through `@opentelemetry/api` only: with no SDK registered the
 * calls go to the API's no-op implementation (no allocation beyond a non-recording span). Trace
 * context travels in the message headers (`traceparent`/`tracestate`) via the registered propagator,
 * with a direct W3C parse as a fallback where no propagator is registered (a CPU thread).
 * @module
 */
import {
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  propagation,
  trace,
} from '@opentelemetry/api';
import { ATTR, LINK_HEADER } from './attributes.ts';

const TRACER_NAME = 'celeriac';
const TRACER_VERSION = '0.1.0';

/** The API's no-op provider (a fresh proxy delegates to it): what `trace` uses while no SDK is registered. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();
/** A span that records nothing, shared (what the API would return without an SDK). */
const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * True once an SDK registered a tracer provider. Checked per publish and per execution so that,
 * without one, no span, context or header is built at all (the cost without an SDK is one call).
 */
export function tracingActive(): boolean {
  const p = trace.getTracerProvider();
  return !(p instanceof ProxyTracerProvider) || p.getDelegate() !== NOOP_PROVIDER;
}

/**
 * Export what the registered tracer provider holds (its `forceFlush`, if it has one), waiting at most
 * `timeoutMs`. A CPU thread runs it before the pool terminates it, so spans its tasks created are not
 * lost in a batch.
 */
export async function flushTracerProvider(timeoutMs: number): Promise<void> {
  const p = trace.getTracerProvider();
  const d = (p instanceof ProxyTracerProvider ? p.getDelegate() : p) as { forceFlush?: () => Promise<void> };
  if (typeof d.forceFlush !== 'function') return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([d.forceFlush().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
  clearTimeout(timer);
}

// The API's proxy tracer follows a provider registered later, so one is enough.
let cachedTracer: ReturnType<typeof trace.getTracer> | undefined;
function tracer() {
  cachedTracer ??= trace.getTracer(TRACER_NAME, TRACER_VERSION);
  return cachedTracer;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A context from a W3C `traceparent` value (and `tracestate`), or null when it is missing or invalid. */
export function contextFromTraceparent(traceparent: string | undefined, base: Context = ROOT_CONTEXT): Context | null {
  if (!traceparent) return null;
  const m = TRACEPARENT.exec(traceparent.trim());
  if (!m || /^0+$/.test(m[1] as string) || /^0+$/.test(m[2] as string)) return null;
  return trace.setSpanContext(base, {
    traceId: m[1] as string,
    spanId: m[2] as string,
    traceFlags: Number.parseInt(m[3] as string, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  });
}

/** The context carried by headers: the registered propagator's, else a direct W3C parse. */
export function extractContext(get: (name: string) => string | undefined): Context {
  const keys = ['traceparent', 'tracestate', 'baggage'];
  const carrier: Record<string, string> = {};
  for (const k of keys) {
    const v = get(k);
    if (v !== undefined) carrier[k] = v;
  }
  if (!carrier.traceparent) return ROOT_CONTEXT;
  const extracted = propagation.extract(ROOT_CONTEXT, carrier);
  if (trace.getSpanContext(extracted)) return extracted;
  return contextFromTraceparent(carrier.traceparent) ?? ROOT_CONTEXT;
}

/** Write the span's context into `headers` (traceparent/tracestate), if it is valid. */
export function injectContext(ctx: Context, headers: Record<string, string>): void {
  propagation.inject(ctx, headers);
  if (headers.traceparent === undefined) {
    const sc = trace.getSpanContext(ctx);
    if (sc && trace.isSpanContextValid(sc)) headers.traceparent = `00-${sc.traceId}-${sc.spanId}-0${(sc.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
  }
}

/** The `traceparent` of a span (to hand to a CPU thread), or undefined. */
export function traceparentOf(span: Span): string | undefined {
  const sc = span.spanContext();
  if (!trace.isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-0${(sc.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
}

/**
 * Start the PRODUCER span of a publish (child of the active context) and write its context into
 * `headers`. End it with {@link endSpan}.
 */
export function startPublishSpan(task: string, id: string, queue: string, headers: Record<string, string>): Span {
  if (!tracingActive()) return NOOP_SPAN;
  const span = tracer().startSpan(`publish ${task}`, PRODUCER_OPTIONS);
  if (!span.isRecording()) {
    // Sampled out: no attributes, but the decision travels (traceparent with flags 00), so the
    // worker's span and what the task publishes follow it under parent-based sampling instead of
    // being sampled again as new roots.
    if (trace.isSpanContextValid(span.spanContext())) injectContext(trace.setSpan(context.active(), span), headers);
    return span;
  }
  span.setAttributes({
    [ATTR.messagingSystem]: 'nats',
    [ATTR.destination]: queue,
    [ATTR.messageId]: id,
    [ATTR.operationType]: 'send',
    [ATTR.operationName]: 'publish',
    [ATTR.taskName]: task,
    [ATTR.taskId]: id,
  });
  injectContext(trace.setSpan(context.active(), span), headers);
  return span;
}

const PRODUCER_OPTIONS = Object.freeze({ kind: SpanKind.PRODUCER });

/** What a CONSUMER span is started from. */
export interface ProcessSpanInput {
  task: string;
  id: string;
  queue: string;
  retries: number;
  worker: string;
  deliveryCount: number;
  rootId: string;
  /** Header lookup of the message (its trace context). */
  header: (name: string) => string | undefined;
  /** A retry or a delayed copy: link to the original publish. */
  linked: boolean;
}

/** Start the CONSUMER span of an execution attempt: child of the publish that sent it, linked to the original publish on retries and delayed runs. */
export function startProcessSpan(p: ProcessSpanInput): { span: Span; ctx: Context } {
  if (!tracingActive()) return { span: NOOP_SPAN, ctx: ROOT_CONTEXT };
  const parent = extractContext(p.header);
  const span = tracer().startSpan(`process ${p.task}`, CONSUMER_OPTIONS, parent);
  const ctx = trace.setSpan(parent, span);
  // Without an SDK the span does not record: nothing more is built (the no-SDK cost stays near zero).
  if (!span.isRecording()) return { span, ctx };
  const attributes: Attributes = {
    [ATTR.messagingSystem]: 'nats',
    [ATTR.destination]: p.queue,
    [ATTR.messageId]: p.id,
    [ATTR.operationType]: 'process',
    [ATTR.operationName]: 'process',
    [ATTR.deliveryCount]: p.deliveryCount,
    [ATTR.taskName]: p.task,
    [ATTR.taskId]: p.id,
    [ATTR.taskRetries]: p.retries,
    [ATTR.worker]: p.worker,
  };
  if (p.rootId !== p.id) attributes[ATTR.rootId] = p.rootId;
  span.setAttributes(attributes);
  if (p.linked) {
    const origin = contextFromTraceparent(p.header(LINK_HEADER)) ?? (p.retries === 0 ? parent : null);
    const sc = origin ? trace.getSpanContext(origin) : undefined;
    if (sc) span.addLink({ context: sc, attributes: { 'celeriac.link': p.retries > 0 ? 'original publish (retry)' : 'publish (delayed)' } });
  }
  return { span, ctx };
}

const CONSUMER_OPTIONS = Object.freeze({ kind: SpanKind.CONSUMER });

/** End a span, as an error when `err` is given. */
export function endSpan(span: Span, err?: unknown, state?: string): void {
  if (!span.isRecording()) {
    span.end();
    return;
  }
  if (state) span.setAttribute(ATTR.taskState, state);
  if (err !== undefined) {
    span.recordException(err instanceof Error ? err : { name: String((err as { name?: unknown })?.name ?? 'Error'), message: String((err as { message?: unknown })?.message ?? err) });
    span.setStatus({ code: SpanStatusCode.ERROR, message: String((err as { message?: unknown })?.message ?? err) });
  }
  span.end();
}

/** Add an event to the active span (no-op without a recording span): for middleware such as the circuit breaker. */
export function addSpanEvent(name: string, attributes?: Attributes): void {
  const span = trace.getActiveSpan();
  if (span?.isRecording()) span.addEvent(name, attributes);
}

/**
 * True when a span carries a trace context to run its work in: recorded or sampled out by an SDK
 * (its children must follow its sampling decision), not the no-op span of the API without one.
 */
export function carriesContext(span: Span): boolean {
  return span !== NOOP_SPAN && trace.isSpanContextValid(span.spanContext());
}

/** Run `fn` in the context of a span (so spans created inside are its children). */
export function withSpanContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

/** The active context (to hand on across a callback boundary). */
export function activeContext(): Context {
  return context.active();
}

/** Start an INTERNAL span (a workflow being applied) in the active context; returns it and its context. */
export function startInternalSpan(name: string, attributes: Attributes): { span: Span; ctx: Context } {
  if (!tracingActive()) return { span: NOOP_SPAN, ctx: context.active() };
  const span = tracer().startSpan(name, { kind: SpanKind.INTERNAL, attributes });
  return { span, ctx: trace.setSpan(context.active(), span) };
}
