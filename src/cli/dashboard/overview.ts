import type { WorkerInfo } from '../../actors/worker-registry.ts';
import type { App } from '../../app/create-app.ts';
import type { QueueStats } from '../../transport/transport.ts';
import type { TaskTable } from './task-table.ts';
import type { QueueRates, Throughput, ThroughputSeries } from './throughput.ts';

/** A worker as the dashboard shows it: the registry entry plus its load and heartbeat age. */
export type WorkerView = WorkerInfo & {
  /** Tasks running / slots (0..1). */
  load: number;
  /** Milliseconds since the last heartbeat. */
  heartbeatAgeMs: number;
};

/** A queue as the dashboard shows it. Broker fields are null when the broker could not be asked. */
export interface QueueView {
  queue: string;
  depth: number | null;
  inFlight: number | null;
  redelivered: number | null;
  waitingPulls: number | null;
  hasConsumer: boolean | null;
  /** Online workers consuming the queue (from the worker registry). */
  consumers: number;
  /** Tasks received per second over the last minute (from events). */
  rate: number;
  /** Change of the depth per second since the previous sample (negative: draining), or null. */
  depthRate: number | null;
}

/** What the overview page shows and the live feed pushes every couple of seconds. */
export interface Overview {
  at: number;
  app: string;
  workers: WorkerView[];
  queues: QueueView[];
  /** Dead letters stored (null when the broker could not be asked). */
  deadLetters: number | null;
  tasks: { tracked: number; evicted: number };
  series: ThroughputSeries;
  /** What could not be read, e.g. `queues: <message>`. */
  errors: string[];
}

const BAND = /--(hi|lo)$/;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reads the overview from the app (worker registry, queue stats, dead-letter count) and the
 * dashboard's own counters. Concurrent callers share one read, and a read is reused for `cacheMs`,
 * so many open pages cost the broker the same as one.
 */
export class OverviewSource {
  readonly #samples = new Map<string, { depth: number; at: number; rate: number | null }>();
  #pending: Promise<Overview> | undefined;
  #last: Overview | undefined;

  constructor(
    private readonly app: App,
    private readonly table: TaskTable,
    private readonly throughput: Throughput,
    private readonly rates: QueueRates,
    private readonly cacheMs = 500,
  ) {}

  /** The worker registry, with load and heartbeat age. */
  async workers(now = Date.now()): Promise<WorkerView[]> {
    return (await this.app.workers()).map((w) => ({ ...w, load: w.concurrency > 0 ? w.active / w.concurrency : 0, heartbeatAgeMs: Math.max(0, now - w.heartbeatAt) }));
  }

  /** Queues: the broker's stats joined with the workers consuming them and the received rate. */
  async queues(workers?: WorkerView[], now = Date.now()): Promise<{ queues: QueueView[]; error: string | null }> {
    const ws = workers ?? (await this.workers(now).catch(() => []));
    let stats: QueueStats[] = [];
    let error: string | null = null;
    try {
      stats = await this.app.queueStats();
    } catch (err) {
      error = message(err);
    }
    const byName = new Map(stats.map((s) => [s.queue, s]));
    const names = new Set<string>([...byName.keys(), ...ws.flatMap((w) => w.queues), ...this.rates.queues()]);
    const queues = [...names].sort().map((queue): QueueView => {
      const s = byName.get(queue);
      const base = queue.replace(BAND, '');
      return {
        queue,
        depth: s?.depth ?? (error === null ? 0 : null),
        inFlight: s?.inFlight ?? (error === null ? 0 : null),
        redelivered: s?.redelivered ?? (error === null ? 0 : null),
        waitingPulls: s?.waitingPulls ?? (error === null ? 0 : null),
        hasConsumer: s?.hasConsumer ?? (error === null ? false : null),
        consumers: ws.filter((w) => w.online && (w.queues.includes(queue) || w.queues.includes(base))).length,
        rate: this.rates.rate(queue, now),
        depthRate: s ? this.#depthRate(queue, s.depth, now) : null,
      };
    });
    return { queues, error };
  }

  #depthRate(queue: string, depth: number, now: number): number | null {
    const prev = this.#samples.get(queue);
    if (prev && now - prev.at < 1000) return prev.rate;
    const rate = prev && now - prev.at <= 60_000 ? (depth - prev.depth) / ((now - prev.at) / 1000) : null;
    this.#samples.set(queue, { depth, at: now, rate });
    if (this.#samples.size > 1024) this.#samples.delete(this.#samples.keys().next().value as string);
    return rate;
  }

  /** The whole overview (shared and cached, see the class). */
  overview(): Promise<Overview> {
    const now = Date.now();
    if (this.#last && now - this.#last.at < this.cacheMs) return Promise.resolve(this.#last);
    this.#pending ??= this.#build().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #build(): Promise<Overview> {
    const now = Date.now();
    const errors: string[] = [];
    const [workers, deadLetters] = await Promise.all([
      this.workers(now).catch((err: unknown) => (errors.push(`workers: ${message(err)}`), [] as WorkerView[])),
      this.app.deadLetters.count().catch((err: unknown) => (errors.push(`dead letters: ${message(err)}`), null)),
    ]);
    const q = await this.queues(workers, now);
    if (q.error !== null) errors.push(`queues: ${q.error}`);
    this.#last = {
      at: now,
      app: this.app.name,
      workers,
      queues: q.queues,
      deadLetters,
      tasks: { tracked: this.table.size, evicted: this.table.evicted },
      series: this.throughput.series(now),
      errors,
    };
    return this.#last;
  }
}
