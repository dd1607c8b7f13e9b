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
  /** When the broker stored the message, epoch ms (for the queue-wait metric), if known. */
  readonly storedAt?: number;
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
  /**
   * The headers are not needed for a while (the task is running): a transport that parsed them may
   * drop its parsed copy and parse again when asked. Optional; no visible effect.
   */
  releaseHeaders?(): void;
  /** Done: remove from the queue. */
  ack(): void;
  /** Give back for redelivery, after `delayMs` if given (default: at once). */
  nak(delayMs?: number): void;
  /** Never deliver again (poison / undecodable). */
  term(): void;
  /** Still working: extend the ack deadline. */
  working(): void;
}

/** Options of {@link QueueSubscription.pull}. */
export interface PullOptions {
  /** Deliver what is there now and end at once (JetStream `no_wait`) instead of waiting for more. */
  noWait?: boolean;
  /** Wait at most this long for messages (instead of the subscription's default). */
  expiresMs?: number;
}

/** Credit-based subscription: the transport never delivers more than was asked for. */
export interface QueueSubscription {
  /**
   * Ask for up to `n` messages; they are handed to the subscriber's callback as they arrive.
   * Resolves with the number delivered for this request once it ends (filled, expired, or closed).
   */
  pull(n: number, options?: PullOptions): Promise<number>;
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
  /** The current entry of `key`, or null when there is none (never written, deleted or expired). */
  get(key: string): Promise<KvEntry | null>;
  /**
   * Write a value. Resolves with the new revision.
   * @throws RevisionMismatchError when `expectRevision` does not match.
   */
  put(key: string, value: Uint8Array, options?: KvPutOptions): Promise<number>;
  /** Delete `key` (its history keeps a delete marker). */
  delete(key: string): Promise<void>;
  /** Call `onEntry` for every update of `key` from now on; returns an unsubscribe function. */
  watchKey(key: string, onEntry: (e: KvEntry) => void): () => void;
  /**
   * The current entry of every key (deleted/purged keys and expired entries left out), at most
   * `limit` of them (oldest revisions first). For small buckets (revocations, leases), not results.
   */
  entries(limit?: number): Promise<KvEntry[]>;
  /** Call `onEntry` for every stored write of any key from now on; returns an unsubscribe function. */
  watchAll(onEntry: (e: KvEntry) => void): () => void;
}

/** Options when opening a bucket. */
export interface KvBucketOptions {
  /** Entries expire after this long (bucket-wide max age). 0 = never. */
  ttlMs: number;
}

/** What a {@link BlobStore} knows of one stored object. */
export interface BlobInfo {
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
  /** `SHA-256=<base64url>` of the bytes (the JetStream object store's digest form). */
  readonly digest: string;
}

/**
 * Large values stored whole, outside any message (JetStream object store `OBJ_<bucket>`, or memory):
 * task results over the inline limit live here and the result record holds a reference (ADR 0012).
 */
export interface BlobStore {
  readonly bucket: string;
  /** Store `data` under `name` (replacing what was there); resolves once stored. */
  put(name: string, data: Uint8Array): Promise<BlobInfo>;
  /** The bytes, or null when there is no such object (never stored, deleted or expired). */
  get(name: string): Promise<Uint8Array | null>;
  /** Remove the object; nothing happens when it is not there. */
  delete(name: string): Promise<void>;
}

/** Options when opening a blob bucket. */
export interface BlobBucketOptions {
  /** Objects expire after this long (bucket-wide max age). 0 = never. */
  ttlMs: number;
}

/** Delivery settings of one queue (its durable consumer on NATS). */
export interface QueueSettings {
  /** How long a delivered, unacknowledged message waits before the broker redelivers it. */
  readonly ackWaitMs: number;
  /**
   * Deliveries after which the broker stops redelivering a message (JetStream `max_deliver`); the
   * dead-letter backstop (`Transport.onMaxDeliveries`) then moves it to the dead-letter stream.
   */
  readonly maxDeliver: number;
  /**
   * Priority bands: tasks with priority 7–9 go to `<queue>--hi`, 0–2 to `<queue>--lo`, the others
   * (and those without) to `<queue>`; consumers take from the higher bands first.
   */
  readonly priorities?: boolean;
}

