/** Per-second counters of the last `seconds`, oldest first (what the charts draw). */
export interface ThroughputSeries {
  /** Epoch second of the first point. */
  start: number;
  /** Seconds between points. */
  step: 1;
  succeeded: number[];
  failed: number[];
  /** Median runtime (ms) of the tasks that succeeded in that second, or null. */
  p50: Array<number | null>;
  /** 95th percentile runtime (ms), or null. */
  p95: Array<number | null>;
}

/** Runtimes kept per second for the percentiles (a reservoir sample beyond this). */
const SAMPLE = 256;

interface Bucket {
  sec: number;
  succeeded: number;
  failed: number;
  runtimes: number[];
  seen: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/**
 * A ring buffer of one bucket per second over the last `seconds` (default 5 minutes): tasks
 * succeeded and failed, and a sample of runtimes for p50/p95. Buckets are keyed by the second the
 * dashboard received the event (not the worker's clock, which may be skewed).
 */
export class Throughput {
  readonly #ring: Bucket[];
  readonly #seconds: number;

  constructor(seconds = 300) {
    this.#seconds = seconds;
    this.#ring = Array.from({ length: seconds }, () => ({ sec: -1, succeeded: 0, failed: 0, runtimes: [], seen: 0 }));
  }

  #bucket(sec: number): Bucket {
    const b = this.#ring[sec % this.#seconds] as Bucket;
    if (b.sec !== sec) {
      b.sec = sec;
      b.succeeded = b.failed = b.seen = 0;
      b.runtimes = [];
    }
    return b;
  }

  /** Count a success (with its runtime, when known). */
  succeeded(runtimeMs: number | null, now = Date.now()): void {
    const b = this.#bucket(Math.floor(now / 1000));
    b.succeeded++;
    if (runtimeMs === null) return;
    b.seen++;
    if (b.runtimes.length < SAMPLE) b.runtimes.push(runtimeMs);
    else {
      const j = Math.floor(Math.random() * b.seen);
      if (j < SAMPLE) b.runtimes[j] = runtimeMs;
    }
  }

  /** Count a failure. */
  failed(now = Date.now()): void {
    this.#bucket(Math.floor(now / 1000)).failed++;
  }

  /** The last `seconds`, ending with the current second. */
  series(now = Date.now()): ThroughputSeries {
    const end = Math.floor(now / 1000);
    const start = end - this.#seconds + 1;
    const s: ThroughputSeries = { start, step: 1, succeeded: [], failed: [], p50: [], p95: [] };
    for (let sec = start; sec <= end; sec++) {
      const b = this.#ring[((sec % this.#seconds) + this.#seconds) % this.#seconds] as Bucket;
      const live = b.sec === sec;
      s.succeeded.push(live ? b.succeeded : 0);
      s.failed.push(live ? b.failed : 0);
      const sorted = live ? [...b.runtimes].sort((x, y) => x - y) : [];
      s.p50.push(percentile(sorted, 50));
      s.p95.push(percentile(sorted, 95));
    }
    return s;
  }
}

/**
 * Tasks received per queue per second over the last minute (from `task-received` events), for the
 * queues' "rate". At most `maxQueues` queues are tracked (the least recently active is dropped).
 */
export class QueueRates {
  readonly #queues = new Map<string, { secs: Int32Array; counts: Int32Array }>();
  readonly #window: number;
  readonly #maxQueues: number;

  constructor(windowSeconds = 60, maxQueues = 256) {
    this.#window = windowSeconds;
    this.#maxQueues = maxQueues;
  }

  /** Count a task received from `queue`. */
  received(queue: string, now = Date.now()): void {
    let q = this.#queues.get(queue);
    if (q) this.#queues.delete(queue);
    else {
      q = { secs: new Int32Array(this.#window).fill(-1), counts: new Int32Array(this.#window) };
      if (this.#queues.size >= this.#maxQueues) this.#queues.delete(this.#queues.keys().next().value as string);
    }
    this.#queues.set(queue, q);
    const sec = Math.floor(now / 1000);
    const i = sec % this.#window;
    if (q.secs[i] !== sec) {
      q.secs[i] = sec;
      q.counts[i] = 0;
    }
    q.counts[i] = (q.counts[i] as number) + 1;
  }

  /** Queues seen. */
  queues(): string[] {
    return [...this.#queues.keys()];
  }

  /** Mean tasks per second received from `queue` over the window. */
  rate(queue: string, now = Date.now()): number {
    const q = this.#queues.get(queue);
    if (!q) return 0;
    const sec = Math.floor(now / 1000);
    let n = 0;
    for (let i = 0; i < this.#window; i++) if ((q.secs[i] as number) > sec - this.#window) n += q.counts[i] as number;
    return n / this.#window;
  }
}
