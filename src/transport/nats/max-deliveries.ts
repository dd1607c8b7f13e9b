import type { JetStreamManager } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ExhaustedMessage } from '../transport.ts';
import { apiCode } from './provision.ts';
import { headerRecord } from './stream-scan.ts';

/** Options of {@link MaxDeliveriesBackstop}. */
export interface MaxDeliveriesBackstopOptions {
  app: string;
  /** The task stream whose consumers' advisories are handled. */
  stream: string;
  /** Advisories handled at once. @defaultValue 8 */
  concurrency?: number;
  onWarning?: ((msg: string) => void) | undefined;
  /**
   * Sweep for exhausted messages whose advisory nobody received (nats-server 2.9 emits it once, when
   * some pull request waits, possibly one of a client that just died). Every `everyMs`, for each
   * queue with nothing pending and nothing awaiting an ack, the messages still in the stream up to the
   * consumer's delivered sequence are exhausted: they are handled like advisories.
   */
  sweep?: { queues: () => Iterable<string>; subject: (queue: string) => string; maxDeliver: (queue: string) => number; everyMs: number };
}

/** Sequences read per queue per sweep, at most. */
const SWEEP_MAX_READS = 256;

interface Advisory {
  consumer: string;
  seq: number;
  deliveries: number;
}

const dec = new TextDecoder();
/** Advisories waiting beyond this many are dropped with a warning (their messages stay in the stream). */
const MAX_WAITING = 100_000;

/**
 * Turns `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.*` advisories into
 * {@link ExhaustedMessage}s: a core subscription in the queue group `<app>-dlq-backstop` (one process
 * of several handles each advisory), the message fetched by sequence from the task stream (skipped
 * when already gone), handed to the handler with bounded concurrency.
 */
export class MaxDeliveriesBackstop {
  readonly #sub: Subscription;
  readonly #waiting: Advisory[] = [];
  readonly #concurrency: number;
  readonly #idle = new Set<() => void>();
  #running = 0;
  #closed = false;

