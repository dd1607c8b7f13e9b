import type { SerializedError } from '../errors.ts';

/** Where a task runs: `io` on the event loop in an async slot, `cpu` in a worker thread of the pool. */
export type TaskKind = 'io' | 'cpu';

import type { DeliveryInfo } from '../transport/transport.ts';

export type { DeliveryInfo };

/** Minimal structured logger handed to tasks. */
export interface TaskLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** The serialisable part of a task context: what crosses into a CPU thread. */
export interface TaskContextData {
  readonly id: string;
  readonly name: string;
  readonly retries: number;
  readonly rootId: string;
  readonly parentId: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly hostname: string;
  readonly delivery: DeliveryInfo;
}

/**
 * The context every task function receives as its first argument.
 * CPU tasks get the same shape; `log` writes through the main thread.
 */
export interface TaskContext extends TaskContextData {
  /** Aborts on worker shutdown (and, later, on soft time limit and revoke). */
  readonly signal: AbortSignal;
  /** Report progress: sets the state to `PROGRESS` with `meta`. */
  progress(meta: Record<string, unknown>): Promise<void>;
  /** Structured logger that tags every line with the task id and name. */
  readonly log: TaskLogger;
}

/** A task function: `(ctx, ...args) => result`. */
export type TaskFn<A extends unknown[] = unknown[], R = unknown> = (ctx: TaskContext, ...args: A) => R | Promise<R>;

/** What a registered task is, independent of the app that made it. */
export interface TaskDefinition {
  readonly name: string;
  readonly fn: TaskFn<never[], unknown>;
  readonly kind: TaskKind;
  readonly queue: string;
  readonly ignoreResult: boolean;
}

/** Outcome of running a task body, as returned by a slot or a thread. */
export type TaskOutcome = { ok: true; value: unknown } | { ok: false; error: SerializedError };

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

/** Names of the tasks registered under `appName` in this thread/process. */
export function taskDefinitionNames(appName: string): string[] {
  return [...(registries().get(appName)?.keys() ?? [])];
}
