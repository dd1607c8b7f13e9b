import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect, createInbox } from '@nats-io/transport-node';
import { type ResolvedNatsSecurityOptions, connectError, connectSecurity, permissionError } from './nats-auth.ts';
import { PayloadTooLargeError } from '../../errors.ts';
import type { EncodedTask } from '../../protocol/envelope.ts';
import { headerBytes } from '../../protocol/limits.ts';
import { taskStreamName, taskSubject, validateToken } from '../../protocol/names.ts';
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
import { LeanPublisher, encodedHeaders } from './lean-publisher.ts';
import { MaxDeliveriesBackstop } from './max-deliveries.ts';
import { NatsDeadLetterStore } from './nats-dead-letters.ts';
import { NatsDelayedStore } from './nats-delayed.ts';
import { NatsBlobStore } from './nats-blobs.ts';
import { NatsKeyValueStore } from './nats-kv.ts';
import {
  type TaskStreamLimits,
  apiCode,
  deadLetterStreamConfig,
  delayedStreamConfig,
  delayedSubject,
  ensureQueueConsumer,
  ensureStream,
  kvStreamConfig,
  taskStreamConfig,
} from './provision.ts';
import { PullSubscription, readHeaders } from './pull-subscription.ts';
import { redactUrl } from '../../util/redact-url.ts';

/** Options of the NATS transport (resolved by the app from its options). */
export interface NatsTransportOptions {
  app: string;
  /** Connection name shown by the server. */
  name?: string;
  /** `max_msgs` of the task stream, and of the delayed-tasks stream `<app>-delayed`. */
  maxQueueMessages: number;
  /** `max_bytes` of the task stream, and of the delayed-tasks stream. */
  maxQueueBytes: number;
  maxPayloadBytes: number;
  /** Also the duplicate window of the dead-letter and delayed-tasks streams. */
  duplicateWindowMs: number;
  /** Ack wait and max deliveries of each queue's consumer (set on creation, updated when they differ). */
  queueSettings: (queue: string) => QueueSettings;
  /** `max_msgs` of the dead-letter stream `<app>-dlq` (it drops its oldest entries beyond it). */
  maxDeadLetters: number;
  maxAckPending: number;
  publishTimeoutMs: number;
  pullExpiresMs: number;
  /** Called with warnings worth a log line. */
  onWarning?: (msg: string) => void;
  /**
   * Bring existing streams and buckets in line with these options (limits, TTLs). Off for clients
   * that do not know the app's settings, so they cannot reset them. @defaultValue true
   */
  updateExisting?: boolean;
  /** How often the max-deliveries backstop sweeps idle queues for exhausted messages. @defaultValue 10_000 */
  maxDeliveriesSweepMs?: number;
  /** Credentials, TLS and inbox prefix of the connection. @defaultValue none */
  security?: ResolvedNatsSecurityOptions;
  /** `num_replicas` of every stream and bucket this transport creates. @defaultValue 1 */
  replicas?: number;
}

const HEADER_SLACK = 8 * 1024;

/**
 * `nats://host:port[,host2:port]`: JetStream. One WorkQueue stream per app (`<app>-tasks`, subjects
 * `<app>.tasks.<queue>`), one durable pull consumer per queue, results in KV buckets, dead letters in
 * `<app>-dlq` (subjects `<app>.dlq.<queue>`) and delayed tasks in `<app>-delayed` (subjects
 * `<app>.delayed.<queue>`), both created on first use.
 */
export class NatsTransport implements Transport {
  readonly kind = 'nats' as const;
  readonly url: string;
  readonly #servers: string[];
  readonly #o: NatsTransportOptions;
  #nc: NatsConnection | undefined;
  #jsm: JetStreamManager | undefined;
  #js: JetStreamClient | undefined;
  #dlq: Promise<DeadLetterStore> | undefined;
  #delayed: Promise<NatsDelayedStore> | undefined;
  /** Set once the delayed-tasks stream is known to exist. */
  #delayedStore: NatsDelayedStore | undefined;
  readonly #backstops = new Set<MaxDeliveriesBackstop>();
  #pub: LeanPublisher | undefined;
  #connecting: Promise<void> | undefined;
  readonly #ensuredQueues = new Map<string, Promise<void>>();
  readonly #subs = new Set<PullSubscription>();
  readonly #listeners = new Set<(s: TransportStatus, d?: string) => void>();
  #closed = false;

