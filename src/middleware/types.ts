/**
 * Shapes of the middleware chain that do not depend on higher layers: call options, the publish
 * input, the execute input (generic in the task context), observer events. The public `Middleware`
 * type, which names the app and the worker node, is in `app/middleware.ts`.
 * @module
 */
import type { SerializedError } from '../errors.ts';
import type { Duration } from '../util/duration.ts';

/** Options of `task.applyAsync(args, options)`. */
export interface ApplyOptions {
  /** Task id (also the broker's deduplication id). @defaultValue a random UUID */
  taskId?: string;
  /** Queue override. */
  queue?: string;
  /** 0–9, higher runs first on a queue declared with `priorities` (its bands); overrides the task's `priority`. */
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
  /** Hard time limit for this call (overrides the task's). Sent as Celery's `timelimit` header. */
  timeLimit?: Duration;
  /** Soft time limit for this call (overrides the task's). */
  softTimeLimit?: Duration;
  /**
   * Exactly-once key: it becomes the task id, so publishing the same key twice within the broker's
   * duplicate window stores one message, and a worker skips a key whose terminal result exists
   * (for as long as results are kept). Needs a result (not with `ignoreResult`).
   */
  idempotencyKey?: string;
}

/** What a publish middleware gets: the task name, its arguments and the call options (read-only; pass a changed copy to `next`). */
export interface PublishInput {
  readonly task: string;
  readonly args: readonly unknown[];
  readonly options: Readonly<ApplyOptions>;
}

/** What a publish resolves with. */
export interface PublishOutcome {
  /** Id of the published task. */
  readonly taskId: string;
}

/** What an execute middleware gets (`C` is the task context, `TaskContext` in the public type). */
export interface ExecuteInputOf<C> {
  readonly task: string;
  readonly args: readonly unknown[];
  readonly ctx: C;
}

/** Observer event about a task execution. */
export interface TaskEvent {
  readonly task: string;
  readonly id: string;
  readonly args: readonly unknown[];
  /** Deliberate retries so far. */
  readonly retries: number;
  /** Worker name. */
  readonly worker: string;
}

/** How an execution ended, for `postrun`. */
export type RunOutcomeState = 'SUCCESS' | 'FAILURE' | 'RETRY' | 'REVOKED' | 'IGNORED' | 'DEFERRED';

/** Observers of executions (the execution layer calls them; errors they throw are logged and ignored). */
export interface ExecutionSignals {
  /** Before the task function runs. */
  prerun?(e: TaskEvent): void;
  /** After it ran, whatever the outcome (`state`). */
  postrun?(e: TaskEvent & { state: RunOutcomeState }): void;
  /** The task returned `result`. */
  success?(e: TaskEvent & { result: unknown }): void;
  /** The task failed for good (no retry left, or not retried). */
  failure?(e: TaskEvent & { error: SerializedError }): void;
  /** The task failed and runs again in `countdownMs`. */
  retry?(e: TaskEvent & { error: SerializedError; countdownMs: number }): void;
  /** The task was revoked (`reason`: revoked, expired, time limit...). */
  revoked?(e: TaskEvent & { reason: string }): void;
}
