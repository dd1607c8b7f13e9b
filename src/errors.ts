/**
 * Every public error of Celeriac. Each carries a stable `code`, takes `ErrorOptions` (native `cause`)
 * and is branded with `Symbol.for('celeriac.<Name>')` so the `isXxxError()` guards work across
 * threads, realms and duplicated package copies (no reliance on `instanceof`).
 *
 * Errors that cross a thread or the wire are serialised with {@link serializeError} to
 * {@link SerializedError} and rebuilt with {@link deserializeError}.
 * @module
 */

/** Wire/thread form of an error. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string | undefined;
  stack?: string | undefined;
  cause?: SerializedError | undefined;
  data?: unknown;
}

const BRAND = Symbol.for('celeriac.error');

/** Base class of every Celeriac error. */
export class CeleriacError extends Error {
  /** Stable machine-readable code, e.g. `E_INVALID_ARGUMENT`. */
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, BRAND, { value: true });
    Object.defineProperty(this, Symbol.for(`celeriac.${new.target.name}`), { value: true });
  }
}

/**
 * A type guard for the Celeriac error class `name` (and its subclasses' instances of it), by the
 * brand the constructor sets: it works across threads and copies of the package, unlike
 * `instanceof`. @internal
 */
export function branded(name: string) {
  const sym = Symbol.for(`celeriac.${name}`);
  return (err: unknown): boolean =>
    typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[sym] === true;
}

/** True when `e` is any Celeriac error (checks the brand, not `instanceof`). @internal */
export const isCeleriacError = branded('error') as (e: unknown) => e is CeleriacError;

/** A caller passed a bad value: the message names the argument and the rule it broke. */
export class InvalidArgumentError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_INVALID_ARGUMENT', message, options);
  }
}
/** True when `e` is an {@link InvalidArgumentError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isInvalidArgumentError = branded('InvalidArgumentError') as (e: unknown) => e is InvalidArgumentError;

/** The encoded task body is larger than the configured (or the server's) limit. Nothing was sent. */
export class PayloadTooLargeError extends CeleriacError {
  constructor(
    readonly size: number,
    readonly limit: number,
    detail: string,
  ) {
    super(
      'E_PAYLOAD_TOO_LARGE',
      `task payload is ${size} bytes, over the ${limit}-byte limit (${detail}); pass large data by reference (a URL, a key in an object store) instead of inline`,
    );
  }
}
/** True when `e` is a {@link PayloadTooLargeError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isPayloadTooLargeError = branded('PayloadTooLargeError') as (e: unknown) => e is PayloadTooLargeError;

/** The queue's stream is full (`discard: new`): the broker refused the task. Retry later or raise limits. */
export class QueueFullError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_QUEUE_FULL', message, options);
  }
}
/** True when `e` is a {@link QueueFullError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isQueueFullError = branded('QueueFullError') as (e: unknown) => e is QueueFullError;

/** Publishing to the broker failed (no stream for the subject, no ack in time, ...). */
export class PublishError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_PUBLISH', message, options);
  }
}
/** True when `e` is a {@link PublishError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isPublishError = branded('PublishError') as (e: unknown) => e is PublishError;

/** A message could not be decoded or does not follow docs/protocol.md. It is never retried. */
export class DecodeError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_DECODE', message, options);
  }
}
/** True when `e` is a {@link DecodeError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isDecodeError = branded('DecodeError') as (e: unknown) => e is DecodeError;

/** The worker received a task name it does not know. The message is returned to the queue. */
export class NotRegisteredError extends CeleriacError {
  constructor(readonly taskName: string) {
    super('E_NOT_REGISTERED', `task "${taskName}" is not registered in this worker; start a worker whose -A module defines it`);
  }
}
/** True when `e` is a {@link NotRegisteredError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isNotRegisteredError = branded('NotRegisteredError') as (e: unknown) => e is NotRegisteredError;

/** Waiting for something (a result, a broker reply) took longer than the timeout. */
export class TimeoutError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_TIMEOUT', message, options);
  }
}
/** True when `e` is a {@link TimeoutError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isTimeoutError = branded('TimeoutError') as (e: unknown) => e is TimeoutError;

/** The task failed remotely. `remote` is the error as the worker recorded it (name, message, stack, code). */
export class TaskError extends CeleriacError {
  constructor(
    readonly taskId: string,
    readonly remote: SerializedError,
  ) {
    super('E_TASK_FAILED', `task ${taskId} failed: ${remote.name}: ${remote.message}`);
    if (remote.stack) this.stack = `${this.name}: ${this.message}\n--- remote stack ---\n${remote.stack}`;
  }
  /** Remote error name, e.g. `TypeError`. */
  get remoteName(): string {
    return this.remote.name;
  }
}
/** True when `e` is a {@link TaskError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isTaskError = branded('TaskError') as (e: unknown) => e is TaskError;

/** The thread running a CPU task died (for example `process.exit()` in the task). */
export class WorkerLostError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_WORKER_LOST', message, options);
  }
}
/** True when `e` is a {@link WorkerLostError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isWorkerLostError = branded('WorkerLostError') as (e: unknown) => e is WorkerLostError;

/** An existing stream, consumer or bucket has a config that conflicts with what Celeriac needs. */
export class ConfigMismatchError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_CONFIG_MISMATCH', message, options);
  }
}
/** True when `e` is a {@link ConfigMismatchError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isConfigMismatchError = branded('ConfigMismatchError') as (e: unknown) => e is ConfigMismatchError;

/**
 * The NATS server refused the connection: credentials (token, user/password, NKey, creds file) or
 * TLS. The message says what to check; it never holds a secret. Code `E_BROKER_AUTH`.
 */