/** A message in the dead-letter stream: the original headers and bytes plus `dlq-*` headers. */
export interface DeadLetter {
  /** Sequence in the dead-letter stream (the handle for `remove`). */
  readonly seq: number;
  /** Queue the task came from. */
  readonly queue: string;
  /** Task id (the `id` header), or `''` when the original message had none. */
  readonly taskId: string;
  /** Original headers plus the `dlq-*` headers (reason, error, attempts, worker, ...). */
  readonly headers: Readonly<Record<string, string>>;
  /** The original message bytes, unchanged. */
  readonly body: Uint8Array;
  /** When it was dead-lettered. */
  readonly time: Date;
}

/** Options of {@link DeadLetterStore.list}. */
export interface DeadLetterListOptions {
  /** Only this queue. @defaultValue all queues */
  queue?: string;
  /** At most this many, oldest first. @defaultValue 1000 */
  limit?: number;
}

/**
 * The dead-letter stream (`<app>-dlq`, subjects `<app>.dlq.<queue>` on NATS). Entries are added by
 * the worker that gives up on a task, and by the max-deliveries backstop.
 */
export interface DeadLetterStore {
  /**
   * Store a dead letter; resolves once the broker stored it. Adding the same `dedupeId` twice within
   * the duplicate window stores one entry (the worker and the backstop may both try).
   */
  add(queue: string, dedupeId: string, headers: Record<string, string>, body: Uint8Array): Promise<void>;
  /** Entries, oldest first. */
  list(options?: DeadLetterListOptions): Promise<DeadLetter[]>;
  /** Number of entries (of one queue, or all). */
  count(queue?: string): Promise<number>;
  /** Remove one entry; false when it was not there. */
  remove(seq: number): Promise<boolean>;
  /** Remove every entry (of one queue, or all); resolves with how many were removed. */
  purge(queue?: string): Promise<number>;
}

/**
 * A message the broker stopped delivering because it reached `maxDeliver` (on NATS: from the
 * MAX_DELIVERIES advisory). The handler copies it to the dead-letter stream, then calls `remove()`.
 */
export interface ExhaustedMessage {
  readonly queue: string;
  /** Stream sequence of the message in the task stream. */
  readonly sequence: number;
  /** Deliveries the broker made. */
  readonly deliveries: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** Delete the message from the task stream. */
  remove(): Promise<void>;
}

/** A delayed task as the scheduler indexes it (headers only; the body is fetched when it fires). */
export interface DelayedEntry {
  /** Sequence in the delayed stream (the handle for `fetch` and `remove`). */
  readonly seq: number;
  /** Queue the task goes to when it is due. */
  readonly queue: string;
  /** Due time, epoch ms (the `eta` header; 0 when missing or unreadable: due at once). */
  readonly eta: number;
  /** Task id (`id` header), or `''`. */
  readonly taskId: string;
}

