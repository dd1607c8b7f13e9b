import type { Middleware } from './middleware.ts';
import { InvalidArgumentError } from '../errors.ts';
import type { SerializerName } from '../protocol/codec.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../protocol/envelope.ts';
import { validateToken } from '../protocol/names.ts';
import type { QueueSettings } from '../transport/transport.ts';
import { type NatsSecurityOptions, type ResolvedNatsSecurityOptions, resolveNatsSecurityOptions } from '../transport/nats/nats-auth.ts';
import { type Duration, parseDuration } from '../util/duration.ts';
import { unknownKeyMessage } from '../util/known-keys.ts';
import { type ResolvedSecurityOptions, type SecurityOptions, resolveSecurityOptions } from './security-options.ts';

/** Options of {@link createApp}. Every field is optional. */
export interface AppOptions {
  /** App name: prefixes streams, buckets and subjects (`[A-Za-z0-9_-]`). @defaultValue `'celeriac'` */
  name?: string;
  /** App-wide middleware, outermost first (same as `app.use(...)`). @defaultValue none */
  middleware?: readonly Middleware[];
  /** Producers publish a `task-sent` event per task (off by default, as in Celery: it doubles the messages per publish). @defaultValue false */
  sendSentEvents?: boolean;
  /** `'memory://'` (embedded) or `'nats://host:4222[,host2:4222]'`; `''` counts as not given. @defaultValue `'memory://'` */
  broker?: string;
  /**
   * Where results go: `'broker'` (the JetStream KV bucket on nats://, the embedded store on memory://)
   * or `'memory'` (this process only: for tests; workers in other processes cannot see it).
   * @defaultValue `'broker'`
   */
  resultBackend?: 'broker' | 'memory';
  /** Encoding of task bodies and results. @defaultValue `'msgpack'` */
  serializer?: SerializerName;
  /** Queue for tasks that name none. @defaultValue `'default'` */
  defaultQueue?: string;
  /** How long results are kept (KV bucket max age). @defaultValue `'1d'` */
  resultExpires?: Duration;
  /** Largest encoded task body accepted at publish. @defaultValue 1 MiB */
  maxPayloadBytes?: number;
  /**
   * Largest encoded value a task may return. A value over `maxPayloadBytes` (less 16 KiB for the
   * rest of the result record) is stored in the `<app>-blobs` object store by reference and read
   * back transparently; over `maxResultBytes` the task fails with `ResultTooLargeError` (ADR 0012).
   * @defaultValue 64 MiB
   */
  maxResultBytes?: number;
  /** Stream limit on queued tasks (all queues); a full stream refuses publishes. @defaultValue 1_000_000 */
  maxQueuedTasks?: number;
  /** Stream limit in bytes. @defaultValue 1 GiB */
  maxQueuedBytes?: number;
  /** JetStream AckWait: an unacknowledged task is redelivered after this. @defaultValue `'30s'` */
  ackWait?: Duration;
  /** Maximum unacknowledged tasks per queue across all workers. @defaultValue 10_000 */
  maxAckPending?: number;
  /** Give up on a publish without a broker acknowledgement after this. @defaultValue `'30s'` */
  publishTimeout?: Duration;
  /**
   * Window in which a re-published task id is deduplicated by the broker. It must cover the
   * publisher's re-send horizon (`publishTimeout`); the server remembers every id inside it, so a
   * longer window costs broker memory and CPU at high rates. @defaultValue `'2m'`
   */
  duplicateWindow?: Duration;
  /** Write a `STARTED` state when a task starts (one more result write per task). @defaultValue false */
  trackStarted?: boolean;
  /**
   * Deliveries of one message after which the broker stops redelivering it (JetStream `max_deliver`);
   * the dead-letter backstop then moves it to the dead-letter stream. Deliberate retries are new
   * messages and do not count. @defaultValue 10
   */
  maxDeliver?: number;
  /**
   * A task whose execution killed a worker process this many times goes to the dead-letter stream
   * instead of running again (crash attribution). @defaultValue 2
   */
  maxCrashes?: number;
  /** Per-queue overrides of `ackWait` and `maxDeliver`, e.g. `{ video: { ackWait: '5m' } }`. @defaultValue `{}` */
  queues?: Record<string, QueueOptions>;
  /** How long a revocation is remembered (workers skip a revoked task id until then). @defaultValue `'1d'` */
  revokeExpires?: Duration;
  /** Dead-letter stream limit (oldest entries are dropped beyond it, with a warning). @defaultValue 1_000_000 */
  maxDeadLetters?: number;
  /**
   * Apply these options to streams and buckets that already exist (limits, TTLs). The CLI turns it
   * off when it has no `-A` module, so a client that does not know the app's settings cannot reset
   * them. @defaultValue true
   */
  updateBrokerConfig?: boolean;
  /**
   * Credentials and TLS of the NATS connection: token, user/password, NKey, credentials file, TLS
   * and mutual TLS, inbox prefix (docs/guide/security.md). The CLI fills it from `CELERIAC_NATS_*`.
   * @defaultValue none (or user and password from the broker URL)
   */
  nats?: NatsSecurityOptions;
  /**
   * Replicas (`num_replicas`) of every stream and KV bucket Celeriac creates: 3 on a 3-node NATS
   * cluster survives the loss of one node (docs/guide/deployment.md). At most 5. @defaultValue 1
   */
  streamReplicas?: number;
  /**
   * Ed25519 signing (and optional AES-256-GCM encryption) of task messages, control requests and
   * control-bucket values; workers refuse unsigned, forged, expired or replayed ones before decoding
   * (docs/guide/message-signing.md). @defaultValue none (signing off)
   */
  security?: SecurityOptions;
}

