/**
 * The tasks registered in an app: each task's handle, its own middleware, and the definition the
 * workers of this process run it by.
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { type TaskDefinition, type TaskFn, registerTaskDefinition } from '../execution/task-definition.ts';
import { validateTaskName } from '../protocol/names.ts';
import type { App } from './create-app.ts';
import { Task } from './task.ts';
import { type TaskOptions, resolveTaskOptions } from './task-options.ts';

/** The task registry of an app (`app.task()`, `app.getTask()`, `app.taskNames()`). */
export class TaskRegistry {
  readonly #app: App;
  readonly #tasks = new Map<string, Task<never[], unknown>>();
  /** The definitions of this app's tasks: what its workers run (see {@link definition}). */
  readonly #defs = new Map<string, TaskDefinition>();

  constructor(app: App) {
    this.#app = app;
  }

  /**
   * Register a task: its handle, its middleware (each one's `setup(app)` called now) and its
   * definition for the workers.
   * @throws InvalidArgumentError for a bad name, a duplicate name, or bad options.
   */
  register<A extends unknown[], R>(name: string, fn: TaskFn<A, R>, options?: TaskOptions): Task<A, Awaited<R>> {
    const app = this.#app;
    validateTaskName(name);
    if (typeof fn !== 'function') throw new InvalidArgumentError(`app.task("${name}"): fn must be a function`);
    if (this.#tasks.has(name)) throw new InvalidArgumentError(`app.task("${name}"): a task with this name is already registered`);
    const resolved = resolveTaskOptions(options, app.options.defaultQueue);
    const t = new Task<A, Awaited<R>>(app, name, fn as TaskFn<A, Awaited<R>>, resolved);
    this.#tasks.set(name, t as unknown as Task<never[], unknown>);
    if (resolved.middleware.length) {
      app.middleware.addForTask(name, resolved.middleware);
      for (const m of resolved.middleware) m.setup?.(app);
    }
    const def: TaskDefinition = {
      name,
      fn: fn as unknown as TaskFn<never[], unknown>,
      kind: resolved.kind,
      queue: resolved.queue,
      ignoreResult: resolved.ignoreResult,
      retry: resolved.retry,
      timeLimitMs: resolved.timeLimitMs,
      softTimeLimitMs: resolved.softTimeLimitMs,
      deadLetter: resolved.deadLetter,
    };
    this.#defs.set(name, def);
    registerTaskDefinition(app.options.name, def);
    return t;
  }

  /** The task registered under `name`, if any. */
  get(name: string): Task<never[], unknown> | undefined {
    return this.#tasks.get(name);
  }

  /**
   * The definition this app registered for `name`. Its workers run this one, not the process-wide
   * registration by app name (which CPU threads use), so a second app of the same name in the
   * process (a test, a producer module) cannot swap the function a worker runs.
   */
  definition(name: string): TaskDefinition | undefined {
    return this.#defs.get(name);
  }

  /** Registered task names, sorted. */
  names(): string[] {
    return [...this.#tasks.keys()].sort();
  }
}