/** A delayed task read whole, to fire it. */
export interface DelayedMessage {
  readonly seq: number;
  readonly queue: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/**
 * The delayed-tasks stream (`<app>-delayed`, subjects `<app>.delayed.<queue>` on NATS, Limits
 * retention, file storage): tasks whose eta is in the future wait here, not in a queue, and the
 * scheduler moves each to its queue when it is due. Holds no ack-pending slot and burns no delivery.
 */
export interface DelayedStore {
  /**
   * Follow every stored entry: first those already there (oldest first), then new ones as they are
   * stored. `onReset` is called when the follower had to start over (e.g. after a reconnect): the
   * caller drops its index, and every entry still stored is delivered again. Returns a stop function.
   */
  follow(onEntry: (e: DelayedEntry) => void, onReset: () => void): () => void;
  /** The stored message, or null when it was removed (fired by someone else). */
  fetch(seq: number): Promise<DelayedMessage | null>;
  /** Remove a fired entry; false when it was not there. */
  remove(seq: number): Promise<boolean>;
  /** Entries, oldest first, at most `limit` (for `celeriac inspect scheduled`). */
  list(limit?: number): Promise<DelayedEntry[]>;
  /** Number of stored entries. */
  count(): Promise<number>;
}

/** Broker-side facts of one queue (`app.queueStats()`, `celeriac status`). */
export interface QueueStats {
  /** Queue name (a priority band is a queue of its own: `<queue>--hi`, `<queue>--lo`). */
  readonly queue: string;
  /** Messages waiting to be delivered (not yet handed to any worker). */
  readonly depth: number;
  /** Delivered and not yet acknowledged: running, or waiting for redelivery after a nak. */
  readonly inFlight: number;
  /** Of those, messages delivered more than once. */
  readonly redelivered: number;
  /** Pull requests of workers waiting for messages (idle capacity asking for work). */
  readonly waitingPulls: number;
  /** True when the queue has its consumer on the broker (some worker consumed it once). */
  readonly hasConsumer: boolean;
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
  /**
   * Provision the queue's consumer (idempotent; its ack wait and max deliveries come from the
   * transport's queue settings) and subscribe.
   */
  subscribe(queue: string, onMessage: (m: IncomingMessage) => void): Promise<QueueSubscription>;
  /**
   * Store a task whose eta is in the future in the delayed stream (its `Nats-Msg-Id` header
   * deduplicates, as for `publish`); resolves when stored.
   */
  publishDelayed(queue: string, task: EncodedTask): Promise<void>;
  /** The delayed-tasks stream (created on first use). */
  delayed(): Promise<DelayedStore>;
  /** Delivery settings of `queue` (ack wait, max deliveries). */
  queueSettings(queue: string): QueueSettings;
  /** The dead-letter stream (created on first use). */
  deadLetters(): Promise<DeadLetterStore>;
  /**
   * Handle messages of this app's queues that reached their max deliveries (the backstop for a
   * worker killed on the last attempt). With several workers, each message goes to one handler
   * (NATS queue group). A handler that throws leaves the message where it is. Returns a function
   * that stops handling.
   */
  onMaxDeliveries(handler: (m: ExhaustedMessage) => Promise<void>): () => void;
  /** Open (creating if needed) a key-value bucket. */
  openKv(bucket: string, options: KvBucketOptions): Promise<KeyValueStore>;
  /** Open (creating if needed) a blob bucket for values too large for a message (an object store on NATS). */
  openBlobs(bucket: string, options: BlobBucketOptions): Promise<BlobStore>;
  /**
   * Fire-and-forget message on a plain (non-stream) subject, e.g. a result notification to the
   * producer that asked for it. Lost if nobody listens. `replyTo` is the message's reply subject
   * (NATS request/reply): responders answer there.
   */
  notify(subject: string, headers: Record<string, string>, body: Uint8Array, replyTo?: string): void;
  /**
   * Listen on a plain subject. The interest is registered before any later publish of this transport
   * reaches the broker (same connection, in order). `replyTo` is the message's reply subject, if
   * it has one. Returns a function that stops listening.
   */
  listen(
    subject: string,
    onMessage: (header: (name: string) => string | undefined, body: Uint8Array, replyTo: string | undefined) => void,
  ): () => void;
  /** A new unique subject to receive replies on (`_INBOX.<nuid>` on NATS). */
  inbox(): string;
  /**
   * Broker-side facts of the app's queues: every queue that holds messages or has a consumer, by
   * name (or only `queue`). A queue unknown to the broker is reported with zeros.
   */
  queueStats(queue?: string): Promise<QueueStats[]>;
  /**
   * Remove every message of `queue`: waiting ones and those delivered but not acknowledged (their
   * late acks are then ignored). Delayed tasks and dead letters are not touched. Resolves with how
   * many were removed.
   */
  purgeQueue(queue: string): Promise<number>;
  /** Register a listener for connection status changes. */
  onStatus(listener: (s: TransportStatus, detail?: string) => void): () => void;
  /** Close the connection (pending acks are flushed). */
  close(): Promise<void>;
}
