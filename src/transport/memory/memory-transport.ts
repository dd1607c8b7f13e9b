import { QueueFullError } from '../../errors.ts';
import type { EncodedTask } from '../../protocol/envelope.ts';
import type {
  IncomingMessage,
  KeyValueStore,
  KvBucketOptions,
  QueueSubscription,
  Transport,
  TransportStatus,
} from '../transport.ts';
import { type MemoryBroker, type MemoryPull, type MemoryQueue, type StoredMessage, memoryBroker } from './memory-broker.ts';
import { MemoryKeyValueStore } from './memory-kv.ts';

/** Options of the memory transport. */
export interface MemoryTransportOptions {
  /** Maximum messages per queue before publish fails with QueueFullError. @defaultValue 1_000_000 */
  maxMessages?: number;
  /** How long an unfilled pull waits for messages. @defaultValue 10_000 */
  pullExpiresMs?: number;
  /** Queue names are prefixed with this (the app name), as NATS subjects are. @defaultValue `''` */
  namespace?: string;
  /**
   * Messages still held (unsettled) when their subscription closes go back to the queue after this
   * long, like JetStream's AckWait. @defaultValue 30_000
   */
  ackWaitMs?: number;
}

const DEDUPE_WINDOW_MS = 120_000;

/**
 * `memory://[name]`: in-process queues with the transport semantics of the NATS one (ack, nak with
 * redelivery, credit-bounded delivery). Apps in one process that name the same broker share it.
 */
export class MemoryTransport implements Transport {
  readonly kind = 'memory' as const;
  readonly url: string;
  readonly #broker: MemoryBroker;
  readonly #maxMessages: number;
  readonly #pullExpiresMs: number;
  readonly #ns: string;
  readonly #ackWaitMs: number;
  readonly #subs = new Set<MemorySubscription>();
  #closed = false;

  constructor(url: string, options: MemoryTransportOptions = {}) {
    this.url = url;
    const name = url.replace(/^memory:\/\//, '') || 'default';
    this.#broker = memoryBroker(name);
    this.#maxMessages = options.maxMessages ?? 1_000_000;
    this.#pullExpiresMs = options.pullExpiresMs ?? 10_000;
    this.#ns = options.namespace ? `${options.namespace}.` : '';
    this.#ackWaitMs = options.ackWaitMs ?? 30_000;
  }

  async connect(): Promise<void> {}

  maxBodyBytes(): number {
    return Number.MAX_SAFE_INTEGER;
  }

  async publish(queue: string, task: EncodedTask): Promise<void> {
    const q = this.#broker.queue(this.#ns + queue, this.#maxMessages);
    const now = Date.now();
    const seen = q.ids.get(task.id);
    if (seen !== undefined && now - seen < DEDUPE_WINDOW_MS) return; // Nats-Msg-Id semantics
    if (q.depth >= q.maxMessages) {
      throw new QueueFullError(`queue "${queue}" is full (${q.maxMessages} messages); the task was not enqueued`);
    }
    if (q.ids.size > 100_000) {
      for (const [id, t] of q.ids) if (now - t >= DEDUPE_WINDOW_MS || q.ids.size > 50_000) q.ids.delete(id);
    }
    q.ids.set(task.id, now);
    q.enqueue({ seq: q.nextSeq++, headers: task.headers, body: task.body, deliveries: 0, notBefore: 0 });
  }

  async subscribe(queue: string, onMessage: (m: IncomingMessage) => void): Promise<QueueSubscription> {
    const sub = new MemorySubscription(
      this.#broker.queue(this.#ns + queue, this.#maxMessages),
      queue,
      onMessage,
      this.#pullExpiresMs,
      this.#ackWaitMs,
      () => this.#subs.delete(sub),
    );
    this.#subs.add(sub);
    return sub;
  }

  async openKv(bucket: string, options: KvBucketOptions): Promise<KeyValueStore> {
    return new MemoryKeyValueStore(bucket, this.#broker, options.ttlMs);
  }

  notify(subject: string, headers: Record<string, string>, body: Uint8Array): void {
    const ls = this.#broker.listeners.get(subject);
    if (ls) for (const l of [...ls]) queueMicrotask(() => l(headers, body));
  }

  listen(subject: string, onMessage: (header: (name: string) => string | undefined, body: Uint8Array) => void): () => void {
    let ls = this.#broker.listeners.get(subject);
    if (!ls) {
      ls = new Set();
      this.#broker.listeners.set(subject, ls);
    }
    const l = (headers: Record<string, string>, body: Uint8Array) => onMessage((n) => headers[n], body);
    ls.add(l);
    return () => {
      ls.delete(l);
      if (ls.size === 0) this.#broker.listeners.delete(subject);
    };
  }

  onStatus(_listener: (s: TransportStatus) => void): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#subs]) await s.close();
  }
}

class MemorySubscription implements QueueSubscription {
  readonly #pulls = new Set<MemoryPull>();
  readonly #unsettled = new Set<StoredMessage>();
  #closed = false;

  constructor(
    private readonly q: MemoryQueue,
    private readonly queueName: string,
    private readonly onMessage: (m: IncomingMessage) => void,
    private readonly expiresMs: number,
    private readonly ackWaitMs: number,
    private readonly onClose: () => void,
  ) {}

  pull(n: number): Promise<number> {
    if (this.#closed || n <= 0) return Promise.resolve(0);
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
      if (pull.remaining > 0) {
        timer = setTimeout(() => {
          const i = this.q.pulls.indexOf(pull);
          if (i >= 0) this.q.pulls.splice(i, 1);
          pull.finish();
        }, this.expiresMs);
        timer.unref();
      }
    });
  }

  #wrap(m: StoredMessage): IncomingMessage {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      this.#unsettled.delete(m);
      return true;
    };
    const q = this.q;
    return {
      queue: this.queueName,
      body: m.body,
      delivery: { stream: q.name, sequence: m.seq, deliveryCount: m.deliveries, redelivered: m.deliveries > 1 },
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
        requeue(q, m, delayMs ?? 0);
      },
      working: () => {},
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of [...this.#pulls]) {
      const i = this.q.pulls.indexOf(p);
      if (i >= 0) this.q.pulls.splice(i, 1);
      p.finish();
    }
    // Messages still held by running tasks stay theirs (acks still work after close, as on NATS);
    // what is not settled within AckWait goes back to the queue.
    if (this.#unsettled.size > 0) {
      const t = setTimeout(() => {
        for (const m of [...this.#unsettled]) requeue(this.q, m, 0);
        this.#unsettled.clear();
      }, this.ackWaitMs);
      t.unref();
    }
    this.onClose();
  }
}

function requeue(q: MemoryQueue, m: StoredMessage, delayMs: number): void {
  if (delayMs <= 0) {
    q.enqueue(m);
    return;
  }
  q.delayed.add(m);
  const t = setTimeout(() => {
    q.delayed.delete(m);
    q.enqueue(m);
  }, delayMs);
  t.unref();
}
