/**
 * Call options (`applyAsync(args, options)`, and a signature's `.set()`): checked and resolved to
 * epoch-ms times. Here, below the canvas and the app, so a signature checks its options when they
 * are set with the same rules as a publish.
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { validateUserHeaders } from '../protocol/envelope.ts';
import { validateTaskId, validateToken } from '../protocol/names.ts';
import { type Duration, parseDeadline, parseDuration } from '../util/duration.ts';
import { unknownKeyMessage } from '../util/known-keys.ts';
import type { ApplyOptions } from './types.ts';

/**
 * Hard and soft time limits in ms (null when not given).
 * @throws InvalidArgumentError for a limit that is not positive, or a soft limit not below the hard one.
 */
export function resolveTimeLimits(hard: Duration | undefined, soft: Duration | undefined, what: string): { timeLimitMs: number | null; softTimeLimitMs: number | null } {
  const timeLimitMs = hard === undefined ? null : parseDuration(hard, `${what}.timeLimit`);
  const softTimeLimitMs = soft === undefined ? null : parseDuration(soft, `${what}.softTimeLimit`);
  if (timeLimitMs !== null && timeLimitMs <= 0) throw new InvalidArgumentError(`${what}.timeLimit must be positive`);
  if (softTimeLimitMs !== null && softTimeLimitMs <= 0) throw new InvalidArgumentError(`${what}.softTimeLimit must be positive`);
  if (timeLimitMs !== null && softTimeLimitMs !== null && softTimeLimitMs >= timeLimitMs) {
    throw new InvalidArgumentError(`${what}.softTimeLimit (${softTimeLimitMs} ms) must be below timeLimit (${timeLimitMs} ms), or the task gets no time to clean up`);
  }
  return { timeLimitMs, softTimeLimitMs };
}

/** Every key of {@link ApplyOptions}. */
export const APPLY_OPTION_KEYS: ReadonlySet<string> = new Set(
  Object.keys({
    taskId: 1, queue: 1, priority: 1, headers: 1, expires: 1, countdown: 1, eta: 1, ignoreResult: 1, timeLimit: 1, softTimeLimit: 1, idempotencyKey: 1,
  } satisfies Record<keyof ApplyOptions, 1>),
);

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
    const l = resolveTimeLimits(opts.timeLimit, opts.softTimeLimit, 'options');
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