  readonly #nc: NatsConnection;

  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly o: MaxDeliveriesBackstopOptions,
    private readonly handler: (m: ExhaustedMessage) => Promise<void>,
  ) {
    this.#nc = nc;
    this.#concurrency = o.concurrency ?? 8;
    this.#sub = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${o.stream}.*`, {
      queue: `${o.app}-dlq-backstop`,
      callback: (_e, m) => this.#onAdvisory(m),
    });
    if (o.sweep) {
      const every = o.sweep.everyMs;
      this.#sweepTimer = setInterval(() => {
        if (this.#sweeping || this.#closed || nc.isClosed()) return;
        this.#sweeping = true;
        this.#sweepOnce()
          .catch((err) => this.o.onWarning?.(`max-deliveries sweep failed: ${(err as Error).message}`))
          .finally(() => (this.#sweeping = false));
      }, every);
      this.#sweepTimer.unref();
    }
  }

  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping = false;
  /** Sequences queued by a sweep recently (so a slow handler is not fed the same message twice). */
  readonly #swept = new Set<number>();

  /** One sweep over the queues (see {@link MaxDeliveriesBackstopOptions.sweep}). */
  async #sweepOnce(): Promise<void> {
    const sw = this.o.sweep;
    if (!sw) return;
    for (const queue of sw.queues()) {
      const info = await this.jsm.consumers.info(this.o.stream, queue);
      if (info.num_ack_pending > 0 || info.num_pending > 0) continue;
      await this.#purgeAcked(info.config.filter_subject, info.ack_floor.stream_seq);
      const from = info.ack_floor.stream_seq + 1;
      const to = Math.min(info.delivered.stream_seq, from + SWEEP_MAX_READS - 1);
      const subject = sw.subject(queue);
      for (let seq = from; seq <= to; seq++) {
        if (this.#swept.has(seq)) continue;
        let sm;
        try {
          sm = await this.jsm.streams.getMessage(this.o.stream, { seq });
        } catch (err) {
          if (apiCode(err) === 10037 || /no message found/i.test((err as Error).message)) continue;
          throw err;
        }
        if (!sm || sm.subject !== subject) continue;
        this.#swept.add(seq);
        if (this.#swept.size > 10_000) this.#swept.delete(this.#swept.values().next().value as number);
        this.#waiting.push({ consumer: queue, seq, deliveries: sw.maxDeliver(queue) });
      }
    }
    this.#pump();
  }

  /**
   * Remove acknowledged messages left in the WorkQueue stream. nats-server 2.9 persists a consumer's
   * ack floor but can lose the removal of the acked messages when it is killed (observed: 2,952
   * "zombies" after one SIGKILL during a 50k drain, docs/reliability.md). Nothing redelivers them,
   * but they take room under `maxQueuedTasks`, and a recreated consumer would run them again.
   * On 2.9 every message of the consumer's subject at or below its ack floor was acked (the floor
   * does not pass a message that ran out of deliveries: the sweep below finds those above it), so
   * purging them is safe. Other versions are left alone (not observed there, and a floor that passed
   * exhausted messages would purge what the backstop still has to dead-letter). Runs only while the
   * queue is idle and the stream still holds something that old.
   */
  async #purgeAcked(filter: string | undefined, floor: number): Promise<void> {
    if (!filter || floor <= 0 || !this.#nc.info?.version.startsWith('2.9.')) return;
    const si = await this.jsm.streams.info(this.o.stream);
    if (si.state.messages === 0 || si.state.first_seq > floor) return;
    const r = await this.jsm.streams.purge(this.o.stream, { filter, seq: floor + 1 });
    if (r.purged > 0) {
      this.o.onWarning?.(`removed ${r.purged} acknowledged message(s) of ${filter} left in ${this.o.stream} below the ack floor ${floor} (their removal was lost, e.g. by a broker crash)`);
    }
  }

  #onAdvisory(m: Msg): void {
    if (this.#closed) return;
    let a: { stream?: unknown; consumer?: unknown; stream_seq?: unknown; deliveries?: unknown };
    try {
      a = JSON.parse(dec.decode(m.data));
    } catch {
      this.o.onWarning?.(`unreadable max-deliveries advisory on ${m.subject}`);
      return;
    }
    if (a.stream !== this.o.stream || typeof a.consumer !== 'string' || typeof a.stream_seq !== 'number') return;
    if (this.#waiting.length >= MAX_WAITING) {
      this.o.onWarning?.(`max-deliveries backstop is behind: message ${a.stream_seq} of ${a.consumer} stays in ${this.o.stream}`);
      return;
    }
    this.#waiting.push({ consumer: a.consumer, seq: a.stream_seq, deliveries: typeof a.deliveries === 'number' ? a.deliveries : 0 });
    this.#pump();
  }

  #pump(): void {
    while (!this.#closed && this.#running < this.#concurrency) {
      const a = this.#waiting.shift();
      if (!a) break;
      this.#running++;
      this.#handle(a)
        .catch((err) => this.o.onWarning?.(`max-deliveries handler failed for message ${a.seq} of ${a.consumer}: ${(err as Error).message}`))
        .finally(() => {
          this.#running--;
          if (this.#running === 0) for (const f of [...this.#idle]) f();
          this.#pump();
        });
    }
  }

  async #handle(a: Advisory): Promise<void> {
    const sm = await this.jsm.streams.getMessage(this.o.stream, { seq: a.seq });
    if (!sm) return; // acked or removed meanwhile
    const { jsm } = this;
    const stream = this.o.stream;
    await this.handler({
      queue: a.consumer,
      sequence: a.seq,
      deliveries: a.deliveries,
      headers: headerRecord(sm.header),
      body: sm.data,
      async remove() {
        try {
          await jsm.streams.deleteMessage(stream, a.seq, false);
        } catch (err) {
          // Already gone (another handler, or acked late): the goal is reached.
          if (apiCode(err) === 10057 || apiCode(err) === 10037 || /not found|no message/i.test((err as Error).message)) return;
          throw err;
        }
      },
    });
  }

  /** Stop handling new advisories; resolves when running handlers finished (or after `waitMs`). */
  async close(waitMs = 5_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#waiting.length = 0;
    try {
      this.#sub.unsubscribe();
    } catch {
      /* connection already closed */
    }
    if (this.#running === 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, waitMs);
      t.unref();
      const idle = this.#idle;
      function done(): void {
        clearTimeout(t);
        idle.delete(done);
        resolve();
      }
      idle.add(done);
    });
  }
}
