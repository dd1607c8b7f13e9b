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
  /** Gauge: worker slots in use, by `celeriac.slot.kind` (`io`: async slots in use; `cpu`: busy CPU threads). */
  slots: 'celeriac.slots.in_use',
  /** Gauge: messages in the dead-letter stream (refreshed every 15 s). */
  deadLetters: 'celeriac.dead_letters',
} as const;

/** True when an SDK registered a meter provider. */
export function metricsActive(): boolean {
  return metrics.getMeterProvider().constructor.name !== 'NoopMeterProvider';
}

/** What a worker node measures. */
export interface WorkerMetrics {
  /** An execution attempt ended in `state` after `ms`. */
  execution(task: string, state: string, ms: number): void;
  /** Stop the observable gauges. */
  close(): void;
}

/** What the gauges read. */
export interface WorkerGaugeSources {
  ioSlotsInUse(): number;
  cpuThreadsBusy(): number;
  /** Size of the dead-letter stream (async, cached between refreshes). */
  deadLetters(): Promise<number>;
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
  let dlqSize = 0;
  const refresh = () =>
    src.deadLetters().then(
      (n) => (dlqSize = n),
      () => undefined,
    );
  void refresh();
  const timer = setInterval(refresh, DLQ_REFRESH_MS);
  timer.unref();
  const onSlots = (r: { observe(v: number, a?: Record<string, string>): void }) => {
    r.observe(src.ioSlotsInUse(), { 'celeriac.slot.kind': 'io', [ATTR.worker]: src.worker });
    r.observe(src.cpuThreadsBusy(), { 'celeriac.slot.kind': 'cpu', [ATTR.worker]: src.worker });
  };
  const onDlq = (r: { observe(v: number, a?: Record<string, string>): void }) => r.observe(dlqSize, { [ATTR.worker]: src.worker });
  slots.addCallback(onSlots);
  dlq.addCallback(onDlq);
  return {
    execution(task, state, ms) {
      const a = { [ATTR.taskName]: task, [ATTR.taskState]: state };
      tasks.add(1, a);
      duration.record(ms, a);
    },
    close() {
      clearInterval(timer);
      slots.removeCallback(onSlots);
      dlq.removeCallback(onDlq);
    },
  };
}
