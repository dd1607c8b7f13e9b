import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type ConsumerConfig,
} from '@nats-io/jetstream';
import { TimeoutError as NatsTimeoutError } from '@nats-io/transport-node';
import { ConfigMismatchError, InvalidArgumentError, TimeoutError } from '../../errors.ts';
import { permissionError } from './nats-auth.ts';

const NS = 1_000_000;

/** Limits of the task stream. */
export interface TaskStreamLimits {
  maxMsgs: number;
  maxBytes: number;
  maxMsgSize: number;
  duplicateWindowMs: number;
}

/** JetStream API `err_code` of an error thrown by @nats-io/jetstream, if any. */
export function apiCode(err: unknown): number | undefined {
  const e = err as { apiError?: () => { err_code?: number } };
  return typeof e?.apiError === 'function' ? e.apiError().err_code : undefined;
}

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;
/** `JetStream system temporarily unavailable`: a cluster without a meta leader. */
const CLUSTER_NOT_AVAILABLE = 10008;

/** Tries of a provisioning step whose JetStream API request went unanswered. */
export const PROVISION_TRIES = 3;

/**
 * A JetStream API request that may succeed when asked again: it timed out (in a cluster, a stream
 * whose leader died answers nothing until a new one is elected, and a request sent meanwhile is
 * never answered) or the cluster said it is temporarily unavailable.
 */
export function isTransientApiError(err: unknown): boolean {
  return err instanceof NatsTimeoutError || apiCode(err) === CLUSTER_NOT_AVAILABLE;
}

/**
 * Run an idempotent provisioning step, asking again (up to {@link PROVISION_TRIES} times, with a
 * warning each time) while JetStream leaves it unanswered.
 * @throws TimeoutError naming `what` when the last try is unanswered too.
 */
async function withTries<T>(what: string, step: () => Promise<T>, onWarning?: (msg: string) => void, tries = PROVISION_TRIES): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!isTransientApiError(err)) throw err;
      const why = (err as Error).message;
      if (attempt >= tries) {
        throw new TimeoutError(
          `${what}: JetStream did not answer in ${tries} tries (${why}); a cluster may have no leader for it (a node down, an election under way) or the server is overloaded. Check \`nats stream report\`, then retry`,
          { cause: err },
        );
      }
      onWarning?.(`${what}: JetStream did not answer (${why}); asking again (try ${attempt + 1} of ${tries}): a cluster may be electing a leader`);
    }
  }
}

/**
 * Stream fields Celeriac's code depends on: when a user may not update a stream, these must already
 * be right; the others (limits, replicas) are only warned about.
 */
const ESSENTIAL_STREAM_FIELDS = new Set(['name', 'subjects', 'retention', 'republish', 'allow_direct', 'allow_rollup_hdrs', 'max_msgs_per_subject']);

