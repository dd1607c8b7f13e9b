import type { Span } from '@opentelemetry/api';
import type { ExecuteInputOf } from '../middleware/types.ts';
import { InvalidArgumentError, Retry, type SerializedError } from '../errors.ts';
import { type Duration, parseDuration } from '../util/duration.ts';
import type { RetryPolicy } from './retry-policy.ts';
import { type AnyTaskState, updatableStateProblem } from '../results/states.ts';

/** Where a task runs: `io` on the event loop in an async slot, `cpu` in a worker thread of the pool. */
export type TaskKind = 'io' | 'cpu';

import type { DeliveryInfo } from '../transport/transport.ts';

export type { DeliveryInfo };

/** Minimal structured logger handed to tasks. */
export interface TaskLogger {
  /** Write `msg` with `fields` at level `debug`. */
  debug(msg: string, fields?: Record<string, unknown>): void;
  /** Write `msg` with `fields` at level `info`. */
  info(msg: string, fields?: Record<string, unknown>): void;
  /** Write `msg` with `fields` at level `warn`. */
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** Write `msg` with `fields` at level `error`. */
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * Identity of one delivery of one message: stream sequence + delivery count. A retry is a new
 * message (higher sequence); a redelivery after a crash has a higher delivery count. Later attempts
 * compare greater; results written by an earlier attempt after a later one started are rejected.
 */
export interface AttemptToken {
  readonly sequence: number;
  readonly delivery: number;
  /** `<sequence>.<delivery>`, e.g. for an idempotency record in your own database. */
  readonly token: string;
}

/** Options of `ctx.retry()`. */
export interface CtxRetryOptions {
  /** Delay before the next attempt. @defaultValue the task's retry policy */
  countdown?: Duration;
  /** The error behind the retry (recorded; the task fails with it when retries are exhausted). */
  error?: unknown;
  /** Reason, for logs. */
  message?: string;
}

/** Build the {@link Retry} that `ctx.retry(options)` throws. */
export function retrySignal(options: CtxRetryOptions = {}): Retry {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('ctx.retry(options): options must be an object');
  return new Retry({
    countdownMs: options.countdown === undefined ? undefined : parseDuration(options.countdown, 'ctx.retry({ countdown })'),
    error: options.error,
    message: options.message,
  });
}

/** The serialisable part of a task context: what crosses into a CPU thread. */
export interface TaskContextData {
  readonly id: string;
  readonly name: string;
  /**
   * Deliberate retries so far (0 on the first attempt). Each retry is a new message, so
   * `delivery.deliveryCount - 1` counts the redeliveries of this message (crashes, and hand-backs
   * such as an unknown task name or a sub-second wait for the eta).
   */
  readonly retries: number;
  /** This attempt's fencing token. */
  readonly attempt: AttemptToken;
  /** Idempotency key given at publish, or null. */
  readonly idempotencyKey: string | null;
  readonly rootId: string;
  readonly parentId: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly hostname: string;
  readonly delivery: DeliveryInfo;
  /**
   * W3C `traceparent` of this execution's span: a CPU thread runs the task in this trace context,
   * so spans the task creates there belong to the task's trace.
   */
  readonly traceparent?: string;
}

/**
 * The context every task function receives as its first argument.
 * CPU tasks get the same shape; `log` writes through the main thread.
 */
export interface TaskContext extends TaskContextData {
  /**
   * Aborts on soft time limit (reason `SoftTimeLimitExceeded`), revoke (`TaskRevokedError`), hard
   * time limit and worker shutdown. Pass it to fetch/streams, or check `signal.aborted` in loops.
   */
  readonly signal: AbortSignal;
  /**
   * Retry this task later: `throw ctx.retry({ countdown: '10s', error })` (it throws itself too).
   * Counts against `maxRetries`; when they are exhausted the task fails with `error`.
   */
  retry(options?: CtxRetryOptions): never;
  /** Report progress: sets the state to `PROGRESS` with `meta`. */
  progress(meta: Record<string, unknown>): Promise<void>;
  /**
   * Set the stored state with `meta`, as Celery's `self.update_state(state, meta)`: `'PROGRESS'`
   * (the same as `progress(meta)`), `'STARTED'`, or a custom state of your own such as
   * `'UPLOADING'` (upper-case letters, digits and `_`, starting with a letter, at most 64
   * characters). Callers see it in `state()`, `info().meta` and `watch()` until the task ends; the
   * final state replaces it. Writes are ordered with `progress()`. The states the runtime sets
   * (`PENDING`, `SCHEDULED`, `RECEIVED`, `RETRY`, `SUCCESS`, `FAILURE`, `REVOKED`) and malformed
   * names throw an {@link InvalidArgumentError} (`E_INVALID_ARGUMENT`) at the call: return, throw or
   * `ctx.retry()` to end the task instead.
   *
   * @example
   * ```ts
   * await ctx.updateState('UPLOADING', { file: 'report.pdf', bytes: 0 });
   * ```
   */
  updateState(state: AnyTaskState, meta?: Record<string, unknown>): Promise<void>;
  /** Structured logger that tags every line with the task id and name. */
  readonly log: TaskLogger;
  /**
   * This attempt's CONSUMER span (`process <task>`), for attributes and events of your own:
   * `ctx.span?.setAttribute('order.id', id)`. A no-op span when no OpenTelemetry SDK is registered.
   * `undefined` in a CPU thread: there, spans the task starts with the OpenTelemetry API are
   * children of this one.
   */
  readonly span?: Span;
}

/** A task function: `(ctx, ...args) => result`. */
export type TaskFn<A extends unknown[] = unknown[], R = unknown> = (ctx: TaskContext, ...args: A) => R | Promise<R>;

/** What an execute middleware gets: the task name, its arguments, and the task's context. */
export type ExecuteInput = ExecuteInputOf<TaskContext>;

/** What a registered task is, independent of the app that made it. */
export interface TaskDefinition {
  readonly name: string;
  readonly fn: TaskFn<never[], unknown>;
  readonly kind: TaskKind;
  /** Kind decided per call (built-in map/starmap run where their target task runs). */
  readonly kindFor?: (args: readonly unknown[]) => TaskKind;
  readonly queue: string;
  readonly ignoreResult: boolean;
  /** Retry policy (defaults when the task gave none). */
  readonly retry: RetryPolicy;
  /** Hard time limit in ms, or null. */
  readonly timeLimitMs: number | null;
  /** Soft time limit in ms, or null. */
  readonly softTimeLimitMs: number | null;
  /** A task that fails for good is copied to the dead-letter stream. @defaultValue true */
  readonly deadLetter: boolean;
}

/**
 * Outcome of running a task body, as returned by a slot or a thread. `autoretry` is decided where
 * the error object lives (the thread, for CPU tasks), so `autoretryFor` classes match with
 * `instanceof`.
 */
export type TaskOutcome = { ok: true; value: unknown } | { ok: false; error: SerializedError; autoretry?: boolean };

const GLOBAL_KEY = Symbol.for('celeriac.task-registries');
type Registries = Map<string, Map<string, TaskDefinition>>;

function registries(): Registries {
  const g = globalThis as unknown as Record<symbol, Registries | undefined>;
  let r = g[GLOBAL_KEY];
  if (!r) {
    r = new Map();
    g[GLOBAL_KEY] = r;
  }
  return r;
}

/** Record a task under its app name (per thread/process). Used by `app.task()`. */
export function registerTaskDefinition(appName: string, def: TaskDefinition): void {
  let m = registries().get(appName);
  if (!m) {
    m = new Map();
    registries().set(appName, m);
  }
  m.set(def.name, def);
}

/** Find a task registered under `appName` in this thread/process. */
export function findTaskDefinition(appName: string, taskName: string): TaskDefinition | undefined {
  return registries().get(appName)?.get(taskName);
}

/**
 * What a worker runs for `taskName`: its app's own definition (`own`) first, then the process-wide
 * registration under `appName` (the built-ins, and the only one CPU threads have). A second app of
 * the same name in the process thus cannot swap the function a worker runs.
 */
export function workerTaskDefinition(appName: string, taskName: string, own?: (name: string) => TaskDefinition | undefined): TaskDefinition | undefined {
  return own?.(taskName) ?? findTaskDefinition(appName, taskName);
}

/** Names of the tasks registered under `appName` in this thread/process. */
export function taskDefinitionNames(appName: string): string[] {
  return [...(registries().get(appName)?.keys() ?? [])];
}

/**
 * The `meta` to store for `ctx.updateState(state, meta)` in task `taskName` (null when none was
 * given); throws an {@link InvalidArgumentError} naming the task and the rule for a state a task
 * cannot set or a `meta` that is not a plain object. Shared by the main thread and CPU threads.
 */
export function checkStateUpdate(taskName: string, state: unknown, meta: unknown): Record<string, unknown> | null {
  const problem = updatableStateProblem(state);
  if (problem) throw new InvalidArgumentError(`ctx.updateState(state, meta) in task ${taskName}: ${problem}`);
  if (meta === undefined) return null;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) {
    const got = Array.isArray(meta) ? 'an array' : meta === null ? 'null' : typeof meta;
    throw new InvalidArgumentError(`ctx.updateState(${JSON.stringify(state)}, meta) in task ${taskName}: meta must be a plain object, got ${got}`);
  }
  return meta as Record<string, unknown>;
}