export class BrokerAuthError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_BROKER_AUTH', message, options);
  }
}
/** True when `e` is a {@link BrokerAuthError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isBrokerAuthError = branded('BrokerAuthError') as (e: unknown) => e is BrokerAuthError;

/**
 * The NATS user lacks a permission an operation needs (a subject it may not publish or subscribe
 * to; docs/guide/security.md lists each role's). Code `E_BROKER_PERMISSION`.
 */
export class BrokerPermissionError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_BROKER_PERMISSION', message, options);
  }
}
/** True when `e` is a {@link BrokerPermissionError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isBrokerPermissionError = branded('BrokerPermissionError') as (e: unknown) => e is BrokerPermissionError;

/** A bounded mailbox is full; the sender must wait or drop. */
export class MailboxFullError extends CeleriacError {
  constructor(readonly actor: string, readonly capacity: number) {
    super('E_MAILBOX_FULL', `mailbox of actor "${actor}" is full (${capacity} messages)`);
  }
}
/** True when `e` is a {@link MailboxFullError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isMailboxFullError = branded('MailboxFullError') as (e: unknown) => e is MailboxFullError;

/** An operation was attempted on something that is closed or stopped. */
export class ClosedError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_CLOSED', message, options);
  }
}
/** True when `e` is a {@link ClosedError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isClosedError = branded('ClosedError') as (e: unknown) => e is ClosedError;

/** A supervisor exceeded its restart intensity and gave up (escalated). */
export class EscalationError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_ESCALATED', message, options);
  }
}
/** True when `e` is an {@link EscalationError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isEscalationError = branded('EscalationError') as (e: unknown) => e is EscalationError;

/**
 * Codes of the control-flow signals a task throws (`Retry`, `Defer`, `Ignore`): their stack only
 * shows where the signal was thrown, and formatting it (source maps under tsx) costs more than the
 * rest of a retry, so it is left out. A `Retry`'s cause keeps its stack.
 */
const SIGNAL_CODES: ReadonlySet<unknown> = new Set(['E_RETRY', 'E_DEFER', 'E_IGNORE']);

/** Serialise any thrown value to {@link SerializedError} (depth-limited cause chain). */
export function serializeError(err: unknown, depth = 0): SerializedError {
  if (err instanceof Error || (typeof err === 'object' && err !== null && 'message' in err)) {
    const e = err as Error & { code?: unknown; data?: unknown };
    const out: SerializedError = {
      name: typeof e.name === 'string' ? e.name : 'Error',
      message: String(e.message),
    };
    if (typeof e.code === 'string' || typeof e.code === 'number') out.code = String(e.code);
    if (!SIGNAL_CODES.has(e.code) && typeof e.stack === 'string') out.stack = e.stack;
    if (e.data !== undefined) out.data = e.data;
    if (e.cause !== undefined && depth < 4) out.cause = serializeError(e.cause, depth + 1);
    return out;
  }
  return { name: 'Error', message: typeof err === 'string' ? err : safeString(err) };
}

