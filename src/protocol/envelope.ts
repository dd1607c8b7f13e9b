import { newTaskId } from '../util/task-id.ts';
import { DecodeError, InvalidArgumentError, PayloadTooLargeError } from '../errors.ts';
import { type Codec, codecByContentType } from './codec.ts';
import { H, HEADER_NAMES, MAX_USER_HEADER_BYTES, RESERVED_HEADERS } from './headers.ts';
import { checkArgNesting, checkHeaderSize } from './limits.ts';
import { validateTaskId, validateTaskName } from './names.ts';
import { type ChordMembership, type WorkflowJSON, validateMembership, validateWorkflow } from './workflow-json.ts';
import { copyRecord } from '../util/copy-record.ts';

/** Callbacks, errbacks, chain and chord carried with a task (filled by the canvas; docs/protocol.md, "Workflows"). */
export interface Embed {
  /** `link`: run with the result once the task succeeds. */
  callbacks: WorkflowJSON[] | null;
  /** `linkError`: run with `(taskId, error)` once the task fails for good. */
  errbacks: WorkflowJSON[] | null;
  /** The rest of the chain, next first: the next one gets this task's result prepended. */
  chain: WorkflowJSON[] | null;
  /** Membership in a chord header. */
  chord: ChordMembership | null;
}

/** A task message, decoded. */
export interface TaskMessage {
  id: string;
  task: string;
  rootId: string;
  parentId: string | null;
  group: string | null;
  retries: number;
  /** Epoch ms, or null. */
  eta: number | null;
  /** Epoch ms, or null. */
  expires: number | null;
  /** Seconds, Celery's `[soft, hard]`. */
  timelimit: [number | null, number | null];
  origin: string | null;
  ignoreResult: boolean;
  priority: number | null;
  /** Subject to send the terminal result to, or null. */
  replyTo: string | null;
  /** Idempotency key, or null. */
  idempotencyKey: string | null;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: Embed;
  /** Headers that are not protocol headers (user headers, trace context). */
  headers: Record<string, string>;
  contentType: string;
}

/** Input to {@link encodeTask}. */
export interface NewTaskMessage {
  task: string;
  id?: string;
  args: readonly unknown[];
  kwargs?: Record<string, unknown>;
  rootId?: string;
  parentId?: string | null;
  group?: string | null;
  retries?: number;
  eta?: number | null;
  expires?: number | null;
  timelimit?: [number | null, number | null];
  origin?: string;
  ignoreResult?: boolean;
  priority?: number | null;
  replyTo?: string | null;
  idempotencyKey?: string | null;
  headers?: Record<string, string>;
  embed?: Partial<Embed>;
}

/** Encoded task ready for a transport. */
export interface EncodedTask {
  id: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /**
   * Size of `headers` as {@link checkHeaderSize} counts it, when the encoder counted it: a hint
   * that spares the transport counting again. Code that changes `headers` makes a new
   * `EncodedTask` without it.
   */
  headerBytes?: number;
}

/** Default maximum body size: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

const EMPTY_EMBED: Embed = Object.freeze({ callbacks: null, errbacks: null, chain: null, chord: null }) as Embed;
const EMPTY_KWARGS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/** Validate user headers: no reserved names, token names, total size bounded. */
export function validateUserHeaders(h: Record<string, unknown> | undefined): Record<string, string> {
  if (h === undefined) return {};
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new InvalidArgumentError('options.headers must be an object of strings');
  let size = 0;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(k)) throw new InvalidArgumentError(`options.headers: header name ${JSON.stringify(k)} must be 1-64 chars of [A-Za-z0-9_.-]`);
    if (RESERVED_HEADERS.has(k.toLowerCase()) || /^nats-/i.test(k)) throw new InvalidArgumentError(`options.headers: ${JSON.stringify(k)} is a reserved protocol header`);
    if (typeof v !== 'string') throw new InvalidArgumentError(`options.headers.${k} must be a string`);
    if (/[\r\n]/.test(v)) throw new InvalidArgumentError(`options.headers.${k} must not contain line breaks`);
    size += k.length + v.length;
    out[k] = v;
  }
  if (size > MAX_USER_HEADER_BYTES) throw new InvalidArgumentError(`options.headers total ${size} bytes, over the ${MAX_USER_HEADER_BYTES}-byte limit`);
  return out;
}

