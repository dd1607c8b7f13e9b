/**
 * Supervisor configuration in three steps ({@link SupervisorOptions}, {@link DEFAULT_SUPERVISOR_OPTIONS},
 * {@link resolveSupervisorOptions}), the restart back-off formula, and the events a supervisor reports.
 * @module
 */
import { InvalidArgumentError } from '../../errors.ts';
import type { EscalationError } from '../../errors.ts';

/**
 * Something a supervisor did or saw, for logs and metrics. `supervisor` and `child` are names;
 * `attempt` counts consecutive restarts of the child (0 for its first start, reset after it ran
 * `withinMs` without crashing).
 */
export type SupervisorEvent =
  /** An incarnation of `child` finished `start()` (for a child supervisor: it was (re)started). */
  | { type: 'child-started'; supervisor: string; child: string; attempt: number }
  /** `child` crashed (or, for a child supervisor, escalated). `delayMs` is set when a restart is scheduled. */
  | { type: 'child-crashed'; supervisor: string; child: string; error: unknown; attempt: number; delayMs?: number }
  /** The back-off elapsed and a new incarnation of `child` is starting. */
  | { type: 'child-restarted'; supervisor: string; child: string; attempt: number; delayMs: number }
  /** `child` was stopped gracefully by `supervisor.stop()`. */
  | { type: 'child-stopped'; supervisor: string; child: string }
  /** The behaviour's `stop()` hook of `child` threw; the error is otherwise ignored. */
  | { type: 'child-stop-failed'; supervisor: string; child: string; error: unknown }
  /** `supervisor` exceeded its restart intensity because of `child`, stopped its children and gave up. */
  | { type: 'escalated'; supervisor: string; child: string; error: EscalationError };

/** Exponential restart back-off, per child. */
export interface BackoffOptions {
  /**
   * Delay before the first restart, in milliseconds.
   * @defaultValue 100
   */
  initialMs?: number;
  /**
   * Upper bound of the delay, in milliseconds; must be >= `initialMs`.
   * @defaultValue 5_000, or `initialMs` when that is larger
   */
  maxMs?: number;
  /**
   * Multiplier applied for each further consecutive restart.
   * @defaultValue 2
   */
  factor?: number;
}

/**
 * How a {@link Supervisor} restarts its children. The strategy is always one-for-one: only the
 * crashed child is restarted; its siblings keep running.
 */
export interface SupervisorOptions {
  /**
   * Restart intensity: more than `maxRestarts` restarts (of all children together) within
   * `withinMs` make the supervisor give up: it stops its children and escalates. `0` means the
   * first crash escalates.
   * @defaultValue 5
   */
  maxRestarts?: number;
  /**
   * Sliding window of the restart intensity, in milliseconds. A child that ran this long without
   * crashing also gets its back-off reset.
   * @defaultValue 10_000
   */
  withinMs?: number;
  /**
   * Back-off between a crash and the restart: `min(maxMs, initialMs * factor ** (attempt - 1))`,
   * no jitter (restarts are local, there is no herd to spread).
   * @defaultValue `{ initialMs: 100, maxMs: 5_000, factor: 2 }`
   */
  backoff?: BackoffOptions;
  /**
   * Observer of {@link SupervisorEvent}s. Errors it throws are ignored.
   * @defaultValue none; a child supervisor inherits its parent's.
   */
  onEvent?: (event: SupervisorEvent) => void;
  /**
   * Called when a root supervisor gives up, with the {@link EscalationError} (the last child error
   * as `cause`). The worker node uses it to exit non-zero. Ignored by child supervisors, which
   * escalate to their parent instead.
   * @defaultValue rethrow the error asynchronously, so an unhandled root failure crashes the process
   */
  onFatal?: (err: EscalationError) => void;
}

/** {@link SupervisorOptions} with every default applied. */
export interface ResolvedSupervisorOptions {
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly backoff: Readonly<Required<BackoffOptions>>;
  readonly onEvent: ((event: SupervisorEvent) => void) | undefined;
  readonly onFatal: (err: EscalationError) => void;
}

/** The defaults of {@link SupervisorOptions}. */
export const DEFAULT_SUPERVISOR_OPTIONS: ResolvedSupervisorOptions = Object.freeze({
  maxRestarts: 5,
  withinMs: 10_000,
  backoff: Object.freeze({ initialMs: 100, maxMs: 5_000, factor: 2 }),
  onEvent: undefined,
  onFatal: (err: EscalationError): void => {
    queueMicrotask(() => {
      throw err;
    });
  },
});

/**
 * Apply defaults to `options` and validate them.
 * @throws InvalidArgumentError naming the first field that breaks its rule.
 * @example
 * ```ts
 * resolveSupervisorOptions({ maxRestarts: 3, backoff: { initialMs: 50 } }).backoff.maxMs; // 5000
 * ```
 */
export function resolveSupervisorOptions(options: SupervisorOptions = {}): ResolvedSupervisorOptions {
  const d = DEFAULT_SUPERVISOR_OPTIONS;
  const maxRestarts = options.maxRestarts ?? d.maxRestarts;
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) {
    throw new InvalidArgumentError(`options.maxRestarts must be a non-negative integer, got ${String(maxRestarts)}`);
  }
  const withinMs = options.withinMs ?? d.withinMs;
  if (!Number.isFinite(withinMs) || withinMs <= 0) {
    throw new InvalidArgumentError(`options.withinMs must be a positive number of milliseconds, got ${String(withinMs)}`);
  }
  const initialMs = options.backoff?.initialMs ?? d.backoff.initialMs;
  if (!Number.isFinite(initialMs) || initialMs < 0) {
    throw new InvalidArgumentError(
      `options.backoff.initialMs must be a non-negative number of milliseconds, got ${String(initialMs)}`,
    );
  }
  const maxMs = options.backoff?.maxMs ?? Math.max(d.backoff.maxMs, initialMs);
  if (!Number.isFinite(maxMs) || maxMs < initialMs) {
    throw new InvalidArgumentError(
      `options.backoff.maxMs must be a number of milliseconds >= backoff.initialMs (${initialMs}), got ${String(maxMs)}`,
    );
  }
  const factor = options.backoff?.factor ?? d.backoff.factor;
  if (!Number.isFinite(factor) || factor < 1) {
    throw new InvalidArgumentError(`options.backoff.factor must be a number >= 1, got ${String(factor)}`);
  }
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
    throw new InvalidArgumentError('options.onEvent must be a function');
  }
  if (options.onFatal !== undefined && typeof options.onFatal !== 'function') {
    throw new InvalidArgumentError('options.onFatal must be a function');
  }
  return {
    maxRestarts,
    withinMs,
    backoff: Object.freeze({ initialMs, maxMs, factor }),
    onEvent: options.onEvent,
    onFatal: options.onFatal ?? d.onFatal,
  };
}

/**
 * Delay before restart number `attempt` (1-based) under `backoff`:
 * `min(maxMs, initialMs * factor ** (attempt - 1))`.
 */
export function backoffDelayMs(attempt: number, backoff: Readonly<Required<BackoffOptions>>): number {
  return Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** Math.max(0, attempt - 1));
}
