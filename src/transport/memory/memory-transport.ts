import { randomUUID } from 'node:crypto';
import { InvalidArgumentError, QueueFullError } from '../../errors.ts';
import type { EncodedTask } from '../../protocol/envelope.ts';
import { DEFAULT_MAX_DEAD_LETTERS } from '../dead-letter-headers.ts';
import { validateToken } from '../../protocol/names.ts';
import type {
  BlobBucketOptions,
  BlobStore,
  DeadLetterStore,
  DelayedStore,
  ExhaustedMessage,
  IncomingMessage,
  KeyValueStore,
  KvBucketOptions,
  QueueSettings,
  QueueStats,
  QueueSubscription,
  Transport,
  TransportStatus,
} from '../transport.ts';
import { type MemoryBroker, memoryBroker } from './memory-broker.ts';
import { MemoryDeadLetterStore } from './memory-dead-letters.ts';
import { MemoryDelayedStore, storeDelayed } from './memory-delayed.ts';
import { MemoryBlobStore } from './memory-blobs.ts';
import { MemoryKeyValueStore } from './memory-kv.ts';
import { MemorySubscription } from './memory-subscription.ts';

/** Options of the memory transport. */
export interface MemoryTransportOptions {
  /**
   * Maximum messages per queue, and of the delayed-tasks store, before a publish fails with
   * QueueFullError. @defaultValue 1_000_000
   */
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
  /**
   * Ack wait and max deliveries of each queue. A message given back after `maxDeliver` deliveries is
   * not redelivered but handed to the {@link MemoryTransport.onMaxDeliveries} handlers.
   * @defaultValue `() => ({ ackWaitMs: options.ackWaitMs ?? 30_000, maxDeliver: 10 })`
   */
  queueSettings?: (queue: string) => QueueSettings;
  /** Bound of the dead-letter store (the oldest entries are dropped beyond it). @defaultValue 1_000_000 */
  maxDeadLetters?: number;
  /** Called with warnings worth a log line (a failing max-deliveries handler, a full dead-letter store). */
  onWarning?: (msg: string) => void;
}

const DEDUPE_WINDOW_MS = 120_000;

/**
 * `memory://[name]`: in-process queues with the transport semantics of the NATS one (ack, nak with
 * redelivery, credit-bounded delivery, max deliveries, a dead-letter store, a delayed-tasks store). Apps
 * in one process that name the same broker share it; queues, dead letters, delayed tasks and
 * max-deliveries handlers are per namespace.
 */
export class MemoryTransport implements Transport {
  readonly kind = 'memory' as const;
  readonly url: string;
  readonly #broker: MemoryBroker;
  readonly #maxMessages: number;
  readonly #pullExpiresMs: number;
  readonly #ns: string;
  readonly #queueSettings: (queue: string) => QueueSettings;
  readonly #maxDeadLetters: number;
  readonly #onWarning: ((msg: string) => void) | undefined;
  readonly #stopHandlers = new Set<() => void>();
  readonly #subs = new Set<MemorySubscription>();
  #delayed: MemoryDelayedStore | undefined;
  #closed = false;