/**
 * Encode a task message. The body is `[args, kwargs, embed]` in the codec's format.
 * @throws InvalidArgumentError when the task name breaks the name rule.
 * @throws NestingTooDeepError when the arguments nest deeper than `MAX_ARG_DEPTH` (32, limits.ts).
 * @throws PayloadTooLargeError when the body exceeds `maxPayload` bytes.
 * @throws HeadersTooLargeError when the headers exceed `MAX_HEADER_BYTES` (8 KiB, limits.ts).
 */
export function encodeTask(m: NewTaskMessage, codec: Codec, maxPayload = DEFAULT_MAX_PAYLOAD_BYTES): EncodedTask {
  return encodeTaskWithBody(m, encodeTaskBody(m, codec, maxPayload), codec);
}

/**
 * The body of a task message, `[args, kwargs, embed]` in the codec's format, checked (task name,
 * nesting, size): the part of {@link encodeTask} that depends on the arguments. A bulk publish
 * checks every task's body before it sends the first, and builds the rest as it sends.
 * @throws as {@link encodeTask}, except HeadersTooLargeError
 */
export function encodeTaskBody(m: Pick<NewTaskMessage, 'task' | 'args' | 'kwargs' | 'embed'>, codec: Codec, maxPayload = DEFAULT_MAX_PAYLOAD_BYTES): Uint8Array {
  validateTaskName(m.task, 'task name');
  checkArgNesting(m.task, m.args, m.kwargs);
  // No callbacks, chain or chord: `null`, as docs/protocol.md allows (smaller body, less to decode).
  const embed: Embed | null = m.embed ? { ...EMPTY_EMBED, ...m.embed } : null;
  const body = codec.encode([m.args, m.kwargs ?? EMPTY_KWARGS, embed]);
  if (body.length > maxPayload) throw new PayloadTooLargeError(body.length, maxPayload, 'maxPayloadBytes');
  return body;
}

/**
 * A task message around a body from {@link encodeTaskBody} of the same `m`: the headers, checked.
 * @param ownHeaders - `m.headers` is a fresh record the caller gives up: it is filled in place
 * rather than copied (the publisher's, per publish)
 * @throws HeadersTooLargeError when the headers exceed `MAX_HEADER_BYTES` (8 KiB, limits.ts).
 */
export function encodeTaskWithBody(m: NewTaskMessage, body: Uint8Array, codec: Codec, ownHeaders = false): EncodedTask {
  const id = m.id ?? newTaskId();
  const headers: Record<string, string> = m.headers ? (ownHeaders ? m.headers : copyRecord(m.headers)) : {};
  headers[H.task] = m.task;
  headers[H.id] = id;
  if (m.rootId && m.rootId !== id) headers[H.rootId] = m.rootId;
  if (m.parentId) headers[H.parentId] = m.parentId;
  if (m.group) headers[H.group] = m.group;
  if (m.retries) headers[H.retries] = String(m.retries);
  if (m.eta != null) headers[H.eta] = new Date(m.eta).toISOString();
  if (m.expires != null) headers[H.expires] = new Date(m.expires).toISOString();
  if (m.timelimit && (m.timelimit[0] != null || m.timelimit[1] != null)) {
    headers[H.timelimit] = `${m.timelimit[0] ?? ''},${m.timelimit[1] ?? ''}`;
  }
  if (m.origin) headers[H.origin] = m.origin;
  if (m.ignoreResult) headers[H.ignoreResult] = 'true';
  if (m.priority != null) headers[H.priority] = String(m.priority);
  if (m.replyTo) headers[H.replyTo] = m.replyTo;
  if (m.idempotencyKey) headers[H.idempotencyKey] = m.idempotencyKey;
  headers[H.contentType] = codec.contentType;
  headers[H.msgId] = id;
  const headerBytes = checkHeaderSize(m.task, headers);
  return { id, headers, body, headerBytes };
}

function workflowList(v: unknown, where: string): WorkflowJSON[] | null {
  if (v == null) return null;
  if (!Array.isArray(v)) throw new DecodeError(`${where} must be an array of signatures or null`);
  if (v.length === 0) return null;
  v.forEach((w, i) => validateWorkflow(w, `${where}[${i}]`));
  return v as WorkflowJSON[];
}

/** Validate the embed of a task message: a malformed workflow is a decode error, never a stuck continuation. */
function validateEmbed(e: Record<string, unknown>): Embed {
  return {
    callbacks: workflowList(e.callbacks, 'embed.callbacks'),
    errbacks: workflowList(e.errbacks, 'embed.errbacks'),
    chain: workflowList(e.chain, 'embed.chain'),
    chord: e.chord == null ? null : validateMembership(e.chord, 'embed.chord'),
  };
}

