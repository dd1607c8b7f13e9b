/**
 * Header names of a task message (docs/protocol.md, "Headers"). Named after Celery's message protocol
 * v2 header keys, lower-case, exactly as written here: a producer in any language sets these with its
 * plain NATS client.
 * @module
 */
export const H = {
  /** Task name, e.g. `math.add`. Required. */
  task: 'task',
  /** Task id (UUID or any string ≤ 200 chars of `[A-Za-z0-9_.:-]`). Required. */
  id: 'id',
  /** Id of the first task of the workflow this task belongs to. Defaults to `id`. */
  rootId: 'root_id',
  /** Id of the task that published this one, if any. */
  parentId: 'parent_id',
  /** Group id when the task is a group member. */
  group: 'group',
  /** Number of deliberate retries so far (not crash redeliveries). Defaults to 0. */
  retries: 'retries',
  /** Earliest run time, ISO 8601. */
  eta: 'eta',
  /** Expiry, ISO 8601: not run after this. */
  expires: 'expires',
  /** `soft,hard` time limits in seconds (Celery's `timelimit`); empty part = none. */
  timelimit: 'timelimit',
  /** Producer identity, e.g. `pid@host`. */
  origin: 'origin',
  /** Producer language, e.g. `ts`, `py`, `go`. */
  lang: 'lang',
  /** Plain subject the worker sends the stored terminal result to (Celery's `reply_to`); must start with `_celeriac.reply.`. */
  replyTo: 'reply_to',
  /** `true` when no result should be stored. */
  ignoreResult: 'ignore_result',
  /** Idempotency key (equals the task id): a worker skips the task when its terminal result exists. */
  idempotencyKey: 'idempotency_key',
  /** Priority 0–9 (higher runs first on queues with priority bands: `<queue>--hi` 7–9, `<queue>--lo` 0–2). */
  priority: 'priority',
  /** `application/x-msgpack` (default) or `application/json`. Required. */
  contentType: 'content-type',
  /** Publish-time deduplication id; always equal to the task id. */
  msgId: 'Nats-Msg-Id',
  /** W3C trace context. */
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  /** Id of the Ed25519 key that signed the message (docs/protocol.md, "Signed and encrypted messages"). */
  keyId: 'celeriac-key',
  /** When the message was signed: epoch milliseconds, decimal. */
  issuedAt: 'celeriac-issued',
  /** 16 random bytes, base64url: the same nonce is never accepted twice. */
  nonce: 'celeriac-nonce',
  /** `v1:` + base64 of the 64-byte Ed25519 signature over the canonical form. */
  signature: 'celeriac-sig',
  /** Id of the AES-256-GCM key the body is encrypted with (`iv ‖ ciphertext ‖ tag`), when it is. */
  encryption: 'celeriac-enc',
} as const;

/** The protocol's header names, as written on the wire (`Nats-Msg-Id`). */
export const HEADER_NAMES: ReadonlySet<string> = new Set(Object.values(H));

/** Header names a user may not set through `applyAsync({ headers })`. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([...HEADER_NAMES].map((h) => h.toLowerCase()));

/** Maximum total size of user headers, in bytes (names + values). */
export const MAX_USER_HEADER_BYTES = 4096;
