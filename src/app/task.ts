import type { AsyncResult } from '../results/async-result.ts';
import type { TaskFn } from '../execution/task-definition.ts';
import type { ApplyOptions, ResolvedTaskOptions } from './task-options.ts';

/** What a task handle needs from its app. */
export interface TaskPublisher {
  publishTask(name: string, args: readonly unknown[], taskOptions: ResolvedTaskOptions, options?: ApplyOptions): Promise<AsyncResult<unknown>>;
}

/**
 * A registered task. Argument and result types are inferred from the function given to `app.task()`.
 * @example
 * const add = app.task('math.add', async (ctx, a: number, b: number) => a + b);
 * const r = await add.delay(2, 3);   // AsyncResult<number>
 * await r.get({ timeout: '5s' });    // 5
 */
export class Task<A extends unknown[] = unknown[], R = unknown> {
  /** The task name. */
  readonly name: string;
  /** Resolved task options. */
  readonly options: Readonly<ResolvedTaskOptions>;
  /** The function (also callable directly, e.g. in unit tests, with a context you build). */
  readonly fn: TaskFn<A, R>;
  readonly #app: TaskPublisher;

  /** @internal created by `app.task()`. */
  constructor(app: TaskPublisher, name: string, fn: TaskFn<A, R>, options: ResolvedTaskOptions) {
    this.#app = app;
    this.name = name;
    this.fn = fn;
    this.options = Object.freeze({ ...options });
  }

  /** Send the task with these arguments; resolves once the broker stored it. */
  delay(...args: A): Promise<AsyncResult<Awaited<R>>> {
    return this.applyAsync(args);
  }

  /**
   * Send the task with call options.
   * @throws InvalidArgumentError for a bad option, PayloadTooLargeError, QueueFullError, PublishError
   */
  applyAsync(args: A, options?: ApplyOptions): Promise<AsyncResult<Awaited<R>>> {
    return this.#app.publishTask(this.name, args, this.options, options) as Promise<AsyncResult<Awaited<R>>>;
  }
}