/** Per-queue delivery settings (`createApp({ queues: { name: {...} } })`). */
export interface QueueOptions {
  /** AckWait of this queue. @defaultValue the app's `ackWait` */
  ackWait?: Duration;
  /** Max deliveries of this queue. @defaultValue the app's `maxDeliver` */
  maxDeliver?: number;
  /**
   * Priority bands (like Celery's declared priority queues): tasks with priority 7–9 go to the
   * band `<queue>--hi`, 0–2 to `<queue>--lo`, others to `<queue>`; workers take from higher bands
   * first (docs/guide/scheduling.md). @defaultValue false
   */
  priorities?: boolean;
}

/** {@link AppOptions} with defaults applied and durations in milliseconds. */
export interface ResolvedAppOptions {
  name: string;
  broker: string;
  resultBackend: 'broker' | 'memory';
  serializer: SerializerName;
  defaultQueue: string;
  resultExpiresMs: number;
  maxPayloadBytes: number;
  maxResultBytes: number;
  maxQueuedTasks: number;
  maxQueuedBytes: number;
  ackWaitMs: number;
  maxAckPending: number;
  publishTimeoutMs: number;
  duplicateWindowMs: number;
  trackStarted: boolean;
  maxDeliver: number;
  maxCrashes: number;
  /** Resolved per-queue overrides. */
  queues: Readonly<Record<string, QueueSettings>>;
  revokeExpiresMs: number;
  maxDeadLetters: number;
  updateBrokerConfig: boolean;
  sendSentEvents: boolean;
  nats: ResolvedNatsSecurityOptions;
  streamReplicas: number;
  /** Parsed keys and limits, or null when signing is off. */
  security: ResolvedSecurityOptions | null;
}

/** Delivery settings of `queue` under these options (its override, or the app-wide values). */
export function queueSettingsOf(o: Pick<ResolvedAppOptions, 'queues' | 'ackWaitMs' | 'maxDeliver'>, queue: string): QueueSettings {
  const base = baseQueue(queue);
  return Object.hasOwn(o.queues, base) ? (o.queues[base] as QueueSettings) : { ackWaitMs: o.ackWaitMs, maxDeliver: o.maxDeliver, priorities: false };
}

const BAND = /--(hi|lo)$/;

/** The queue a priority band belongs to (`orders--hi` → `orders`). */
export function baseQueue(queue: string): string {
  return queue.replace(BAND, '');
}

/** The band of `queue` a task of `priority` goes to, when the queue has priorities. */
export function bandQueue(queue: string, priority: number | null, settings: QueueSettings): string {
  if (!settings.priorities || priority === null) return queue;
  return priority >= 7 ? `${queue}--hi` : priority <= 2 ? `${queue}--lo` : queue;
}

/** Defaults of {@link AppOptions}. */
export const DEFAULT_APP_OPTIONS = {
  name: 'celeriac',
  broker: 'memory://',
  resultBackend: 'broker',
  serializer: 'msgpack',
  defaultQueue: 'default',
  resultExpires: '1d',
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  maxResultBytes: 64 * 1024 * 1024,
  maxQueuedTasks: 1_000_000,
  maxQueuedBytes: 1024 ** 3,
  ackWait: '30s',
  maxAckPending: 10_000,
  publishTimeout: '30s',
  duplicateWindow: '2m',
  trackStarted: false,
  maxDeliver: 10,
  maxCrashes: 2,
  queues: {},
  revokeExpires: '1d',
  maxDeadLetters: 1_000_000,
  updateBrokerConfig: true,
  sendSentEvents: false,
  streamReplicas: 1,
} as const satisfies Required<Omit<AppOptions, 'middleware' | 'nats' | 'security'>>;

function positiveInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new InvalidArgumentError(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function replicas(v: unknown): number {
  const n = positiveInt(v, 'options.streamReplicas');
  if (n > 5) throw new InvalidArgumentError(`options.streamReplicas must be at most 5 (the JetStream limit), got ${n}`);
  return n;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`${what} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

/** Every key of {@link AppOptions} (checked by the compiler both ways). */
const APP_OPTION_KEYS: ReadonlySet<string> = new Set(
  Object.keys({
    name: 1, middleware: 1, sendSentEvents: 1, broker: 1, resultBackend: 1, serializer: 1, defaultQueue: 1, resultExpires: 1, maxPayloadBytes: 1,
    maxResultBytes: 1, maxQueuedTasks: 1, maxQueuedBytes: 1, ackWait: 1, maxAckPending: 1, publishTimeout: 1, duplicateWindow: 1, trackStarted: 1,
    maxDeliver: 1, maxCrashes: 1, queues: 1, revokeExpires: 1, maxDeadLetters: 1, updateBrokerConfig: 1, nats: 1, streamReplicas: 1, security: 1,
  } satisfies Record<keyof AppOptions, 1>),
);

/**
 * Apply defaults and validate.
 * @throws InvalidArgumentError naming the option (also a key that is not an option: a typo is not ignored).
 */
export function resolveAppOptions(o: AppOptions = {}): ResolvedAppOptions {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('createApp(options): options must be an object');
  const unknown = unknownKeyMessage(o, APP_OPTION_KEYS, 'createApp options');
  if (unknown) throw new InvalidArgumentError(unknown);
  const d = DEFAULT_APP_OPTIONS;
  // An empty string (e.g. an unset-but-exported CELERIAC_BROKER_URL) means "not given".
  const broker = o.broker === undefined || o.broker === '' ? d.broker : o.broker;
  if (typeof broker !== 'string' || !/^(memory|nats):\/\//.test(broker)) {
    throw new InvalidArgumentError(`options.broker must start with 'memory://' or 'nats://', got ${JSON.stringify(broker)}`);
  }
  const resultBackend = o.resultBackend ?? d.resultBackend;
  if (resultBackend !== 'broker' && resultBackend !== 'memory') {
    throw new InvalidArgumentError(`options.resultBackend must be 'broker' or 'memory', got ${JSON.stringify(resultBackend)}`);
  }
  const serializer = o.serializer ?? d.serializer;
  if (serializer !== 'msgpack' && serializer !== 'json') {
    throw new InvalidArgumentError(`options.serializer must be 'msgpack' or 'json', got ${JSON.stringify(serializer)}`);
  }
  const ackWaitMs = parseDuration(o.ackWait ?? d.ackWait, 'options.ackWait');
  if (ackWaitMs < 1000) throw new InvalidArgumentError(`options.ackWait must be at least 1s, got ${ackWaitMs} ms`);
  const maxPayloadBytes = positiveInt(o.maxPayloadBytes ?? d.maxPayloadBytes, 'options.maxPayloadBytes');
  if (maxPayloadBytes > 64 * 1024 * 1024) throw new InvalidArgumentError('options.maxPayloadBytes must be at most 64 MiB');
  const maxResultBytes = positiveInt(o.maxResultBytes ?? d.maxResultBytes, 'options.maxResultBytes');
  if (maxResultBytes > 1024 ** 3) throw new InvalidArgumentError('options.maxResultBytes must be at most 1 GiB');
  if (o.trackStarted !== undefined && typeof o.trackStarted !== 'boolean') {
    throw new InvalidArgumentError('options.trackStarted must be a boolean');
  }
  const publishTimeoutMs = parseDuration(o.publishTimeout ?? d.publishTimeout, 'options.publishTimeout');
  const security = resolveSecurityOptions(o.security);
  // With signing on, the broker's publish dedupe (Nats-Msg-Id is signed) covers a signature's whole
  // lifetime unless the window was chosen: a replay inside it is dropped by the broker (ADR 0010).
  const duplicateWindowMs =
    o.duplicateWindow === undefined && security
      ? Math.max(parseDuration(d.duplicateWindow, 'options.duplicateWindow'), security.maxAgeMs + security.clockSkewMs)
      : parseDuration(o.duplicateWindow ?? d.duplicateWindow, 'options.duplicateWindow');
  if (duplicateWindowMs < publishTimeoutMs) {
    throw new InvalidArgumentError(
      `options.duplicateWindow (${duplicateWindowMs} ms) must be at least options.publishTimeout (${publishTimeoutMs} ms): a publish re-sent after the window could enqueue the task twice`,
    );
  }
  const maxDeliver = positiveInt(o.maxDeliver ?? d.maxDeliver, 'options.maxDeliver');
  if (maxDeliver < 2) throw new InvalidArgumentError('options.maxDeliver must be at least 2 (one delivery plus one redelivery after a crash)');
  const queues: Record<string, QueueSettings> = {};
  const rawQueues: unknown = o.queues ?? d.queues;
  if (typeof rawQueues !== 'object' || rawQueues === null || Array.isArray(rawQueues)) {
    throw new InvalidArgumentError('options.queues must be an object of { [queue]: { ackWait?, maxDeliver? } }');
  }
  for (const [q, qo] of Object.entries(rawQueues as Record<string, QueueOptions>)) {
    validateToken(q, `options.queues key ${JSON.stringify(q)}`);
    if (typeof qo !== 'object' || qo === null) throw new InvalidArgumentError(`options.queues.${q} must be an object`);
    for (const k of Object.keys(qo)) {
      if (k !== 'ackWait' && k !== 'maxDeliver' && k !== 'priorities') {
        throw new InvalidArgumentError(`options.queues.${q}.${k} is not a queue option (ackWait, maxDeliver, priorities)`);
      }
    }
    const qAck = qo.ackWait === undefined ? ackWaitMs : parseDuration(qo.ackWait, `options.queues.${q}.ackWait`);
    if (qAck < 1000) throw new InvalidArgumentError(`options.queues.${q}.ackWait must be at least 1s, got ${qAck} ms`);
    const qMax = qo.maxDeliver === undefined ? maxDeliver : positiveInt(qo.maxDeliver, `options.queues.${q}.maxDeliver`);
    if (qMax < 2) throw new InvalidArgumentError(`options.queues.${q}.maxDeliver must be at least 2`);
    if (BAND.test(q)) throw new InvalidArgumentError(`options.queues key ${JSON.stringify(q)}: names ending in --hi or --lo are reserved for priority bands`);
    if (qo.priorities !== undefined && typeof qo.priorities !== 'boolean') throw new InvalidArgumentError(`options.queues.${q}.priorities must be a boolean`);
    queues[q] = Object.freeze({ ackWaitMs: qAck, maxDeliver: qMax, priorities: qo.priorities ?? false });
  }
  return {
    maxDeliver,
    maxCrashes: positiveInt(o.maxCrashes ?? d.maxCrashes, 'options.maxCrashes'),
    queues: Object.freeze(queues),
    revokeExpiresMs: parseDuration(o.revokeExpires ?? d.revokeExpires, 'options.revokeExpires'),
    maxDeadLetters: positiveInt(o.maxDeadLetters ?? d.maxDeadLetters, 'options.maxDeadLetters'),
    updateBrokerConfig: bool(o.updateBrokerConfig ?? d.updateBrokerConfig, 'options.updateBrokerConfig'),
    sendSentEvents: bool(o.sendSentEvents ?? d.sendSentEvents, 'options.sendSentEvents'),
    nats: resolveNatsSecurityOptions(o.nats),
    streamReplicas: replicas(o.streamReplicas ?? d.streamReplicas),
    security,
    name: validateToken(o.name ?? d.name, 'options.name'),
    broker,
    resultBackend,
    serializer,
    defaultQueue: validateToken(o.defaultQueue ?? d.defaultQueue, 'options.defaultQueue'),
    resultExpiresMs: parseDuration(o.resultExpires ?? d.resultExpires, 'options.resultExpires'),
    maxPayloadBytes,
    maxResultBytes,
    maxQueuedTasks: positiveInt(o.maxQueuedTasks ?? d.maxQueuedTasks, 'options.maxQueuedTasks'),
    maxQueuedBytes: positiveInt(o.maxQueuedBytes ?? d.maxQueuedBytes, 'options.maxQueuedBytes'),
    ackWaitMs,
    maxAckPending: positiveInt(o.maxAckPending ?? d.maxAckPending, 'options.maxAckPending'),
    publishTimeoutMs,
    duplicateWindowMs,
    trackStarted: o.trackStarted ?? d.trackStarted,
  };
}