  /** @throws InvalidArgumentError when `maxDeadLetters` is not a positive integer. */
  constructor(url: string, options: MemoryTransportOptions = {}) {
    this.url = url;
    const name = url.replace(/^memory:\/\//, '') || 'default';
    this.#broker = memoryBroker(name);
    this.#maxMessages = options.maxMessages ?? 1_000_000;
    this.#pullExpiresMs = options.pullExpiresMs ?? 10_000;
    this.#ns = options.namespace ? `${options.namespace}.` : '';
    const defaults: QueueSettings = Object.freeze({ ackWaitMs: options.ackWaitMs ?? 30_000, maxDeliver: 10 });
    this.#queueSettings = options.queueSettings ?? (() => defaults);
    this.#maxDeadLetters = options.maxDeadLetters ?? DEFAULT_MAX_DEAD_LETTERS;
    if (!Number.isSafeInteger(this.#maxDeadLetters) || this.#maxDeadLetters <= 0) {
      throw new InvalidArgumentError(`options.maxDeadLetters must be a positive integer, got ${String(options.maxDeadLetters)}`);
    }
    this.#onWarning = options.onWarning;
  }

  async connect(): Promise<void> {}

  maxBodyBytes(): number {
    return Number.MAX_SAFE_INTEGER;
  }

  async publish(queue: string, task: EncodedTask): Promise<void> {
    const q = this.#broker.queue(this.#ns + queue, this.#maxMessages);
    const now = Date.now();
    const dedupeId = task.headers['Nats-Msg-Id'] ?? task.id;
    const seen = q.ids.get(dedupeId);
    if (seen !== undefined && now - seen < DEDUPE_WINDOW_MS) return; // Nats-Msg-Id semantics
    if (q.depth >= q.maxMessages) {
      throw new QueueFullError(`queue "${queue}" is full (${q.maxMessages} messages); the task was not enqueued`);
    }
    if (q.ids.size > 100_000) {
      for (const [id, t] of q.ids) if (now - t >= DEDUPE_WINDOW_MS || q.ids.size > 50_000) q.ids.delete(id);
    }
    q.ids.set(dedupeId, now);
    q.enqueue({ seq: q.nextSeq++, headers: task.headers, body: task.body, deliveries: 0, notBefore: 0, storedAt: now });
  }

  async subscribe(queue: string, onMessage: (m: IncomingMessage) => void): Promise<QueueSubscription> {
    const q = this.#broker.queue(this.#ns + queue, this.#maxMessages);
    const exhaustion = this.#broker.exhaustion(this.#ns);
    const sub = new MemorySubscription(q, queue, onMessage, {
      expiresMs: this.#pullExpiresMs,
      settings: this.queueSettings(queue),
      onExhausted: (m) => exhaustion.park(queue, q, m),
      onClose: () => this.#subs.delete(sub),
    });
    this.#subs.add(sub);
    return sub;
  }

  /**
   * Store a task in this namespace's delayed-tasks store (deduplicated by `Nats-Msg-Id` for 2 minutes).
   * @throws InvalidArgumentError for a bad queue name.
   * @throws QueueFullError when the store holds `maxMessages` tasks.
   */
  async publishDelayed(queue: string, task: EncodedTask): Promise<void> {
    storeDelayed(this.#broker.delayed(this.#ns), validateToken(queue, 'queue'), task, this.#maxMessages);
  }

  async delayed(): Promise<DelayedStore> {
    this.#delayed ??= new MemoryDelayedStore(this.#broker.delayed(this.#ns), this.#onWarning);
    return this.#delayed;
  }

  queueSettings(queue: string): QueueSettings {
    return this.#queueSettings(queue);
  }

  async deadLetters(): Promise<DeadLetterStore> {
    return new MemoryDeadLetterStore(this.#broker.deadLetters(this.#ns), this.#maxDeadLetters, this.#onWarning);
  }

  onMaxDeliveries(handler: (m: ExhaustedMessage) => Promise<void>): () => void {
    const unregister = this.#broker.exhaustion(this.#ns).register(handler, this.#onWarning);
    this.#stopHandlers.add(unregister);
    return () => {
      this.#stopHandlers.delete(unregister);
      unregister();
    };
  }

  async openBlobs(bucket: string, options: BlobBucketOptions): Promise<BlobStore> {
    return new MemoryBlobStore(bucket, this.#broker, options.ttlMs);
  }

  async openKv(bucket: string, options: KvBucketOptions): Promise<KeyValueStore> {
    return new MemoryKeyValueStore(bucket, this.#broker, options.ttlMs);
  }

  notify(subject: string, headers: Record<string, string>, body: Uint8Array, replyTo?: string): void {
    const ls = this.#broker.listeners.get(subject);
    if (ls) for (const l of [...ls]) queueMicrotask(() => l(headers, body, replyTo));
  }

  listen(
    subject: string,
    onMessage: (header: (name: string) => string | undefined, body: Uint8Array, replyTo: string | undefined) => void,
  ): () => void {
    let ls = this.#broker.listeners.get(subject);
    if (!ls) {
      ls = new Set();
      this.#broker.listeners.set(subject, ls);
    }
    const l = (headers: Record<string, string>, body: Uint8Array, replyTo: string | undefined) => onMessage((n) => headers[n], body, replyTo);
    ls.add(l);
    return () => {
      ls.delete(l);
      if (ls.size === 0) this.#broker.listeners.delete(subject);
    };
  }

  inbox(): string {
    return `_INBOX.${randomUUID().replace(/-/g, '')}`;
  }

  async queueStats(queue?: string): Promise<QueueStats[]> {
    const out: QueueStats[] = [];
    const names = queue !== undefined ? [this.#ns + validateToken(queue, 'queue')] : [...this.#broker.queues.keys()].filter((n) => n.startsWith(this.#ns));
    for (const name of names.sort()) {
      const q = this.#broker.queues.get(name);
      out.push({
        queue: name.slice(this.#ns.length),
        depth: q?.depth ?? 0,
        inFlight: q?.inFlight ?? 0,
        redelivered: q?.redeliveredInFlight ?? 0,
        waitingPulls: q?.pulls.length ?? 0,
        hasConsumer: (q?.subscribers ?? 0) > 0,
      });
    }
    return out;
  }

  async purgeQueue(queue: string): Promise<number> {
    const q = this.#broker.queues.get(this.#ns + validateToken(queue, 'queue'));
    return q ? q.purge() : 0;
  }

  onStatus(_listener: (s: TransportStatus) => void): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#subs]) await s.close();
    this.#delayed?.close();
    for (const stop of [...this.#stopHandlers]) stop();
    this.#stopHandlers.clear();
  }
}
