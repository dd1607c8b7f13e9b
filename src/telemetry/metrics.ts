/**
 * Worker metrics through the OpenTelemetry metrics API (`@opentelemetry/api` only). Instruments are
 * created when a worker node starts, if a meter provider is registered by then (register the SDK
 * before starting workers); without one, nothing is recorded and nothing is built per task.
 * @module
 */
import { type Counter, type Histogram, type ObservableGauge, metrics } from '@opentelemetry/api';
import { ATTR } from './attributes.ts';

/** Metric names (one table, like the span attributes). */
export const METRIC = {
  /** Counter: executions by final state (`celeriac.task.state`) and task name. */
  tasks: 'celeriac.tasks',
  /** Histogram (ms): execution time, by task name and state. */
  duration: 'celeriac.task.duration',
  /** Gauge: worker slots in use, by `celeriac.slot.kind` (`io`: tasks running, each holding an async slot; `cpu`: busy CPU threads). */
  slots: 'celeriac.slots.in_use',
  /** Gauge: messages in the dead-letter stream (refreshed every 15 s). */
  deadLetters: 'celeriac.dead_letters',
  /** Histogram (ms): from the broker storing a task's message to its execution starting (first delivery), by task and queue. */
  queueWait: 'celeriac.task.queue_wait',
  /** Gauge: messages waiting in a queue the worker consumes (broker consumer info, refreshed every 15 s), by `messaging.destination.name`. */
  queueDepth: 'celeriac.queue.depth',
  /** Gauge: messages of a queue delivered and not yet acknowledged, by `messaging.destination.name`. */
  queueInFlight: 'celeriac.queue.in_flight',
  /** Gauge: circuit-breaker state by `celeriac.circuit.key`: 0 closed, 1 half-open, 2 open. */
  circuitState: 'celeriac.circuit.state',
  /** Counter: messages refused by the signature checks, by `reason` and `celeriac.message.kind` (`task`, `control`, `kv`). */
  securityRejected: 'celeriac.security.rejected',
  /** Counter: CPU threads recycled by `maxTasksPerThread` / `maxMemoryPerThreadMb` (ADR 0012). */
  threadsRecycled: 'celeriac.cpu.threads_recycled',
} as const;

const CIRCUIT_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;
const circuits = new Map<string, number>();
let circuitGauge: ObservableGauge | undefined;

/**
 * Report a circuit breaker's state for the `celeriac.circuit.state` gauge (the circuit-breaker
 * plugin calls it on every change). No-op cost when no meter provider is registered.
 */
export function recordCircuitState(key: string, state: 'closed' | 'half-open' | 'open'): void {
  circuits.set(key, CIRCUIT_VALUE[state]);
  if (circuitGauge || !metricsActive()) return;
  circuitGauge = metrics.getMeter('celeriac', '0.1.0').createObservableGauge(METRIC.circuitState, { description: 'Circuit breaker state: 0 closed, 1 half-open, 2 open' });
  circuitGauge.addCallback((r) => {
    for (const [k, v] of circuits) r.observe(v, { 'celeriac.circuit.key': k });
  });
}

let securityCounter: Counter | undefined;

/**
 * Count a message refused by the signature checks (`celeriac.security.rejected`): `kind` is `task`,
 * `control` or `kv`, `reason` one of `unsigned`, `bad_signature`, `unknown_key`, `expired`,
 * `replayed`, `decrypt_failed`. No-op when no meter provider is registered.
 */
export function recordSecurityRejection(kind: 'task' | 'control' | 'kv', reason: string): void {
  if (!securityCounter) {
    if (!metricsActive()) return;
    securityCounter = metrics.getMeter('celeriac', '0.1.0').createCounter(METRIC.securityRejected, { description: 'Messages refused by signature, age, nonce or decryption checks' });
  }
  securityCounter.add(1, { reason, 'celeriac.message.kind': kind });
}

/** True when an SDK registered a meter provider. */
export function metricsActive(): boolean {
  return metrics.getMeterProvider().constructor.name !== 'NoopMeterProvider';
}

/** What a worker node measures. */
export interface WorkerMetrics {
  /** An execution attempt ended in `state` after `ms`. */
  execution(task: string, state: string, ms: number): void;
  /** A task's first execution started `ms` after its message was stored. */
  queueWait(task: string, queue: string, ms: number): void;
  /** Read the dead-letter and queue sizes now (they are read every 15 s otherwise). */
  refresh(): Promise<void>;
  /** Stop the observable gauges. */
  close(): void;
}

