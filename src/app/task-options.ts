import { InvalidArgumentError } from '../errors.ts';
import type { ApplyOptions } from '../middleware/types.ts';
import { unknownKeyMessage } from '../util/known-keys.ts';
import { type Middleware, validateMiddleware } from './middleware.ts';
import { validateUserHeaders } from '../protocol/envelope.ts';
import { validateTaskId, validateToken } from '../protocol/names.ts';
import type { TaskKind } from '../execution/task-definition.ts';
import { type RetryOptions, type RetryPolicy, resolveRetryOptions } from '../execution/retry-policy.ts';
import { type Duration, parseDeadline, parseDuration } from '../util/duration.ts';

/** Options of `app.task(name, fn, options)`. */
export interface TaskOptions {
  /** `'io'`: async slot on the event loop; `'cpu'`: a worker thread. @defaultValue `'io'` */
  kind?: TaskKind;
  /** Queue the task is published to. @defaultValue the app's `defaultQueue` */
  queue?: string;
  /** Store no result (and `get()` would wait forever). @defaultValue false */
  ignoreResult?: boolean;
  /** Automatic and manual retries (Celery defaults: 3 retries, 3 min apart). @defaultValue no automatic retry */
  retry?: RetryOptions;
  /**
   * Hard time limit: a CPU task's thread is terminated, an I/O task is abandoned (its slot freed);
   * the task fails with `TimeLimitExceeded`. @defaultValue the worker's `timeLimit` (none)
   */
  timeLimit?: Duration;
  /** Soft time limit: `ctx.signal` aborts with `SoftTimeLimitExceeded`. @defaultValue the worker's `softTimeLimit` (none) */
  softTimeLimit?: Duration;
  /** Copy the message to the dead-letter stream when the task fails for good. @defaultValue true */
  deadLetter?: boolean;
  /** Priority 0–9 of every call that gives none (higher runs first on queues with `priorities`). @defaultValue none */
  priority?: number;
  /** Middleware of this task only, inside the app's (docs/guide/writing-plugins.md). @defaultValue none */
  middleware?: readonly Middleware[];
}

/** Resolved task options. */
export interface ResolvedTaskOptions {
  kind: TaskKind;
  queue: string;
  ignoreResult: boolean;
  retry: RetryPolicy;
  timeLimitMs: number | null;
  softTimeLimitMs: number | null;
  deadLetter: boolean;
  priority: number | null;
  middleware: readonly Middleware[];
}

const NO_MIDDLEWARE: readonly Middleware[] = Object.freeze([]);

function resolveTaskMiddleware(m: readonly Middleware[] | undefined): readonly Middleware[] {
  if (m === undefined) return NO_MIDDLEWARE;
  if (!Array.isArray(m)) throw new InvalidArgumentError('task options.middleware must be an array of middleware');
  m.forEach((x, i) => validateMiddleware(x, `task options.middleware[${i}]`));
  return Object.freeze([...m]);
}

function limits(hard: Duration | undefined, soft: Duration | undefined, what: string): { timeLimitMs: number | null; softTimeLimitMs: number | null } {
  const timeLimitMs = hard === undefined ? null : parseDuration(hard, `${what}.timeLimit`);
  const softTimeLimitMs = soft === undefined ? null : parseDuration(soft, `${what}.softTimeLimit`);
  if (timeLimitMs !== null && timeLimitMs <= 0) throw new InvalidArgumentError(`${what}.timeLimit must be positive`);
  if (softTimeLimitMs !== null && softTimeLimitMs <= 0) throw new InvalidArgumentError(`${what}.softTimeLimit must be positive`);
  if (timeLimitMs !== null && softTimeLimitMs !== null && softTimeLimitMs >= timeLimitMs) {
    throw new InvalidArgumentError(`${what}.softTimeLimit (${softTimeLimitMs} ms) must be below timeLimit (${timeLimitMs} ms), or the task gets no time to clean up`);
  }
  return { timeLimitMs, softTimeLimitMs };
}

/** Every key of {@link TaskOptions} (checked by the compiler both ways). */
const TASK_OPTION_KEYS: ReadonlySet<string> = new Set(
  Object.keys({ kind: 1, queue: 1, ignoreResult: 1, retry: 1, timeLimit: 1, softTimeLimit: 1, deadLetter: 1, priority: 1, middleware: 1 } satisfies Record<keyof TaskOptions, 1>),
);

/** What to use instead of options users bring from Celery. */
const TASK_OPTION_HINTS: Readonly<Record<string, string>> = {
  rateLimit: "rate limits are a plugin: app.use(rateLimit({ rate: '10/s', tasks: ['<task name>'] })) from celeriac/plugins/rate-limit",
  acksLate: 'Celeriac always acks after the task finished (acks-late); nothing to set',
  maxRetries: 'put it in the retry policy: { retry: { maxRetries } }',
  autoretryFor: 'put it in the retry policy: { retry: { autoretryFor } }',
};

/** Every key of {@link ApplyOptions}. */
const APPLY_OPTION_KEYS: ReadonlySet<string> = new Set(
  Object.keys({
    taskId: 1, queue: 1, priority: 1, headers: 1, expires: 1, countdown: 1, eta: 1, ignoreResult: 1, timeLimit: 1, softTimeLimit: 1, idempotencyKey: 1,
  } satisfies Record<keyof ApplyOptions, 1>),
);