/**
 * Create the stream if absent, or bring updatable limits in line; then compare the config the server
 * returns with what was asked for, so a field the server dropped (an older server ignoring an unknown
 * option) is an error and not a silent success. A user without the right to update a stream that
 * exists uses it as it is when its essential fields match (a warning names the others); a user
 * without the right to create a missing one gets a {@link BrokerPermissionError}.
 * @throws ConfigMismatchError naming the field, the wanted and the actual value.
 * @throws BrokerPermissionError when the stream is missing and may not be created, or may not be read.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  want: Partial<StreamConfig> & { name: string },
  update = true,
  onWarning?: (msg: string) => void,
): Promise<void> {
  return withTries(`stream ${want.name}`, () => ensureStreamOnce(jsm, want, update, onWarning), onWarning);
}

async function ensureStreamOnce(
  jsm: JetStreamManager,
  want: Partial<StreamConfig> & { name: string },
  update: boolean,
  onWarning?: (msg: string) => void,
  raced = false,
): Promise<void> {
  let got: StreamConfig;
  try {
    const info = await jsm.streams.info(want.name);
    got = info.config;
    if (got.retention !== want.retention) {
      throw new ConfigMismatchError(
        `stream ${want.name} exists with retention "${got.retention}" but Celeriac needs "${want.retention}"; delete it or use another app name`,
      );
    }
    // A client that does not know the app's settings (a CLI without -A) uses what exists as is.
    if (!update) return;
    if (needsUpdate(want, got)) {
      try {
        got = (await jsm.streams.update(want.name, { ...got, ...want })).config;
      } catch (err) {
        if (!permissionError(err, '')) throw replicasError(err, want) ?? err;
        const essential = Object.fromEntries(Object.entries(want).filter(([k]) => ESSENTIAL_STREAM_FIELDS.has(k)));
        checkEcho(`stream ${want.name} (this user may not update it)`, essential, got as unknown as Record<string, unknown>);
        const differ = Object.keys(want).filter((k) => !ESSENTIAL_STREAM_FIELDS.has(k) && needsUpdate({ [k]: (want as Record<string, unknown>)[k] }, got));
        onWarning?.(`stream ${want.name} differs from the app's options in ${differ.join(', ')} and this NATS user may not update it; using it as it is (an admin can run \`celeriac provision\`)`);
        return;
      }
    }
  } catch (err) {
    if (apiCode(err) !== STREAM_NOT_FOUND) throw permissionError(err, `reading stream ${want.name}`) ?? err;
    try {
      got = (await jsm.streams.add(want)).config;
    } catch (addErr) {
      // Another client created it meanwhile (two workers starting at once): the server checks the
      // subjects against every stream, the one just made included. Check it as an existing stream.
      if (!raced && apiCode(addErr) === SUBJECTS_OVERLAP && (await streamExists(jsm, want.name))) return ensureStreamOnce(jsm, want, update, onWarning, true);
      throw (
        permissionError(addErr, `stream ${want.name} does not exist and this NATS user may not create it; run \`celeriac provision\` as an admin first`) ??
        replicasError(addErr, want) ??
        addErr
      );
    }
  }
  checkEcho(`stream ${want.name}`, want as Record<string, unknown>, got as unknown as Record<string, unknown>);
}

/** `subjects overlap with an existing stream`. */
const SUBJECTS_OVERLAP = 10065;

async function streamExists(jsm: JetStreamManager, name: string): Promise<boolean> {
  try {
    await jsm.streams.info(name);
    return true;
  } catch {
    return false;
  }
}

const REPLICAS_NOT_SUPPORTED = 10074;
const INSUFFICIENT_RESOURCES = 10023;
const NO_SUITABLE_PEERS = 10005;

/** A refusal to place `num_replicas` copies, as a ConfigMismatchError naming `streamReplicas`. */
function replicasError(err: unknown, want: Partial<StreamConfig> & { name: string }): ConfigMismatchError | undefined {
  const n = want.num_replicas ?? 1;
  const code = apiCode(err);
  if (n <= 1 || (code !== REPLICAS_NOT_SUPPORTED && code !== INSUFFICIENT_RESOURCES && code !== NO_SUITABLE_PEERS)) return undefined;
  return new ConfigMismatchError(
    `stream ${want.name}: streamReplicas ${n} needs a JetStream cluster of at least ${n} nodes with room for it; the server says "${(err as Error).message}" (use streamReplicas: 1 on a single server)`,
    { cause: err },
  );
}

function needsUpdate(want: Partial<StreamConfig>, got: StreamConfig | Partial<StreamConfig>): boolean {
  for (const [k, v] of Object.entries(want)) {
    const g = (got as unknown as Record<string, unknown>)[k];
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      if (!objectHas(g, v as Record<string, unknown>)) return true;
    } else if (Array.isArray(v)) {
      if (!Array.isArray(g) || v.some((s) => !(g as unknown[]).includes(s))) return true;
    } else if (g !== v) return true;
  }
  return false;
}

function objectHas(g: unknown, v: Record<string, unknown>): boolean {
  if (g === null || typeof g !== 'object') return false;
  return Object.entries(v).every(([k, x]) => (g as Record<string, unknown>)[k] === x);
}