function safeString(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Rebuild an `Error` from its serialised form, keeping name, code, stack and cause. */
export function deserializeError(s: SerializedError): Error & { code?: string; data?: unknown } {
  const e = new Error(s.message, s.cause ? { cause: deserializeError(s.cause) } : undefined) as Error & {
    code?: string;
    data?: unknown;
  };
  e.name = s.name;
  if (s.code !== undefined) e.code = s.code;
  if (s.stack !== undefined) e.stack = s.stack;
  if (s.data !== undefined) e.data = s.data;
  return e;
}

/** A conditional write found a different revision than expected (someone else wrote first). */
export class RevisionMismatchError extends CeleriacError {
  constructor(readonly key: string, message: string, options?: ErrorOptions) {
    super('E_REVISION_MISMATCH', message, options);
  }
}
/** True when `e` is a {@link RevisionMismatchError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isRevisionMismatchError = branded('RevisionMismatchError') as (e: unknown) => e is RevisionMismatchError;

// ---------------------------------------------------------------------------------------------
// Control-flow signals a task throws, and the errors of failure handling (docs/guide/failures.md).
// Signals are recognised by their `code`, so they work when thrown in a CPU thread too.

/** Options of {@link Retry} and `ctx.retry()`. */
export interface RetrySignalOptions {
  /** Wait this long before the next attempt (milliseconds). @defaultValue the task's retry policy */
  countdownMs?: number;
  /** The error that caused the retry (recorded in the `RETRY` state, and as the failure when retries are exhausted). */
  error?: unknown;
  /** Human-readable reason. */
  message?: string;
}

/**
 * Thrown by a task to be retried later (`throw new Retry({ countdownMs: 5_000, error })`, or
 * `ctx.retry(...)`). The message is re-published with `retries + 1` and an eta; no worker slot is
 * held while it waits. Counts against the task's `maxRetries`.
 */
export class Retry extends CeleriacError {
  /** Requested delay, if any. */
  readonly countdownMs: number | undefined;
  constructor(options: RetrySignalOptions = {}) {
    super('E_RETRY', options.message ?? (options.error instanceof Error ? `retry: ${options.error.message}` : 'retry requested'), {
      cause: options.error,
    });
    this.countdownMs = options.countdownMs;
    if (options.countdownMs !== undefined) (this as { data?: unknown }).data = { countdownMs: options.countdownMs };
  }
}
/** True when `e` is a {@link Retry}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isRetry = branded('Retry') as (e: unknown) => e is Retry;

/**
 * Thrown by a task that must not be retried: the task fails (`FAILURE`) and its message goes
 * straight to the dead-letter stream.
 */
export class Reject extends CeleriacError {
  constructor(reason?: string | Error, options?: ErrorOptions) {
    super('E_REJECT', typeof reason === 'string' ? reason : (reason?.message ?? 'task rejected'), {
      cause: reason instanceof Error ? reason : options?.cause,
    });
  }
}
/** True when `e` is a {@link Reject}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isReject = branded('Reject') as (e: unknown) => e is Reject;

/** Thrown by a task to drop itself: the message is acknowledged and no result is stored. */
export class Ignore extends CeleriacError {
  constructor(message = 'task ignored') {
    super('E_IGNORE', message);
  }
}
/** True when `e` is an {@link Ignore}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isIgnore = branded('Ignore') as (e: unknown) => e is Ignore;

/** The reason `ctx.signal` aborts when a task reaches its soft time limit: clean up and stop. */
export class SoftTimeLimitExceeded extends CeleriacError {
  constructor(readonly limitMs: number) {
    super('E_SOFT_TIME_LIMIT', `soft time limit of ${limitMs} ms exceeded`);
  }
}
/** True when `e` is a {@link SoftTimeLimitExceeded}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isSoftTimeLimitExceeded = branded('SoftTimeLimitExceeded') as (e: unknown) => e is SoftTimeLimitExceeded;

/**
 * A task reached its hard time limit: a CPU task's thread was terminated, an I/O task was abandoned
 * (its slot freed). Retried only if the task's retry policy names it.
 */
export class TimeLimitExceeded extends CeleriacError {
  constructor(readonly limitMs: number, message?: string) {
    super('E_TIME_LIMIT', message ?? `hard time limit of ${limitMs} ms exceeded`);
  }
}
/** True when `e` is a {@link TimeLimitExceeded}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isTimeLimitExceeded = branded('TimeLimitExceeded') as (e: unknown) => e is TimeLimitExceeded;

/** The reason `ctx.signal` aborts when the task is revoked (`AsyncResult.revoke()`, `app.control.revoke()`). */
export class TaskRevokedError extends CeleriacError {
  constructor(readonly taskId: string, readonly terminated = false) {
    super('E_REVOKED', `task ${taskId} was revoked${terminated ? ' and terminated' : ''}`);
  }
}
/** True when `e` is a {@link TaskRevokedError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isTaskRevokedError = branded('TaskRevokedError') as (e: unknown) => e is TaskRevokedError;

/**
 * A chord's header member failed, so its body did not run (build the chord with
 * `{ allowPartial: true }` to run the body with the successes and the errors instead). Stored as the
 * body's failure; `get()` on the chord rejects with a TaskError whose `remote.name` is `ChordError`
 * and whose `remote.data` names the member.
 */
export class ChordError extends CeleriacError {
  constructor(
    readonly chordId: string,
    readonly index: number,
    readonly memberTaskId: string,
    readonly memberError: SerializedError,
  ) {
    super('E_CHORD', `chord ${chordId}: header member #${index} (task ${memberTaskId}) failed: ${memberError.name}: ${memberError.message}`);
  }
  /** What travels with the stored failure: the chord and the member. */
  get data(): { chordId: string; index: number; taskId: string } {
    return { chordId: this.chordId, index: this.index, taskId: this.memberTaskId };
  }
}
/** True when `e` is a {@link ChordError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isChordError = branded('ChordError') as (e: unknown) => e is ChordError;

/** A middleware broke the chain's rules (for example it called `next()` twice). Fix the middleware. */
export class MiddlewareError extends CeleriacError {
  constructor(message: string, options?: ErrorOptions) {
    super('E_MIDDLEWARE', message, options);
  }
}
/** True when `e` is a {@link MiddlewareError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isMiddlewareError = branded('MiddlewareError') as (e: unknown) => e is MiddlewareError;

/**
 * Signal: run this task later, without counting a retry or failing it. Thrown by a middleware (a
 * rate limiter, an open circuit breaker) or a task. The message goes to the delayed stream (a nak
 * with that delay under a second) and holds no worker slot while it waits.
 */
export class Defer extends CeleriacError {
  constructor(
    /** How long to wait, in ms. */
    readonly delayMs: number,
    /** Why, for the log. */
    readonly reason = 'deferred',
    /**
     * Headers to set on the deferred copy (e.g. a reservation a rate limiter recognises when the
     * task comes back). With headers, the copy always waits in the delayed stream (a nak cannot
     * change headers).
     */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super('E_DEFER', `task deferred by ${Math.max(0, Math.round(delayMs))} ms: ${reason}`);
  }
  /** Travels with the serialised signal. */
  get data(): { delayMs: number; reason: string; headers?: Readonly<Record<string, string>> } {
    return { delayMs: this.delayMs, reason: this.reason, ...(this.headers ? { headers: this.headers } : {}) };
  }
}
/** True when `e` is a {@link Defer}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isDefer = branded('Defer') as (e: unknown) => e is Defer;

/**
 * A task returned a value whose encoded size is over `maxResultBytes` (ADR 0012): the task fails
 * with this error instead of storing it. Return a reference (a URL, an object-store key) instead,
 * or raise `maxResultBytes`. Code `E_RESULT_TOO_LARGE`.
 */
export class ResultTooLargeError extends CeleriacError {
  constructor(
    readonly taskName: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(
      'E_RESULT_TOO_LARGE',
      `task "${taskName}" returned ${size} bytes (encoded), over the ${limit}-byte limit (maxResultBytes); return a reference to the data (a URL, an object-store key) or raise maxResultBytes`,
    );
  }
  /** Travels with the stored failure. */
  get data(): { task: string; size: number; limit: number } {
    return { task: this.taskName, size: this.size, limit: this.limit };
  }
}
/** True when `e` is a {@link ResultTooLargeError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isResultTooLargeError = branded('ResultTooLargeError') as (e: unknown) => e is ResultTooLargeError;

/**
 * A task's arguments nest deeper than the limit (32 arrays/objects), or contain a cycle. Nothing was
 * sent. Flatten them, or pass the structure by reference. Code `E_NESTING_TOO_DEEP`.
 */
export class NestingTooDeepError extends CeleriacError {
  constructor(
    readonly taskName: string,
    readonly path: string,
    readonly limit: number,
  ) {
    super(
      'E_NESTING_TOO_DEEP',
      `task "${taskName}": arguments nest deeper than ${limit} levels at ${path} (or contain a cycle); flatten them or pass the structure by reference`,
    );
  }
}
/** True when `e` is a {@link NestingTooDeepError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isNestingTooDeepError = branded('NestingTooDeepError') as (e: unknown) => e is NestingTooDeepError;

/**
 * The headers of a task message (protocol headers, user headers and trace context) are over the
 * limit. Nothing was sent. Send fewer or shorter user headers. Code `E_HEADERS_TOO_LARGE`.
 */
export class HeadersTooLargeError extends CeleriacError {
  constructor(
    readonly taskName: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(
      'E_HEADERS_TOO_LARGE',
      `task "${taskName}": message headers are ${size} bytes, over the ${limit}-byte limit; send fewer or shorter headers (user headers alone may take ${4096} bytes)`,
    );
  }
}
/** True when `e` is a {@link HeadersTooLargeError}, also one from another thread or copy of the package (checks the brand, not `instanceof`). */
export const isHeadersTooLargeError = branded('HeadersTooLargeError') as (e: unknown) => e is HeadersTooLargeError;
