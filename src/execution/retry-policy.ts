import { InvalidArgumentError } from '../errors.ts';
import { type Duration, parseDuration } from '../util/duration.ts';
import { unknownKeyMessage } from '../util/known-keys.ts';

/** Every key of {@link RetryOptions} (checked by the compiler both ways). */
const RETRY_OPTION_KEYS: ReadonlySet<string> = new Set(
  Object.keys({ autoretryFor: 1, dontAutoretryFor: 1, maxRetries: 1, countdown: 1, backoff: 1, backoffMax: 1, jitter: 1 } satisfies Record<keyof RetryOptions, 1>),
);

/** An error class (matched with `instanceof`, or by name for errors rebuilt from another thread) or a predicate. */
export type ErrorMatcher = (abstract new (...args: never[]) => Error) | ((err: unknown) => boolean);

/** Back-off between retries: a named curve, or `(attempt) => ms` where `attempt` is 1 for the first retry. */
export type Backoff = 'fixed' | 'exponential' | 'linear' | 'fibonacci' | ((attempt: number) => number);

/**
 * Retry policy of a task (`app.task(name, fn, { retry: {...} })`). Defaults are Celery's.
 * @example
 * { autoretryFor: [FetchError], dontAutoretryFor: [ValidationError], maxRetries: 5, backoff: 'exponential', backoffMax: '5m' }
 */
export interface RetryOptions {
  /** Errors that trigger an automatic retry (Celery `autoretry_for`). @defaultValue `[]` (only explicit `Retry`) */
  autoretryFor?: readonly ErrorMatcher[];
  /** Errors that are never retried automatically, even if `autoretryFor` matches (Celery `dont_autoretry_for`). @defaultValue `[]` */
  dontAutoretryFor?: readonly ErrorMatcher[];
  /** Retries after the first attempt; `Infinity` retries forever. @defaultValue 3 */
  maxRetries?: number;
  /**
   * Base delay: the fixed delay with `backoff: 'fixed'`, the first step of the other curves.
   * @defaultValue `'3m'` for `'fixed'` (Celery `default_retry_delay`), `'1s'` for the curves (Celery's backoff factor)
   */
  countdown?: Duration;
  /** Curve of the delays. @defaultValue `'fixed'` */
  backoff?: Backoff;
  /** Largest delay a curve may produce (Celery `retry_backoff_max`). @defaultValue `'10m'` */
  backoffMax?: Duration;
  /** Full jitter on curve delays: a random delay between 0 and the computed one (Celery `retry_jitter`). @defaultValue true */
  jitter?: boolean;
}

/** {@link RetryOptions} resolved (durations in ms). */
export interface RetryPolicy {
  readonly autoretryFor: readonly ErrorMatcher[];
  readonly dontAutoretryFor: readonly ErrorMatcher[];
  readonly maxRetries: number;
  readonly countdownMs: number;
  readonly backoff: Backoff;
  readonly backoffMaxMs: number;
  readonly jitter: boolean;
}

/** Defaults of {@link RetryOptions}. */
export const DEFAULT_RETRY_OPTIONS = Object.freeze({
  maxRetries: 3,
  fixedCountdown: '3m',
  curveCountdown: '1s',
  backoff: 'fixed',
  backoffMax: '10m',
  jitter: true,
} as const);

/** The policy of a task without `retry` options: no automatic retry; `Retry` thrown by hand gets Celery's defaults. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  autoretryFor: [],
  dontAutoretryFor: [],
  maxRetries: DEFAULT_RETRY_OPTIONS.maxRetries,
  countdownMs: parseDuration(DEFAULT_RETRY_OPTIONS.fixedCountdown, 'retry countdown'),
  backoff: 'fixed',
  backoffMaxMs: parseDuration(DEFAULT_RETRY_OPTIONS.backoffMax, 'retry backoffMax'),
  jitter: true,
});

function matchers(v: unknown, what: string): ErrorMatcher[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new InvalidArgumentError(`${what} must be an array of error classes or predicates`);
  v.forEach((m, i) => {
    if (typeof m !== 'function') throw new InvalidArgumentError(`${what}[${i}] must be an error class or a function (err) => boolean`);
  });
  return v as ErrorMatcher[];
}

/**
 * Validate {@link RetryOptions} and fill in {@link DEFAULT_RETRY_OPTIONS}: a frozen
 * {@link RetryPolicy} with durations in ms (the defaults' policy when `o` is undefined).
 * @throws InvalidArgumentError naming the option.
 */
