import type { Lease } from '../results/lease.ts';
import { H } from '../protocol/headers.ts';
import type { DelayedStore, Transport } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import { EtaHeap } from '../util/eta-heap.ts';

/** Settings of {@link Scheduler}. */
export interface SchedulerSettings {
  transport: Pick<Transport, 'publish' | 'delayed' | 'onStatus'>;
  /** The `scheduler` lease: one leader at a time fires due tasks. */
  lease: Lease;
  logger: Logger;
  /** Fires in flight at once. @defaultValue 64 */
  maxInFlight?: number;
  /** Called when this process becomes or stops being the leader (beat runs on the same lease). */
  onLeadership?: (leading: boolean) => void;
  /**
   * True when the task already has a final result: it was fired and ran, but its removal from the
   * delayed stream was lost (a broker crash). It is then removed, not fired again — the broker's
   * duplicate window would not catch a copy that was already consumed.
   */
  isDone?: (taskId: string) => Promise<boolean>;
}

/** Counters of the worker's scheduler of delayed tasks (`inspect stats` → `scheduler`). */
export interface SchedulerStats {
  leading: boolean;
  /** Delayed tasks indexed (pending) on this leader. */
  pending: number;
  /** Tasks moved to their queue by this process. */
  fired: number;
  /** Fires that failed and were retried. */
  retries: number;
}

/** Longest sleep between two checks of the heap (a safety net for clock jumps). */
const MAX_SLEEP_MS = 1000;

/**
 * The scheduler: while it holds the lease, it indexes the delayed-tasks stream (headers only; it
 * keeps each entry's sequence and eta in a typed-array min-heap) and moves each task to its queue
 * when it is due — fetch by sequence, publish with the message's own `Nats-Msg-Id` (a double fire
 * across a failover is deduplicated by the broker), then remove it from the delayed stream. Nothing is held in a queue or a worker slot
 * while a task waits; a new leader rebuilds the index from the stream, so nothing is lost when a
 * leader dies.
 */
export class Scheduler {
  readonly #s: SchedulerSettings;
  /** Sequence and eta of each pending entry (the id and queue are read when it fires). */
  readonly #heap = new EtaHeap();
  /** Sequences indexed or being fired (follow may deliver an entry again after a reset). */
  readonly #known = new Set<number>();
  #store: DelayedStore | undefined;
  #unfollow: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** When the planned check runs (epoch ms). */
  #timerAt = 0;
  #renew: NodeJS.Timeout | undefined;
  #offStatus: (() => void) | undefined;
  #inFlight = 0;
  #leading = false;
  #stopped = false;
  #fired = 0;
  #retries = 0;

  constructor(settings: SchedulerSettings) {
    this.#s = settings;
  }

  /** Start contending for the lease (renewed every TTL/3). */
  async start(): Promise<void> {
    this.#store = await this.#s.transport.delayed();
    this.#offStatus = this.#s.transport.onStatus((st) => {
      if (st === 'connected') void this.#round();
    });
    await this.#round();
    this.#renew = setInterval(() => void this.#round(), Math.max(100, Math.floor(this.#s.lease.ttlMs / 3)));
    this.#renew.unref();
  }

  /** Counters. */
  stats(): SchedulerStats {
    return { leading: this.#leading, pending: this.#heap.size, fired: this.#fired, retries: this.#retries };
  }

  async #round(): Promise<void> {
    if (this.#stopped) return;
    let leading = false;
    try {
      leading = await this.#s.lease.tryAcquire();
    } catch (err) {
      // The store is unreachable: stay leader only while the lease we hold lasts.
      leading = this.#s.lease.held;
      if (!leading) this.#s.logger.warn('scheduler lease could not be renewed', { error: err });
    }
    if (this.#stopped) return;
    if (leading && !this.#leading) this.#lead();
    else if (!leading && this.#leading) this.#follow(false);
  }

  #lead(): void {
    this.#leading = true;
    this.#s.logger.info('scheduler: this process leads (fires delayed tasks)');
    this.#s.onLeadership?.(true);
    const store = this.#store as DelayedStore;
    this.#unfollow = store.follow(
      (e) => {
        if (this.#known.has(e.seq)) return;
        this.#known.add(e.seq);
        this.#heap.push(e.seq, e.eta);
        // Sooner than the check already planned (or none is planned): plan it for this one.
        if (this.#timer === undefined || e.eta < this.#timerAt) this.#wake(e.eta - Date.now());
      },
      () => {
        this.#heap.clear();
        this.#known.clear();
      },
    );
    this.#wake(0);
  }

  /** Stop leading (lease lost, or stop()). */
  #follow(stopping: boolean): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#unfollow?.();
    this.#unfollow = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#heap.clear();
    this.#known.clear();
    if (!stopping) this.#s.logger.warn('scheduler: lease lost; another process leads now');
    this.#s.onLeadership?.(false);
  }

  #wake(inMs: number): void {
    if (!this.#leading) return;
    clearTimeout(this.#timer);
    const ms = Math.max(0, Math.min(inMs, MAX_SLEEP_MS));
    this.#timerAt = Date.now() + ms;
    this.#timer = setTimeout(() => this.#tick(), ms);
    this.#timer.unref();
  }

  #tick(): void {
    this.#timer = undefined;
    if (!this.#leading) return;
    const max = this.#s.maxInFlight ?? 64;
    const now = Date.now();
    while (this.#heap.size > 0 && this.#heap.peekEta() <= now && this.#inFlight < max) {
      const seq = this.#heap.pop();
      this.#inFlight++;
      void this.#fire(seq).finally(() => {
        this.#inFlight--;
        this.#wake(0);
      });
    }
    if (this.#heap.size > 0 && this.#inFlight < max) this.#wake(this.#heap.peekEta() - Date.now());
  }

  async #fire(seq: number): Promise<void> {
    const store = this.#store as DelayedStore;
    let taskId = '';
    try {
      const m = await store.fetch(seq);
      if (m) {
        taskId = m.headers[H.id] ?? '';
        // Checked on every fire, not only for entries re-read after a reset: a fire whose delete
        // failed during a broker outage is retried from the heap, and after the broker's restart
        // its first copy may already have run (tried; the restart test caught the doubles).
        // A task that stores no result (`ignore_result`) has nothing to look up: skip the KV get.
        const done = taskId !== '' && this.#s.isDone && m.headers[H.ignoreResult] !== 'true' ? await this.#s.isDone(taskId) : false;
        if (!done) await this.#s.transport.publish(m.queue, { id: taskId, headers: m.headers, body: m.body });
        await store.remove(seq);
        if (!done) this.#fired++;
      }
      this.#known.delete(seq);
    } catch (err) {
      // Broker trouble: try again in a second (the publish is deduplicated if it went through).
      this.#retries++;
      this.#s.logger.warn('scheduler: firing a delayed task failed; retrying', { id: taskId || undefined, seq, error: err });
      if (this.#leading) this.#heap.push(seq, Date.now() + 1000);
    }
  }

  /** Stop: no more fires; the lease is released so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#renew);
    this.#offStatus?.();
    this.#follow(true);
    const deadline = Date.now() + 5000;
    while (this.#inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.#s.lease.release().catch(() => undefined);
  }
}
