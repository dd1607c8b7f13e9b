import type { EncodedTask } from '../protocol/envelope.ts';

/** Delivery facts of the message that carried an execution. */
export interface DeliveryInfo {
  /** Stream (NATS) or queue (memory) the message came from. */
  readonly stream: string;
  /** Stream sequence (NATS) or a per-queue counter (memory). */
  readonly sequence: number;
  /** How many times the broker has delivered this message (1 on the first delivery). */
  readonly deliveryCount: number;
  /** True when `deliveryCount > 1`. */
  readonly redelivered: boolean;
}

/** A message delivered by a transport. Exactly one of ack/nak/term settles it. */
export interface IncomingMessage {
  readonly queue: string;
  readonly body: Uint8Array;
  readonly delivery: DeliveryInfo;
  /** Header value by exact name. */
  header(name: string): string | undefined;
  /** All header names present. */
  headerNames(): Iterable<string>;
  /** Done: remove from the queue. */
  ack(): void;
  /** Give back for redelivery, after `delayMs` if given (default: at once). */
  nak(delayMs?: number): void;
  /** Never deliver again (poison / undecodable). */
  term(): void;
  /** Still working: extend the ack deadline. */
  working(): void;
}

/** Credit-based subscription: the transport never delivers more than was asked for. */
export interface QueueSubscription {
  /**
   * Ask for up to `n` messages; they are handed to the subscriber's callback as they arrive.
   * Resolves with the number delivered for this request once it ends (filled, expired, or closed).
   */
  pull(n: number): Promise<number>;
  /** Stop: outstanding pulls resolve; undelivered credit is dropped. */
  close(): Promise<void>;
}

/** One stored entry of a key-value store. */
export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** Monotonic revision (the stream sequence for NATS KV). */
  readonly revision: number;
  readonly operation: 'PUT' | 'DEL' | 'PURGE';
}

/** Options of {@link KeyValueStore.put}. */
export interface KvPutOptions {
  /** Only write if the key's last revision is this one (0 = the key must not exist). */
  expectRevision?: number;
}

/** Minimal key-value store used for results (JetStream KV or in-memory). */
export interface KeyValueStore {
  readonly bucket: string;
  get(key: string): Promise<KvEntry | null>;
  /**
   * Write a value. Resolves with the new revision.
   * @throws RevisionMismatchError when `expectRevision` does not match.
   */
  put(key: string, value: Uint8Array, options?: KvPutOptions): Promise<number>;
  delete(key: string): Promise<void>;
  /** Call `onEntry` for every update of `key` from now on; returns an unsubscribe function. */
  watchKey(key: string, onEntry: (e: KvEntry) => void): () => void;
}

/** Options when opening a bucket. */
export interface KvBucketOptions {
  /** Entries expire after this long (bucket-wide max age). 0 = never. */
  ttlMs: number;
}

/** Connection state reported by a transport. */
export type TransportStatus = 'disconnected' | 'reconnecting' | 'connected' | 'closed';

/**
 * A broker. `memory://` and `nats://` implement this; everything above the transport layer only
 * speaks to this interface.
 */
export interface Transport {
  readonly kind: 'memory' | 'nats';
  /** Broker URL without credentials. */
  readonly url: string;
  /** Connect and provision app-wide resources (idempotent). */
  connect(): Promise<void>;
  /** Largest body the broker accepts for a message with `headerBytes` of headers. */
  maxBodyBytes(headerBytes: number): number;
  /** Publish a task to `queue`; resolves when the broker has stored it. */
  publish(queue: string, task: EncodedTask): Promise<void>;
  /** Provision the queue's consumer (idempotent) and subscribe. */
  subscribe(queue: string, onMessage: (m: IncomingMessage) => void): Promise<QueueSubscription>;
  /** Open (creating if needed) a key-value bucket. */
  openKv(bucket: string, options: KvBucketOptions): Promise<KeyValueStore>;
  /**
   * Fire-and-forget message on a plain (non-stream) subject, e.g. a result notification to the
   * producer that asked for it. Lost if nobody listens.
   */
  notify(subject: string, headers: Record<string, string>, body: Uint8Array): void;
  /**
   * Listen on a plain subject. The interest is registered before any later publish of this transport
   * reaches the broker (same connection, in order). Returns a function that stops listening.
   */
  listen(subject: string, onMessage: (header: (name: string) => string | undefined, body: Uint8Array) => void): () => void;
  /** Register a listener for connection status changes. */
  onStatus(listener: (s: TransportStatus, detail?: string) => void): () => void;
  /** Close the connection (pending acks are flushed). */
  close(): Promise<void>;
}