export function resolveRetryOptions(o: RetryOptions | undefined, what = 'options.retry'): RetryPolicy {
  if (o === undefined) return DEFAULT_RETRY_POLICY;
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError(`${what} must be an object`);
  const unknown = unknownKeyMessage(o, RETRY_OPTION_KEYS, what);
  if (unknown) throw new InvalidArgumentError(unknown);
  const d = DEFAULT_RETRY_OPTIONS;
  const backoff = o.backoff ?? d.backoff;
  if (typeof backoff !== 'function' && !['fixed', 'exponential', 'linear', 'fibonacci'].includes(backoff)) {
    throw new InvalidArgumentError(`${what}.backoff must be 'fixed', 'exponential', 'linear', 'fibonacci' or (attempt) => ms, got ${JSON.stringify(backoff)}`);
  }
  const maxRetries = o.maxRetries ?? d.maxRetries;
  if (!(maxRetries === Infinity || (Number.isInteger(maxRetries) && maxRetries >= 0))) {
    throw new InvalidArgumentError(`${what}.maxRetries must be a non-negative integer or Infinity, got ${JSON.stringify(maxRetries)}`);
  }
  if (o.jitter !== undefined && typeof o.jitter !== 'boolean') throw new InvalidArgumentError(`${what}.jitter must be a boolean`);
  const countdownMs = parseDuration(o.countdown ?? (backoff === 'fixed' ? d.fixedCountdown : d.curveCountdown), `${what}.countdown`);
  const backoffMaxMs = parseDuration(o.backoffMax ?? d.backoffMax, `${what}.backoffMax`);
  return Object.freeze({
    autoretryFor: matchers(o.autoretryFor, `${what}.autoretryFor`),
    dontAutoretryFor: matchers(o.dontAutoretryFor, `${what}.dontAutoretryFor`),
    maxRetries,
    countdownMs,
    backoff,
    backoffMaxMs,
    jitter: o.jitter ?? d.jitter,
  });
}

function isErrorClass(m: ErrorMatcher): m is abstract new (...args: never[]) => Error {
  return typeof m === 'function' && (m.prototype instanceof Error || m === Error);
}

function matchOne(m: ErrorMatcher, err: unknown): boolean {
  if (isErrorClass(m)) {
    if (err instanceof m) return true;
    // An error rebuilt from its serialised form (another thread, the wire) keeps only its name.
    return typeof err === 'object' && err !== null && (err as Error).name === m.name && !(err instanceof Error && Object.getPrototypeOf(err) !== Error.prototype);
  }
  try {
    return (m as (e: unknown) => boolean)(err) === true;
  } catch {
    return false;
  }
}

/** True when the policy retries `err` automatically (`autoretryFor` matches and `dontAutoretryFor` does not). */
export function shouldAutoretry(policy: RetryPolicy, err: unknown): boolean {
  if (policy.autoretryFor.length === 0) return false;
  if (policy.dontAutoretryFor.some((m) => matchOne(m, err))) return false;
  return policy.autoretryFor.some((m) => matchOne(m, err));
}

function fib(n: number): number {
  let a = 1;
  let b = 1;
  for (let i = 2; i < n; i++) [a, b] = [b, a + b];
  return n <= 2 ? 1 : b;
}

/**
 * Delay before retry number `attempt` (1 = the first retry).
 * fixed: `countdown`; exponential: `countdown * 2^(attempt-1)`; linear: `countdown * attempt`;
 * fibonacci: `countdown * fib(attempt)`; curves are capped at `backoffMax` and jittered (uniform in
 * `[0, delay]`) when `jitter` is on. A function's result is used as is (clamped to ≥ 0).
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const b = policy.backoff;
  if (typeof b === 'function') {
    const v = Number(b(attempt));
    return Number.isFinite(v) && v > 0 ? Math.round(v) : 0;
  }
  if (b === 'fixed') return policy.countdownMs;
  const base = policy.countdownMs;
  const raw = b === 'exponential' ? base * 2 ** (attempt - 1) : b === 'linear' ? base * attempt : base * fib(attempt);
  const capped = Math.min(raw, policy.backoffMaxMs);
  return policy.jitter ? Math.round(random() * capped) : Math.round(capped);
}
