import { InvalidArgumentError } from '../errors.ts';
import { validateUserHeaders } from '../protocol/envelope.ts';
import { validateTaskId, validateToken } from '../protocol/names.ts';
import type { TaskKind } from '../execution/task-definition.ts';
import { type Duration, parseDeadline, parseDuration } from '../util/duration.ts';

/** Options of `app.task(name, fn, options)`. */
export interface TaskOptions {
  /** `'io'`: async slot on the event loop; `'cpu'`: a worker thread. @defaultValue `'io'` */
  kind?: TaskKind;
  /** Queue the task is published to. @defaultValue the app's `defaultQueue` */
  queue?: string;
  /** Store no result (and `get()` would wait forever). @defaultValue false */
  ignoreResult?: boolean;
}

/** Resolved task options. */
export interface ResolvedTaskOptions {
  kind: TaskKind;
  queue: string;
  ignoreResult: boolean;
}

/** @throws InvalidArgumentError naming the option. */
export function resolveTaskOptions(o: TaskOptions | undefined, defaultQueue: string): ResolvedTaskOptions {
  const opts = o ?? {};
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('task options must be an object');
  const kind = opts.kind ?? 'io';
  if (kind !== 'io' && kind !== 'cpu') throw new InvalidArgumentError(`task options.kind must be 'io' or 'cpu', got ${JSON.stringify(kind)}`);
  if (opts.ignoreResult !== undefined && typeof opts.ignoreResult !== 'boolean') {
    throw new InvalidArgumentError('task options.ignoreResult must be a boolean');
  }
  return {
    kind,
    queue: validateToken(opts.queue ?? defaultQueue, 'task options.queue'),
    ignoreResult: opts.ignoreResult ?? false,
  };
}

/** Options of `task.applyAsync(args, options)`. */
export interface ApplyOptions {
  /** Task id (also the broker's deduplication id). @defaultValue a random UUID */
  taskId?: string;
  /** Queue override. */
  queue?: string;
  /** 0–9, higher runs first (ordering by priority arrives with priority bands). */
  priority?: number;
  /** Custom headers, visible to the task as `ctx.headers`. */
  headers?: Record<string, string>;
  /** Do not run after this: a Date, or a duration from now. */
  expires?: Date | Duration;
  /** Run no earlier than this long from now (Celery's `countdown=10` is `'10s'` here). */
  countdown?: Duration;
  /** Run no earlier than this time. */
  eta?: Date;
  /** Store no result for this call. */
  ignoreResult?: boolean;
}

/** Resolved call options (times as epoch ms). */
export interface ResolvedApplyOptions {
  taskId: string | undefined;
  queue: string | undefined;
  priority: number | null;
  headers: Record<string, string>;
  expires: number | null;
  eta: number | null;
  ignoreResult: boolean | undefined;
}

const NO_APPLY_OPTIONS: ResolvedApplyOptions = Object.freeze({
  taskId: undefined,
  queue: undefined,
  priority: null,
  headers: Object.freeze({}) as Record<string, string>,
  expires: null,
  eta: null,
  ignoreResult: undefined,
});

/** @throws InvalidArgumentError naming the option. */
export function resolveApplyOptions(o: ApplyOptions | undefined, now = Date.now()): ResolvedApplyOptions {
  if (o === undefined) return NO_APPLY_OPTIONS;
  const opts = o;
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('applyAsync options must be an object');
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
  return {
    taskId: opts.taskId === undefined ? undefined : validateTaskId(opts.taskId, 'options.taskId'),
    queue: opts.queue === undefined ? undefined : validateToken(opts.queue, 'options.queue'),
    priority: opts.priority ?? null,
    headers: validateUserHeaders(opts.headers),
    expires,
    eta,
    ignoreResult: opts.ignoreResult,
  };
}
