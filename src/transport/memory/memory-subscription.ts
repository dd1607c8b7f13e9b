import type { IncomingMessage, PullOptions, QueueSettings, QueueSubscription } from '../transport.ts';
import type { MemoryPull, MemoryQueue, StoredMessage } from './memory-broker.ts';

/** Options of {@link MemorySubscription}. */
export interface MemorySubscriptionOptions {
  /** How long an unfilled pull waits for messages. */
  expiresMs: number;
  /** The queue's ack wait and max deliveries. */
  settings: QueueSettings;
  /** A message reached `settings.maxDeliver` and was given back: it is not redelivered. */
  onExhausted: (m: StoredMessage) => void;
  onClose: () => void;
}

/**
 * Credit-based subscription to a {@link MemoryQueue}. A message given back (nak, or still unsettled
 * an ack wait after the subscription closed) is redelivered unless it reached `maxDeliver`: then
 * it goes to `onExhausted`, as JetStream stops redelivering it and raises a MAX_DELIVERIES advisory.
 */
export class MemorySubscription implements QueueSubscription {
  readonly #pulls = new Set<MemoryPull>();
  readonly #unsettled = new Set<StoredMessage>();
  #closed = false;

  constructor(
    private readonly q: MemoryQueue,
    private readonly queueName: string,
    private readonly onMessage: (m: IncomingMessage) => void,
    private readonly o: MemorySubscriptionOptions,
  ) {
    q.subscribers++;
  }

  pull(n: number, options?: PullOptions): Promise<number> {
    if (this.#closed || n <= 0) return Promise.resolve(0);
    const noWait = options?.noWait === true;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const pull: MemoryPull = {
        remaining: n,
        delivered: 0,
        deliver: (m) => {
          this.#unsettled.add(m);
          this.onMessage(this.#wrap(m));
        },
        finish: () => {
          if (timer) clearTimeout(timer);
          this.#pulls.delete(pull);
          resolve(pull.delivered);
        },
      };
      this.#pulls.add(pull);
      this.q.pulls.push(pull);
      this.q.dispatch();
      if (pull.remaining > 0 && noWait) {
        const i = this.q.pulls.indexOf(pull);
        if (i >= 0) this.q.pulls.splice(i, 1);
        pull.finish();
      } else if (pull.remaining > 0) {
        timer = setTimeout(() => {
          const i = this.q.pulls.indexOf(pull);
          if (i >= 0) this.q.pulls.splice(i, 1);
          pull.finish();
        }, options?.expiresMs ?? this.o.expiresMs);
        timer.unref();
      }
    });
  }

  #wrap(m: StoredMessage): IncomingMessage {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      if (this.#unsettled.delete(m)) this.q.settled(m);
      return true;
    };
    const q = this.q;
    return {
      queue: this.queueName,
      body: m.body,
      delivery: { stream: q.name, sequence: m.seq, deliveryCount: m.deliveries, redelivered: m.deliveries > 1, storedAt: m.storedAt ?? 0 },
      header: (name) => m.headers[name],
      headerNames: () => Object.keys(m.headers),
      ack: () => {
        settle();
      },
      term: () => {
        settle();
      },
      nak: (delayMs) => {
        if (!settle()) return;
        this.#giveBack(m, delayMs ?? 0);
      },
      working: () => {},
    };
  }

  #giveBack(m: StoredMessage, delayMs: number): void {
    if (m.deliveries >= this.o.settings.maxDeliver) this.o.onExhausted(m);
    else requeue(this.q, m, delayMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.q.subscribers--;
    for (const p of [...this.#pulls]) {
      const i = this.q.pulls.indexOf(p);
      if (i >= 0) this.q.pulls.splice(i, 1);
      p.finish();
    }
    // Messages still held by running tasks stay theirs (acks still work after close, as on NATS);
    // what is not settled within AckWait goes back to the queue.
    if (this.#unsettled.size > 0) {
      const t = setTimeout(() => {
        for (const m of [...this.#unsettled]) {
          this.q.settled(m);
          this.#giveBack(m, 0);
        }
        this.#unsettled.clear();
      }, this.o.settings.ackWaitMs);
      t.unref();
    }
    this.o.onClose();
  }
}

function requeue(q: MemoryQueue, m: StoredMessage, delayMs: number): void {
  if (delayMs <= 0) {
    q.enqueue(m);
    return;
  }
  q.delayed.add(m);
  const t = setTimeout(() => {
    // Not there any more: purged.
    if (q.delayed.delete(m)) q.enqueue(m);
  }, delayMs);
  t.unref();
}