function checkEcho(what: string, want: Record<string, unknown>, got: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(want)) {
    const g = got[k];
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      if (!objectHas(g, v as Record<string, unknown>)) {
        throw new ConfigMismatchError(`${what}: server returned ${k}=${JSON.stringify(g)}, wanted ${JSON.stringify(v)} (the server may not support this option)`);
      }
    } else if (Array.isArray(v)) {
      if (!Array.isArray(g) || v.some((s) => !(g as unknown[]).includes(s))) {
        throw new ConfigMismatchError(`${what}: server returned ${k}=${JSON.stringify(g)}, wanted ${JSON.stringify(v)}`);
      }
    } else if (g !== v) {
      throw new ConfigMismatchError(
        `${what}: server returned ${k}=${JSON.stringify(g)}, wanted ${JSON.stringify(v)} (the server may not support this option)`,
      );
    }
  }
}

/** The app's WorkQueue task stream: `<app>.tasks.>`, bounded, `discard: new` so a full queue pushes back. */
export function taskStreamConfig(name: string, app: string, l: TaskStreamLimits): Partial<StreamConfig> & { name: string } {
  return {
    name,
    subjects: [`${app}.tasks.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_msgs: l.maxMsgs,
    max_bytes: l.maxBytes,
    max_msg_size: l.maxMsgSize,
    duplicate_window: l.duplicateWindowMs * NS,
    num_replicas: 1,
  };
}

/** A KV-compatible bucket stream (readable by `nats kv` and @nats-io/kv). */
export function kvStreamConfig(bucket: string, ttlMs: number): Partial<StreamConfig> & { name: string } {
  return {
    name: `KV_${bucket}`,
    subjects: [`$KV.${bucket}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_msgs_per_subject: 1,
    max_age: ttlMs * NS,
    duplicate_window: Math.min(ttlMs > 0 ? ttlMs : Infinity, 120_000) * NS,
    allow_rollup_hdrs: true,
    deny_delete: true,
    deny_purge: false,
    allow_direct: true,
    // Every stored write is re-published on a plain subject: watchers see exactly what was stored
    // (a write refused by a revision check is never seen), with its revision, and need no consumer.
    republish: { src: `$KV.${bucket}.>`, dest: kvRepublishPrefix(bucket) + '>' },
    num_replicas: 1,
  };
}

/** Subject prefix on which the stored writes of a bucket are re-published. */
export function kvRepublishPrefix(bucket: string): string {
  return `_celeriac.kv.${bucket}.`;
}

/** Name of the app's dead-letter stream. */
export function deadLetterStreamName(app: string): string {
  return `${app}-dlq`;
}

/** Subject a dead letter of `queue` is stored on. */
export function deadLetterSubject(app: string, queue: string): string {
  return `${app}.dlq.${queue}`;
}

/**
 * The app's dead-letter stream: `<app>.dlq.>`, Limits retention, `discard: old` so a full stream drops
 * its oldest entries rather than refusing new ones, deduplicated by `Nats-Msg-Id`.
 */
export function deadLetterStreamConfig(app: string, maxMsgs: number, duplicateWindowMs: number): Partial<StreamConfig> & { name: string } {
  return {
    name: deadLetterStreamName(app),
    subjects: [`${app}.dlq.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_msgs: maxMsgs,
    duplicate_window: duplicateWindowMs * NS,
    num_replicas: 1,
  };
}

/** Name of the app's delayed-tasks stream. */
export function delayedStreamName(app: string): string {
  return `${app}-delayed`;
}

/** Subject a delayed task for `queue` is stored on. */
export function delayedSubject(app: string, queue: string): string {
  return `${app}.delayed.${queue}`;
}

/**
 * The app's delayed-tasks stream: `<app>.delayed.>`, Limits retention (the scheduler removes what it
 * fires), with the task stream's limits and `discard: new` so a full stream refuses new tasks
 * (`QueueFullError`), deduplicated by `Nats-Msg-Id`, `allow_direct` for reads by sequence.
 */
export function delayedStreamConfig(app: string, l: TaskStreamLimits): Partial<StreamConfig> & { name: string } {
  return {
    name: delayedStreamName(app),
    subjects: [`${app}.delayed.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_msgs: l.maxMsgs,
    max_bytes: l.maxBytes,
    max_msg_size: l.maxMsgSize,
    duplicate_window: l.duplicateWindowMs * NS,
    allow_direct: true,
    num_replicas: 1,
  };
}

/** Consumer settings of a queue. */
export interface QueueConsumerSettings {
  ackWaitMs: number;
  /** JetStream `max_deliver`: deliveries after which the server stops redelivering a message. */
  maxDeliver: number;
  maxAckPending: number;
}

/**
 * Create the durable pull consumer of a queue, or update its ack wait, max deliveries and max ack
 * pending when they differ; then verify the echo (a field the server dropped is an error).
 * WorkQueue streams reject overlapping consumers, so one durable per queue is shared by all workers.
 * @throws InvalidArgumentError when a setting is not a positive integer.
 * @throws ConfigMismatchError when the consumer filters another subject or the server drops a field.
 */
export async function ensureQueueConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  filterSubject: string,
  s: QueueConsumerSettings,
  onWarning?: (msg: string) => void,
): Promise<void> {
  for (const k of ['ackWaitMs', 'maxDeliver', 'maxAckPending'] as const) {
    if (!Number.isSafeInteger(s[k]) || s[k] <= 0) {
      throw new InvalidArgumentError(`queue ${durable}: ${k} must be a positive integer, got ${String(s[k])}`);
    }
  }
  const want: Partial<ConsumerConfig> = {
    durable_name: durable,
    filter_subject: filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: s.ackWaitMs * NS,
    max_deliver: s.maxDeliver,
    max_ack_pending: s.maxAckPending,
    max_waiting: 512,
  };
  return withTries(`consumer ${stream}/${durable}`, () => ensureQueueConsumerOnce(jsm, stream, durable, want, onWarning), onWarning);
}

/** One try of {@link ensureQueueConsumer}: `want` is the queue's consumer config (its filter included). */
async function ensureQueueConsumerOnce(jsm: JetStreamManager, stream: string, durable: string, want: Partial<ConsumerConfig>, onWarning?: (msg: string) => void): Promise<void> {
  const filterSubject = want.filter_subject;
  let got: ConsumerConfig;
  try {
    const info = await jsm.consumers.info(stream, durable);
    got = info.config;
    if (got.filter_subject !== filterSubject) {
      throw new ConfigMismatchError(`consumer ${stream}/${durable} filters "${got.filter_subject}", expected "${filterSubject}"`);
    }
    if (got.ack_wait !== want.ack_wait || got.max_deliver !== want.max_deliver || got.max_ack_pending !== want.max_ack_pending) {
      const change: Partial<ConsumerConfig> = { ack_wait: want.ack_wait, max_deliver: want.max_deliver, max_ack_pending: want.max_ack_pending };
      try {
        got = (await jsm.consumers.update(stream, durable, change)).config;
      } catch (err) {
        if (!permissionError(err, '')) throw err;
        // A user that may not change the consumer uses it as it is (its filter was checked above).
        onWarning?.(`consumer ${stream}/${durable} differs from the app's ack wait / max deliveries / max ack pending and this NATS user may not update it; using it as it is`);
        return;
      }
    }
  } catch (err) {
    if (apiCode(err) !== CONSUMER_NOT_FOUND) throw permissionError(err, `reading consumer ${stream}/${durable}`) ?? err;
    try {
      got = (await jsm.consumers.add(stream, want)).config;
    } catch (addErr) {
      throw permissionError(addErr, `consumer ${stream}/${durable} does not exist and this NATS user may not create it; run \`celeriac provision -Q ${durable}\` as an admin first`) ?? addErr;
    }
  }
  checkEcho(`consumer ${stream}/${durable}`, want as Record<string, unknown>, got as unknown as Record<string, unknown>);
}