  constructor(url: string, options: NatsTransportOptions) {
    this.#o = options;
    this.#servers = url
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => (s.includes('://') ? s : `nats://${s}`));
    this.url = redactUrl(this.#servers.join(','));
  }

  /** The underlying connection (for tests and tools). */
  get connection(): NatsConnection | undefined {
    return this.#nc;
  }

  connect(): Promise<void> {
    this.#connecting ??= this.#connect().catch((err) => {
      this.#connecting = undefined;
      throw err;
    });
    return this.#connecting;
  }

  async #connect(): Promise<void> {
    const security = this.#o.security ?? { auth: 'none' };
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: this.#servers,
        name: this.#o.name,
        noAsyncTraces: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        waitOnFirstConnect: false,
        ...connectSecurity(security),
      });
    } catch (err) {
      throw connectError(err, security, this.url);
    }
    this.#nc = nc;
    const jsm = await jetstreamManager(nc, { timeout: 10_000 }).catch((err: unknown) => {
      throw permissionError(err, 'checking JetStream ($JS.API.INFO)') ?? err;
    });
    this.#jsm = jsm;
    this.#js = jetstream(nc, { timeout: 10_000 });
    const pub = new LeanPublisher(nc, { timeoutMs: this.#o.publishTimeoutMs, inboxPrefix: this.#o.security?.inboxPrefix });
    void this.#watchStatus(nc);
    await this.#ensureStream(jsm, taskStreamConfig(taskStreamName(this.#o.app), this.#o.app, this.#limits()));
    // Publishing becomes possible only once the stream is known to exist.
    this.#pub = pub;
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      let mapped: TransportStatus | undefined;
      if (s.type === 'disconnect') mapped = 'disconnected';
      else if (s.type === 'reconnecting') mapped = 'reconnecting';
      else if (s.type === 'reconnect') {
        mapped = 'connected';
        // Pull requests do not survive a reconnect: forget them so the intake re-asks.
        for (const sub of this.#subs) sub.resetRequests();
      } else if (s.type === 'close') mapped = 'closed';
      else if (s.type === 'error') {
        const pe = permissionError(s.error, 'NATS refused an operation');
        if (pe) {
          this.#o.onWarning?.(pe.message);
          // A refused publish gets no PubAck: fail its callers now rather than at the timeout.
          const { operation, subject } = s.error as { operation?: string; subject?: string };
          if (operation === 'publish' && subject) this.#pub?.failSubject(subject, permissionError(s.error, `publish to "${subject}"`) ?? pe);
        }
      }
      if (mapped) for (const l of this.#listeners) l(mapped, 'server' in s ? String(s.server) : undefined);
    }
  }

  #require(): { nc: NatsConnection; jsm: JetStreamManager; js: JetStreamClient; pub: LeanPublisher } {
    if (!this.#nc || !this.#jsm || !this.#js || !this.#pub) throw new Error('NatsTransport used before connect()');
    return { nc: this.#nc, jsm: this.#jsm, js: this.#js, pub: this.#pub };
  }

  /** {@link ensureStream} with this transport's replicas, update policy and warnings. */
  #ensureStream(jsm: JetStreamManager, cfg: Parameters<typeof ensureStream>[1]): Promise<void> {
    return ensureStream(jsm, Object.assign({}, cfg, { num_replicas: this.#o.replicas ?? 1 }), this.#o.updateExisting !== false, this.#o.onWarning);
  }

  #limits(): TaskStreamLimits {
    const o = this.#o;
    return { maxMsgs: o.maxQueueMessages, maxBytes: o.maxQueueBytes, maxMsgSize: o.maxPayloadBytes + HEADER_SLACK, duplicateWindowMs: o.duplicateWindowMs };
  }

  maxBodyBytes(headerBytes: number): number {
    const serverMax = this.#nc?.info?.max_payload ?? 1024 * 1024;
    return Math.min(this.#o.maxPayloadBytes, serverMax - headerBytes - 64);
  }

  publish(queue: string, task: EncodedTask): Promise<void> {
    // Once connected, stay synchronous up to the socket write: publishes issued in the same tick
    // then leave in one write instead of one per microtask hop.
    if (!this.#pub) return this.connect().then(() => this.publish(queue, task));
    const pub = this.#pub;
    const tooLarge = this.#sizeError(task);
    if (tooLarge) return Promise.reject(tooLarge);
    // The PubAck is not part of the contract: resolving with it saves a promise per publish.
    return pub.publish(this.#taskSubject(queue), task.body, task.headers, task.headerBytes) as Promise<unknown> as Promise<void>;
  }

  /**
   * Subjects of the queues published to, made once: a subject built per publish is a new
   * concatenated string that the frame writer has to flatten before reading it. Bounded (a
   * producer naming queues without end only rebuilds them now and then).
   */
  readonly #subjects = new Map<string, string>();
  #taskSubject(queue: string): string {
    let subject = this.#subjects.get(queue);
    if (subject === undefined) {
      if (this.#subjects.size >= 1024) this.#subjects.clear();
      subject = taskSubject(this.#o.app, queue);
      this.#subjects.set(queue, subject);
    }
    return subject;
  }

  #sizeError(task: EncodedTask): PayloadTooLargeError | undefined {
    const max = this.maxBodyBytes(task.headerBytes ?? headerBytes(task.headers));
    if (task.body.length <= max) return undefined;
    return new PayloadTooLargeError(task.body.length, max, `the broker accepts at most ${max} bytes of body with these headers`);
  }

  /**
   * @throws InvalidArgumentError for a bad queue name; PayloadTooLargeError as `publish`.
   * @throws QueueFullError when the delayed-tasks stream is full; PublishError, TimeoutError.
   */
  async publishDelayed(queue: string, task: EncodedTask): Promise<void> {
    validateToken(queue, 'queue');
    if (!this.#delayedStore) await this.delayed();
    const tooLarge = this.#sizeError(task);
    if (tooLarge) throw tooLarge;
    await this.#require().pub.publish(delayedSubject(this.#o.app, queue), task.body, task.headers);
  }

  delayed(): Promise<DelayedStore> {
    this.#delayed ??= (async () => {
      await this.connect();
      const { nc, js, jsm, pub } = this.#require();
      await this.#ensureStream(jsm, delayedStreamConfig(this.#o.app, this.#limits()));
      const onReconnect = (cb: () => void) => this.onStatus((st) => st === 'connected' && cb());
      this.#delayedStore = new NatsDelayedStore(nc, js, jsm, pub, { app: this.#o.app, onReconnect, onWarning: this.#o.onWarning, inboxPrefix: this.#o.security?.inboxPrefix });
      return this.#delayedStore;
    })().catch((err) => {
      this.#delayed = undefined;
      throw err;
    });
    return this.#delayed;
  }

  #ensureQueue(queue: string): Promise<void> {
    let p = this.#ensuredQueues.get(queue);
    if (!p) {
      const { jsm } = this.#require();
      const { ackWaitMs, maxDeliver } = this.queueSettings(queue);
      p = ensureQueueConsumer(
        jsm,
        taskStreamName(this.#o.app),
        queue,
        taskSubject(this.#o.app, queue),
        { ackWaitMs, maxDeliver, maxAckPending: this.#o.maxAckPending },
        this.#o.onWarning,
      ).catch((err) => {
        this.#ensuredQueues.delete(queue);
        throw err;
      });
      this.#ensuredQueues.set(queue, p);
    }
    return p;
  }

  async subscribe(queue: string, onMessage: (m: IncomingMessage) => void): Promise<QueueSubscription> {
    await this.connect();
    await this.#ensureQueue(queue);
    const { nc } = this.#require();
    const sub = new PullSubscription(
      nc,
      {
        stream: taskStreamName(this.#o.app),
        consumer: queue,
        queue,
        expiresMs: this.#o.pullExpiresMs,
        inboxPrefix: this.#o.security?.inboxPrefix,
        onConsumerGone: () => {
          this.#ensuredQueues.delete(queue);
          this.#ensureQueue(queue).catch((err) => this.#o.onWarning?.(`re-creating consumer ${queue} failed: ${(err as Error).message}`));
        },
        onWarning: this.#o.onWarning,
      },
      onMessage,
    );
    this.#subs.add(sub);
    const close = sub.close.bind(sub);
    sub.close = async () => {
      this.#subs.delete(sub);
      await close();
    };
    return sub;
  }

  queueSettings(queue: string): QueueSettings {
    return this.#o.queueSettings(queue);
  }

  deadLetters(): Promise<DeadLetterStore> {
    this.#dlq ??= (async () => {
      await this.connect();
      const { js, jsm, pub } = this.#require();
      await this.#ensureStream(jsm, deadLetterStreamConfig(this.#o.app, this.#o.maxDeadLetters, this.#o.duplicateWindowMs));
      return new NatsDeadLetterStore(js, jsm, pub, { app: this.#o.app, maxDeadLetters: this.#o.maxDeadLetters, onWarning: this.#o.onWarning });
    })().catch((err) => {
      this.#dlq = undefined;
      throw err;
    });
    return this.#dlq;
  }

  onMaxDeliveries(handler: (m: ExhaustedMessage) => Promise<void>): () => void {
    if (this.#closed) return () => {};
    let stopped = false;
    let backstop: MaxDeliveriesBackstop | undefined;
    this.connect().then(
      () => {
        if (stopped || this.#closed) return;
        const { nc, jsm } = this.#require();
        backstop = new MaxDeliveriesBackstop(
          nc,
          jsm,
          {
            app: this.#o.app,
            stream: taskStreamName(this.#o.app),
            onWarning: this.#o.onWarning,
            sweep: {
              queues: () => this.#ensuredQueues.keys(),
              subject: (q) => taskSubject(this.#o.app, q),
              maxDeliver: (q) => this.queueSettings(q).maxDeliver,
              everyMs: this.#o.maxDeliveriesSweepMs ?? 10_000,
            },
          },
          handler,
        );
        this.#backstops.add(backstop);
      },
      (err) => this.#o.onWarning?.(`max-deliveries backstop not started: ${(err as Error).message}`),
    );
    return () => {
      stopped = true;
      if (backstop && this.#backstops.delete(backstop)) void backstop.close();
    };
  }

  async openKv(bucket: string, options: KvBucketOptions): Promise<KeyValueStore> {
    await this.connect();
    const { nc, jsm, pub } = this.#require();
    await this.#ensureStream(jsm, kvStreamConfig(bucket, options.ttlMs));
    const onReconnect = (cb: () => void) => {
      this.onStatus((st) => {
        if (st === 'connected') cb();
      });
    };
    return new NatsKeyValueStore(bucket, nc, jsm, pub, onReconnect, true);
  }

  /** An object store `OBJ_<bucket>` (created on first use with the TTL and this transport's replicas). */
  async openBlobs(bucket: string, options: BlobBucketOptions): Promise<BlobStore> {
    await this.connect();
    const { js, jsm } = this.#require();
    return NatsBlobStore.open(js, bucket, options.ttlMs, this.#o.replicas ?? 1, this.#o.updateExisting !== false ? jsm : undefined, this.#o.onWarning);
  }

  notify(subject: string, headers: Record<string, string>, body: Uint8Array, replyTo?: string): void {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return;
    nc.publish(subject, body, replyTo ? { headers: encodedHeaders(headers), reply: replyTo } : { headers: encodedHeaders(headers) });
  }

  listen(
    subject: string,
    onMessage: (header: (name: string) => string | undefined, body: Uint8Array, replyTo: string | undefined) => void,
  ): () => void {
    const { nc } = this.#require();
    const sub = nc.subscribe(subject, {
      callback: (_e, m) => {
        const hs = readHeaders(m);
        onMessage((n) => hs.get(n), m.data, m.reply || undefined);
      },
    });
    return () => {
      if (!nc.isClosed()) sub.unsubscribe();
    };
  }

  inbox(): string {
    return createInbox(this.#o.security?.inboxPrefix);
  }

  /**
   * Create (or bring in line) the durable consumer of `queue` without consuming: what `celeriac
   * provision -Q` does, so workers without the right to create consumers find them.
   */
  async ensureQueue(queue: string): Promise<void> {
    validateToken(queue, 'queue');
    await this.connect();
    await this.#ensureQueue(queue);
  }

  /**
   * From one stream info (per-subject counts) and the list of the stream's consumers: a queue's
   * depth is its consumer's `num_pending` (or the subject's count when it has no consumer yet).
   */
  async queueStats(queue?: string): Promise<QueueStats[]> {
    if (queue !== undefined) validateToken(queue, 'queue');
    await this.connect();
    const { jsm } = this.#require();
    const stream = taskStreamName(this.#o.app);
    const prefix = taskSubject(this.#o.app, '');
    const info = await jsm.streams.info(stream, { subjects_filter: queue === undefined ? `${prefix}>` : taskSubject(this.#o.app, queue) });
    const stored = new Map(Object.entries(info.state.subjects ?? {}).map(([subject, n]) => [subject.slice(prefix.length), n]));
    const consumers = new Map<string, { pending: number; ackPending: number; redelivered: number; waiting: number }>();
    if (queue === undefined) {
      for (const c of await jsm.consumers.list(stream).next()) {
        consumers.set(c.name, { pending: c.num_pending, ackPending: c.num_ack_pending, redelivered: c.num_redelivered, waiting: c.num_waiting });
      }
    } else {
      const c = await jsm.consumers.info(stream, queue).catch((err: unknown) => {
        if (apiCode(err) === 10014) return null; // consumer not found
        throw err;
      });
      if (c) consumers.set(c.name, { pending: c.num_pending, ackPending: c.num_ack_pending, redelivered: c.num_redelivered, waiting: c.num_waiting });
    }
    const names = queue !== undefined ? [queue] : [...new Set([...stored.keys(), ...consumers.keys()])].sort();
    return names.map((q) => {
      const c = consumers.get(q);
      return c
        ? { queue: q, depth: c.pending, inFlight: c.ackPending, redelivered: c.redelivered, waitingPulls: c.waiting, hasConsumer: true }
        : { queue: q, depth: stored.get(q) ?? 0, inFlight: 0, redelivered: 0, waitingPulls: 0, hasConsumer: false };
    });
  }

  async purgeQueue(queue: string): Promise<number> {
    validateToken(queue, 'queue');
    await this.connect();
    const { jsm } = this.#require();
    try {
      const r = await jsm.streams.purge(taskStreamName(this.#o.app), { filter: taskSubject(this.#o.app, queue) });
      return r.purged;
    } catch (err) {
      throw permissionError(err, `purging queue ${queue}`) ?? err;
    }
  }

  onStatus(listener: (s: TransportStatus, detail?: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#subs]) await s.close();
    const backstops = [...this.#backstops];
    this.#backstops.clear();
    // Handlers in flight may still add dead letters and remove messages: let them finish (bounded).
    await Promise.all(backstops.map((b) => b.close(this.#o.publishTimeoutMs)));
    await this.#delayedStore?.close();
    this.#pub?.close();
    const nc = this.#nc;
    if (nc && !nc.isClosed()) {
      try {
        await nc.drain();
      } catch {
        await nc.close();
      }
    }
  }
}