/** What the gauges read. */
export interface WorkerGaugeSources {
  ioSlotsInUse(): number;
  cpuThreadsBusy(): number;
  /** CPU threads recycled since the pool started. */
  cpuThreadsRecycled?(): number;
  /** Size of the dead-letter stream (async, cached between refreshes). */
  deadLetters(): Promise<number>;
  /** Depth and in-flight count of the queues the worker consumes (async, cached between refreshes). */
  queues(): Promise<Array<{ queue: string; depth: number; inFlight: number }>>;
  worker: string;
}

const DLQ_REFRESH_MS = 15_000;

/** The worker's instruments, or null when no meter provider is registered. */
export function createWorkerMetrics(src: WorkerGaugeSources): WorkerMetrics | null {
  if (!metricsActive()) return null;
  const meter = metrics.getMeter('celeriac', '0.1.0');
  const tasks: Counter = meter.createCounter(METRIC.tasks, { description: 'Task executions by final state' });
  const duration: Histogram = meter.createHistogram(METRIC.duration, { description: 'Task execution time', unit: 'ms' });
  const slots: ObservableGauge = meter.createObservableGauge(METRIC.slots, { description: 'Worker slots in use' });
  const dlq: ObservableGauge = meter.createObservableGauge(METRIC.deadLetters, { description: 'Messages in the dead-letter stream' });
  const wait: Histogram = meter.createHistogram(METRIC.queueWait, { description: 'Time a task waited in its queue before its first execution', unit: 'ms' });
  const depth: ObservableGauge = meter.createObservableGauge(METRIC.queueDepth, { description: 'Messages waiting in the queue' });
  const inFlight: ObservableGauge = meter.createObservableGauge(METRIC.queueInFlight, { description: 'Messages delivered and not acknowledged' });
  const recycled = meter.createObservableCounter(METRIC.threadsRecycled, { description: 'CPU threads recycled after passing maxTasksPerThread or maxMemoryPerThreadMb' });
  let dlqSize = 0;
  let queueSizes: Array<{ queue: string; depth: number; inFlight: number }> = [];
  const refresh = () =>
    Promise.all([
      src.deadLetters().then(
        (n) => (dlqSize = n),
        () => undefined,
      ),
      src.queues().then(
        (q) => (queueSizes = q),
        () => undefined,
      ),
    ]);
  void refresh();
  const timer = setInterval(refresh, DLQ_REFRESH_MS);
  timer.unref();
  const onSlots = (r: { observe(v: number, a?: Record<string, string>): void }) => {
    r.observe(src.ioSlotsInUse(), { 'celeriac.slot.kind': 'io', [ATTR.worker]: src.worker });
    r.observe(src.cpuThreadsBusy(), { 'celeriac.slot.kind': 'cpu', [ATTR.worker]: src.worker });
  };
  const onDlq = (r: { observe(v: number, a?: Record<string, string>): void }) => r.observe(dlqSize, { [ATTR.worker]: src.worker });
  const onDepth = (r: { observe(v: number, a?: Record<string, string>): void }) => {
    for (const q of queueSizes) r.observe(q.depth, { [ATTR.destination]: q.queue });
  };
  const onInFlight = (r: { observe(v: number, a?: Record<string, string>): void }) => {
    for (const q of queueSizes) r.observe(q.inFlight, { [ATTR.destination]: q.queue });
  };
  const onRecycled = (r: { observe(v: number, a?: Record<string, string>): void }) => r.observe(src.cpuThreadsRecycled?.() ?? 0, { [ATTR.worker]: src.worker });
  slots.addCallback(onSlots);
  recycled.addCallback(onRecycled);
  dlq.addCallback(onDlq);
  depth.addCallback(onDepth);
  inFlight.addCallback(onInFlight);
  return {
    execution(task, state, ms) {
      const a = { [ATTR.taskName]: task, [ATTR.taskState]: state };
      tasks.add(1, a);
      duration.record(ms, a);
    },
    async refresh() {
      await refresh();
    },
    queueWait(task, queue, ms) {
      wait.record(ms, { [ATTR.taskName]: task, [ATTR.destination]: queue });
    },
    close() {
      clearInterval(timer);
      slots.removeCallback(onSlots);
      recycled.removeCallback(onRecycled);
      dlq.removeCallback(onDlq);
      depth.removeCallback(onDepth);
      inFlight.removeCallback(onInFlight);
    },
  };
}