/** True when the message carries anything to do after it finishes. */
export function hasContinuation(e: Embed): boolean {
  return e.callbacks !== null || e.errbacks !== null || e.chain !== null || e.chord !== null;
}

/** Header accessor: transports hand headers over as a lookup function. */
export type HeaderLookup = (name: string) => string | undefined;

/** What is known about a message that failed to decode: used to record a FAILURE result. */
export interface DecodeFailure {
  id: string | null;
  task: string | null;
  error: DecodeError;
}

function parseTime(v: string | undefined, name: string): number | null {
  if (v === undefined || v === '') return null;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new DecodeError(`header ${name} is not an ISO 8601 date: ${JSON.stringify(v)}`);
  return t;
}

function parseLimit(v: string | undefined): number | null {
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new DecodeError(`header timelimit has an invalid value ${JSON.stringify(v)}`);
  return n;
}

/** Results are only ever sent to Celeriac reply subjects (never to an arbitrary subject a message names). */
function replyTo(v: string | undefined): string | null {
  if (v === undefined) return null;
  if (!/^_celeriac\.reply\.[A-Za-z0-9_.-]{1,200}$/.test(v)) throw new DecodeError(`header reply_to must be a _celeriac.reply.* subject, got ${JSON.stringify(v)}`);
  return v;
}

function idempotencyKey(v: string | undefined, id: string): string | null {
  if (v === undefined) return null;
  if (v !== id) throw new DecodeError(`header idempotency_key must equal the task id (${JSON.stringify(id)}), got ${JSON.stringify(v)}`);
  return v;
}

/** Bounds a consumed task message is checked against before anything in it is decoded. */
export interface DecodeLimits {
  /**
   * Largest body accepted, in bytes: pass the app's `maxPayloadBytes` (`encodeTask` never writes a
   * larger body).
   * @defaultValue {@link DEFAULT_MAX_PAYLOAD_BYTES} (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Largest total of the headers, counted as `name: value\r\n` each (header names and values in
   * UTF-16 code units, plus 4).
   * @defaultValue {@link MAX_DECODED_HEADER_BYTES} (16 KiB)
   */
  maxHeaderBytes?: number;
}

/**
 * Default header bound on the consuming side: twice the 8 KiB a publisher may write, so that headers
 * a signer or a transport adds on the way never make a valid message undecodable.
 */
export const MAX_DECODED_HEADER_BYTES = 16 * 1024;

/**
 * Check the size of a consumed message before decoding it: the body against `maxBodyBytes`, the
 * headers against `maxHeaderBytes`. Cheap (no copy); {@link decodeTask} calls it first.
 * @throws DecodeError naming the size and the limit.
 */
export function checkMessageSize(get: HeaderLookup, headerNames: Iterable<string>, body: Uint8Array, limits: DecodeLimits = {}): void {
  checkBodySize(body, limits);
  const maxHeaders = limits.maxHeaderBytes ?? MAX_DECODED_HEADER_BYTES;
  let size = 0;
  for (const k of headerNames) size = countHeader(size, k, get(k), maxHeaders);
}

function checkBodySize(body: Uint8Array, limits: DecodeLimits | undefined): void {
  const maxBody = limits?.maxBodyBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (body.length > maxBody) throw new DecodeError(`body of ${body.length} bytes exceeds maxPayloadBytes (${maxBody})`);
}

/** `size` with the header `k: v` counted (`name: value\r\n`); throws past `max`. */
function countHeader(size: number, k: string, v: string | undefined, max: number): number {
  const total = size + k.length + (v?.length ?? 0) + 4;
  if (total > max) throw new DecodeError(`headers exceed ${max} bytes`);
  return total;
}

/**
 * Decode and validate a task message (docs/protocol.md). The sizes are checked first (the limits of
 * {@link checkMessageSize}, the headers' as they are read), then the headers, then the body is
 * decoded by the codec its content-type names (structure checked before decoding; see
 * {@link Codec.decode}).
 * @param limits - pass `{ maxBodyBytes: app.options.maxPayloadBytes }` on a worker.
 * @throws DecodeError with a message that names what is wrong; never any other error, whatever the
 * bytes (test/fuzz).
 */
