import { InvalidArgumentError } from '../errors.ts';
import { Group, Signature, type WorkflowApplier } from '../canvas/signature.ts';
import type { AsyncResult } from '../results/async-result.ts';
import type { TaskFn } from '../execution/task-definition.ts';
import { MAP_TASK, STARMAP_TASK } from './builtins.ts';
import type { ApplyOptions, ResolvedTaskOptions } from './task-options.ts';

/** What a task handle needs from its app. */
export interface TaskPublisher extends WorkflowApplier {
  publishTask(name: string, args: readonly unknown[], taskOptions: ResolvedTaskOptions, options?: ApplyOptions): Promise<AsyncResult<unknown>>;
  publishMany(name: string, argsList: ReadonlyArray<readonly unknown[]>, taskOptions: ResolvedTaskOptions, options: ApplyOptions | undefined, window: number): Promise<Array<AsyncResult<unknown>>>;
}

/** Publishes `delayMany` keeps awaiting their acknowledgement at once. */
const BULK_WINDOW = 1000;

/**
 * The argument lists a partial signature may hold: all of `A`, or any tail of it (a chain
 * prepends the parent's result to a tail).
 */
export type ArgsSuffix<A extends unknown[]> = A | (A extends [unknown, ...infer Rest] ? ArgsSuffix<Rest> : []);

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

  /**
   * Send the task once per argument list (bulk enqueue, like BullMQ's `addBulk`): every message is
   * encoded and checked first, so bad input sends nothing; then they are pipelined (up to 1,000
   * awaiting the broker's acknowledgement). Resolves with one result per list, in order, once all
   * are stored. `options` apply to every task (no `taskId`).
   * @example const results = await add.delayMany([[1, 2], [3, 4], [5, 6]]);
   * @throws InvalidArgumentError for bad input (nothing sent); PublishError naming how many were
   *   sent when the broker fails part-way.
   */
  delayMany(argsList: ReadonlyArray<A>, options?: ApplyOptions): Promise<Array<AsyncResult<Awaited<R>>>> {
    return this.#app.publishMany(this.name, argsList, this.options, options, BULK_WINDOW) as Promise<Array<AsyncResult<Awaited<R>>>>;
  }

  /**
   * A signature: this task with all or the last of its arguments. In a chain the parent's result is
   * prepended: `chain(add.s(2, 2), add.s(4))` computes `add(4, 4)`.
   * @example const sig = add.s(4).set({ queue: 'math', countdown: '10s' });
   */
  s(...args: ArgsSuffix<A>): Signature<Awaited<R>> {
    return new Signature<Awaited<R>>({ task: this.name, args: [...args] }, this.#app);
  }

  /** An immutable signature: in a chain it ignores the parent's result. */
  si(...args: A): Signature<Awaited<R>> {
    return new Signature<Awaited<R>>({ task: this.name, args: [...args], immutable: true }, this.#app);
  }

  /**
   * One task message that calls this task once per item, in order, and returns the list of
   * results (Celery's `map`). Without `items`, in a chain, it maps over the parent's result. Runs
   * where this task runs (a CPU task's map runs in a thread).
   */
  map(items?: ReadonlyArray<A[0]>): Signature<Array<Awaited<R>>> {
    return this.#builtin(MAP_TASK, items, 'map');
  }

  /** Like {@link map}, with one argument list per call (Celery's `starmap`). */
  starmap(argsList?: ReadonlyArray<A>): Signature<Array<Awaited<R>>> {
    return this.#builtin(STARMAP_TASK, argsList, 'starmap');
  }

  /**
   * Split `argsList` into chunks of `n` calls, one `starmap` task per chunk, as a group: its result
   * is one list of results per chunk (Celery's `chunks`).
   * @throws InvalidArgumentError when `n` is not a positive integer or `argsList` not an array.
   */
  chunks(argsList: ReadonlyArray<A>, n: number): Group<Array<Awaited<R>>> {
    if (!Array.isArray(argsList)) throw new InvalidArgumentError(`${this.name}.chunks(argsList, n): argsList must be an array of argument arrays`);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${this.name}.chunks(argsList, n): n must be a positive integer, got ${JSON.stringify(n)}`);
    const tasks = [];
    for (let i = 0; i < argsList.length; i += n) tasks.push(this.#builtin(STARMAP_TASK, argsList.slice(i, i + n), 'chunks').raw);
    return new Group<Array<Awaited<R>>>({ subtask_type: 'group', tasks }, this.#app);
  }

  #builtin(builtin: string, items: readonly unknown[] | undefined, what: string): Signature<Array<Awaited<R>>> {
    if (items !== undefined && !Array.isArray(items)) throw new InvalidArgumentError(`${this.name}.${what}(items): items must be an array`);
    const args = items === undefined ? [this.name] : [[...items], this.name];
    return new Signature<Array<Awaited<R>>>({ task: builtin, args, options: { queue: this.options.queue } }, this.#app);
  }
}
