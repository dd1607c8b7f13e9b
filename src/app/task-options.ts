import { InvalidArgumentError } from '../errors.ts';
import { unknownKeyMessage } from '../util/known-keys.ts';
import { resolveTimeLimits } from '../middleware/apply-options.ts';
import { type Middleware, validateMiddleware } from './middleware.ts';
import { validateToken } from '../protocol/names.ts';
import type { TaskKind } from '../execution/task-definition.ts';
import { type RetryOptions, type RetryPolicy, resolveRetryOptions } from '../execution/retry-policy.ts';
import type { Duration } from '../util/duration.ts';

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
    ...resolveTimeLimits(opts.timeLimit, opts.softTimeLimit, 'task options'),
    deadLetter: opts.deadLetter ?? true,
    middleware: resolveTaskMiddleware(opts.middleware),
    priority: opts.priority ?? null,
  };
}

export type { ApplyOptions } from '../middleware/types.ts';
export { type ResolvedApplyOptions, resolveApplyOptions } from '../middleware/apply-options.ts';