export function decodeTask(get: HeaderLookup, headerNames: Iterable<string>, body: Uint8Array, limits?: DecodeLimits): TaskMessage {
  checkBodySize(body, limits);
  const maxHeaders = limits?.maxHeaderBytes ?? MAX_DECODED_HEADER_BYTES;
  // One pass over the headers: their size is checked as they are read, and each is looked up once
  // (not once per protocol name, most of which a message does not carry).
  let size = 0;
  let rawId: string | undefined, rawTask: string | undefined, contentType: string | undefined, contentTypeAlt: string | undefined;
  let retriesRaw: string | undefined, priorityRaw: string | undefined, tl: string | undefined, rootId: string | undefined;
  let parentId: string | undefined, group: string | undefined, eta: string | undefined, expires: string | undefined;
  let origin: string | undefined, ignoreResult: string | undefined, reply: string | undefined, idemKey: string | undefined;
  let traceparent: string | undefined, tracestate: string | undefined;
  const headers: Record<string, string> = {};
  for (const k of headerNames) {
    const v = get(k);
    size = countHeader(size, k, v, maxHeaders);
    if (v === undefined) continue;
    switch (k) {
      case H.id: rawId = v; break;
      case H.task: rawTask = v; break;
      case H.contentType: contentType = v; break;
      case 'Content-Type': contentTypeAlt = v; break;
      case H.retries: retriesRaw = v; break;
      case H.priority: priorityRaw = v; break;
      case H.timelimit: tl = v; break;
      case H.rootId: rootId = v; break;
      case H.parentId: parentId = v; break;
      case H.group: group = v; break;
      case H.eta: eta = v; break;
      case H.expires: expires = v; break;
      case H.origin: origin = v; break;
      case H.ignoreResult: ignoreResult = v; break;
      case H.replyTo: reply = v; break;
      case H.idempotencyKey: idemKey = v; break;
      case H.traceparent: traceparent = v; break;
      case H.tracestate: tracestate = v; break;
      default:
        if (!HEADER_NAMES.has(k) && !RESERVED_HEADERS.has(k.toLowerCase())) headers[k] = v;
    }
  }
  if (rawTask === undefined) throw new DecodeError(`missing required header "${H.task}"`);
  if (rawId === undefined) throw new DecodeError(`missing required header "${H.id}"`);
  let id: string, task: string;
  try {
    id = validateTaskId(rawId, `header "${H.id}"`);
    task = validateTaskName(rawTask, `header "${H.task}"`);
  } catch (err) {
    throw new DecodeError((err as Error).message);
  }
  const codec = codecByContentType(contentType ?? contentTypeAlt ?? '');
  const decoded = codec.decode(body);
  if (!Array.isArray(decoded) || decoded.length < 1 || decoded.length > 3) {
    throw new DecodeError('body must be an array [args, kwargs, embed]');
  }
  const [args, kwargs, embed] = decoded as [unknown, unknown, unknown];
  if (!Array.isArray(args)) throw new DecodeError('body[0] (args) must be an array');
  if (kwargs != null && (typeof kwargs !== 'object' || Array.isArray(kwargs))) throw new DecodeError('body[1] (kwargs) must be an object');
  if (embed != null && (typeof embed !== 'object' || Array.isArray(embed))) throw new DecodeError('body[2] (embed) must be an object');
  const retries = retriesRaw === undefined ? 0 : Number(retriesRaw);
  if (!Number.isInteger(retries) || retries < 0) throw new DecodeError(`header retries must be a non-negative integer, got ${JSON.stringify(retriesRaw)}`);
  const priority = priorityRaw === undefined ? null : Number(priorityRaw);
  if (priority !== null && !(Number.isInteger(priority) && priority >= 0 && priority <= 9)) {
    throw new DecodeError(`header priority must be an integer 0-9, got ${JSON.stringify(priorityRaw)}`);
  }
  const [soft, hard] = tl === undefined ? [undefined, undefined] : tl.split(',');
  if (traceparent !== undefined) headers[H.traceparent] = traceparent;
  if (tracestate !== undefined) headers[H.tracestate] = tracestate;
  const e = embed == null ? EMPTY_EMBED : validateEmbed(embed as Record<string, unknown>);
  return {
    id,
    task,
    rootId: rootId ?? id,
    parentId: parentId ?? null,
    group: group ?? null,
    retries,
    eta: parseTime(eta, H.eta),
    expires: parseTime(expires, H.expires),
    timelimit: [parseLimit(soft), parseLimit(hard)],
    origin: origin ?? null,
    ignoreResult: ignoreResult === 'true',
    priority,
    replyTo: replyTo(reply),
    idempotencyKey: idempotencyKey(idemKey, id),
    args,
    kwargs: (kwargs ?? {}) as Record<string, unknown>,
    embed: e,
    headers,
    contentType: codec.contentType,
  };
}