/** @throws InvalidArgumentError naming the option (also a key that is not an option: a typo is not ignored). */
export function resolveTaskOptions(o: TaskOptions | undefined, defaultQueue: string): ResolvedTaskOptions {
  const opts = o ?? {};
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('task options must be an object');
  const unknown = unknownKeyMessage(opts, TASK_OPTION_KEYS, 'task options', TASK_OPTION_HINTS);
  if (unknown) throw new InvalidArgumentError(unknown);
  const kind = opts.kind ?? 'io';
  if (kind !== 'io' && kind !== 'cpu') throw new InvalidArgumentError(`task options.kind must be 'io' or 'cpu', got ${JSON.stringify(kind)}`);
  if (opts.ignoreResult !== undefined && typeof opts.ignoreResult !== 'boolean') {
    throw new InvalidArgumentError('task options.ignoreResult must be a boolean');
  }
  if (opts.deadLetter !== undefined && typeof opts.deadLetter !== 'boolean') throw new InvalidArgumentError('task options.deadLetter must be a boolean');
  if (opts.priority !== undefined && !(Number.isInteger(opts.priority) && opts.priority >= 0 && opts.priority <= 9)) {
    throw new InvalidArgumentError(`task options.priority must be an integer 0-9, got ${JSON.stringify(opts.priority)}`);
  }
  return {
    kind,
    queue: validateToken(opts.queue ?? defaultQueue, 'task options.queue'),
    ignoreResult: opts.ignoreResult ?? false,
    retry: resolveRetryOptions(opts.retry, 'task options.retry'),
    ...limits(opts.timeLimit, opts.softTimeLimit, 'task options'),
    deadLetter: opts.deadLetter ?? true,
    middleware: resolveTaskMiddleware(opts.middleware),
    priority: opts.priority ?? null,
  };
}

export type { ApplyOptions } from '../middleware/types.ts';

/** Resolved call options (times as epoch ms). */
export interface ResolvedApplyOptions {
  taskId: string | undefined;
  queue: string | undefined;
  priority: number | null;
  headers: Record<string, string>;
  expires: number | null;
  eta: number | null;
  ignoreResult: boolean | undefined;
  /** `[soft, hard]` in ms, null when not given for this call. */
  timeLimits: [number | null, number | null] | null;
  idempotencyKey: string | null;
}

const NO_APPLY_OPTIONS: ResolvedApplyOptions = Object.freeze({
  taskId: undefined,
  queue: undefined,
  priority: null,
  headers: Object.freeze({}) as Record<string, string>,
  expires: null,
  eta: null,
  ignoreResult: undefined,
  timeLimits: null,
  idempotencyKey: null,
});

/** @throws InvalidArgumentError naming the option (also a key that is not an option). */
export function resolveApplyOptions(o: ApplyOptions | undefined, now = Date.now()): ResolvedApplyOptions {
  if (o === undefined) return NO_APPLY_OPTIONS;
  const opts = o;
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('applyAsync options must be an object');
  const unknown = unknownKeyMessage(opts, APPLY_OPTION_KEYS, 'applyAsync options');
  if (unknown) throw new InvalidArgumentError(unknown);
  if (opts.countdown !== undefined && opts.eta !== undefined) {
    throw new InvalidArgumentError('applyAsync options: give countdown or eta, not both');
  }
  if (opts.priority !== undefined && !(Number.isInteger(opts.priority) && opts.priority >= 0 && opts.priority <= 9)) {
    throw new InvalidArgumentError(`options.priority must be an integer 0-9, got ${JSON.stringify(opts.priority)}`);
  }
  let eta: number | null = null;
  if (opts.countdown !== undefined) eta = now + parseDuration(opts.countdown, 'options.countdown');
  if (opts.eta !== undefined) {
    if (!(opts.eta instanceof Date) || Number.isNaN(opts.eta.getTime())) {
      throw new InvalidArgumentError('options.eta must be a valid Date (use countdown for a delay)');
    }
    eta = opts.eta.getTime();
  }
  const expires = opts.expires === undefined ? null : parseDeadline(opts.expires, 'options.expires', now);
  if (opts.ignoreResult !== undefined && typeof opts.ignoreResult !== 'boolean') {
    throw new InvalidArgumentError('options.ignoreResult must be a boolean');
  }
  let timeLimits: [number | null, number | null] | null = null;
  if (opts.timeLimit !== undefined || opts.softTimeLimit !== undefined) {
    const l = limits(opts.timeLimit, opts.softTimeLimit, 'options');
    timeLimits = [l.softTimeLimitMs, l.timeLimitMs];
  }
  let taskId = opts.taskId === undefined ? undefined : validateTaskId(opts.taskId, 'options.taskId');
  let idempotencyKey: string | null = null;
  if (opts.idempotencyKey !== undefined) {
    idempotencyKey = validateTaskId(opts.idempotencyKey, 'options.idempotencyKey');
    if (taskId !== undefined && taskId !== idempotencyKey) {
      throw new InvalidArgumentError('options.idempotencyKey becomes the task id: give idempotencyKey or taskId, not two different values');
    }
    if (opts.ignoreResult === true) {
      throw new InvalidArgumentError('options.idempotencyKey needs a stored result (workers skip a key whose result exists); drop ignoreResult');
    }
    taskId = idempotencyKey;
  }
  return {
    timeLimits,
    idempotencyKey,
    taskId,
    queue: opts.queue === undefined ? undefined : validateToken(opts.queue, 'options.queue'),
    priority: opts.priority ?? null,
    headers: validateUserHeaders(opts.headers),
    expires,
    eta,
    ignoreResult: opts.ignoreResult,
  };
}
