/**
 * The middleware chain, the way Celeriac is extended (docs/guide/writing-plugins.md). A middleware
 * wraps publishing and execution with `(input, next)` hooks and observes signals; plugins
 * (`plugins/circuit-breaker`, `plugins/rate-limit`, `plugins/saga`) are middleware.
 * @module
 */
import type { WorkerNode } from '../actors/worker-node.ts';
import { InvalidArgumentError } from '../errors.ts';
import type { ExecutionMiddleware } from '../execution/executor.ts';
import type { ExecuteInput } from '../execution/task-definition.ts';
import { type Composed, type Wrap, compose } from '../middleware/compose.ts';
import { type ObserverLog, observe } from '../middleware/observe.ts';
import type { ExecutionSignals, PublishInput, PublishOutcome } from '../middleware/types.ts';
import type { App } from './create-app.ts';

/**
 * A middleware: optional wrapping hooks (`publish`, `execute`), lifecycle hooks (`setup` when added
 * to an app, `start`/`stop` with each worker node) and observers (signals). Wrapping hooks get a
 * read-only input and `next`, which they may call once: they may transform the input (pass a
 * changed copy to `next`), short-circuit (return without calling `next`), retry (throw `Retry`, e.g.
 * after catching a failure of `next`) or delay (throw `Defer`: the task runs later, no retry
 * counted). Execute hooks run on the main thread around io and cpu tasks alike and see the task's
 * `ctx`. Observers get events; an observer that throws is logged and ignored.
 * @example
 * app.use({
 *   name: 'audit',
 *   async execute(input, next) {
 *     const started = Date.now();
 *     try { return await next(input); }
 *     finally { log.push(`${input.task} ${Date.now() - started} ms`); }
 *   },
 * });
 */
export interface Middleware extends ExecutionSignals {
  /** Name, used in errors and logs. */
  readonly name: string;
  /** Around every publish of a task (also a worker's publishes of workflow steps). */
  publish?(input: PublishInput, next: (input: PublishInput) => Promise<PublishOutcome>): Promise<PublishOutcome>;
  /** Around every execution of a task (on the worker's main thread; a CPU task's body runs in its thread inside `next`). */
  execute?(input: ExecuteInput, next: (input: ExecuteInput) => Promise<unknown>): Promise<unknown>;
  /** Called once when the middleware is added to an app. */
  setup?(app: App): void;
  /** Called when a worker node starts (after its actors), before it reports ready. */
  start?(node: WorkerNode): void | Promise<void>;
  /** Called when a worker node stops (after it drained). */
  stop?(node: WorkerNode): void | Promise<void>;
  /** Before a task is published. */
  beforePublish?(e: PublishInput): void;
  /** After a task was stored by the broker. */
  afterPublish?(e: PublishInput & { taskId: string }): void;
  /** A worker node is ready. */
  workerReady?(node: WorkerNode): void;
  /** A worker node begins to shut down. */
  workerShutdown?(node: WorkerNode): void;
}

/** Signals an observer can subscribe to with `app.signals.on(name, fn)`. */
export type SignalName = 'beforePublish' | 'afterPublish' | 'prerun' | 'postrun' | 'success' | 'failure' | 'retry' | 'revoked' | 'workerReady' | 'workerShutdown';

/** The event type of each signal. */
export type SignalEvent<K extends SignalName> = Parameters<NonNullable<Middleware[K]>>[0];

const SIGNALS: readonly SignalName[] = ['beforePublish', 'afterPublish', 'prerun', 'postrun', 'success', 'failure', 'retry', 'revoked', 'workerReady', 'workerShutdown'];
const EXEC_SIGNALS = ['prerun', 'postrun', 'success', 'failure', 'retry', 'revoked'] as const;
const FUNCTION_FIELDS = ['publish', 'execute', 'setup', 'start', 'stop', ...SIGNALS] as const;

/**
 * Check a middleware's shape.
 * @throws InvalidArgumentError naming the bad field.
 */
export function validateMiddleware(m: unknown, what: string): Middleware {
  if (typeof m !== 'object' || m === null) throw new InvalidArgumentError(`${what} must be a middleware object { name, publish?, execute?, ... }`);
  const mw = m as Record<string, unknown>;
  if (typeof mw.name !== 'string' || mw.name.length === 0) throw new InvalidArgumentError(`${what}.name must be a non-empty string`);
  for (const f of FUNCTION_FIELDS) {
    if (mw[f] !== undefined && typeof mw[f] !== 'function') throw new InvalidArgumentError(`${what} "${mw.name}": ${f} must be a function`);
  }
  return m as Middleware;
}

/**
 * An app's middleware: app-wide ones (outermost, in the order added) then a task's own; chains are
 * composed once per task name and cached until the list changes.
 */
export class MiddlewareStack implements ExecutionMiddleware {
  readonly #app: Middleware[] = [];
  readonly #task = new Map<string, Middleware[]>();
  readonly #exec = new Map<string, Composed<ExecuteInput, unknown> | null>();
  readonly #pub = new Map<string, Composed<PublishInput, PublishOutcome> | null>();
  readonly #sig = new Map<string, ExecutionSignals | null>();

  constructor(private readonly log: ObserverLog) {}

  /** Every middleware, app-wide first. */
  all(): Middleware[] {
    return [...this.#app, ...[...this.#task.values()].flat()];
  }

  /** App-wide middleware in order. */
  get appWide(): readonly Middleware[] {
    return this.#app;
  }

  add(m: Middleware): void {
    this.#app.push(m);
    this.#invalidate();
  }

  remove(m: Middleware): void {
    const i = this.#app.indexOf(m);
    if (i >= 0) this.#app.splice(i, 1);
    this.#invalidate();
  }

  addForTask(task: string, ms: readonly Middleware[]): void {
    this.#task.set(task, [...(this.#task.get(task) ?? []), ...ms]);
    this.#invalidate();
  }

  #invalidate(): void {
    this.#exec.clear();
    this.#pub.clear();
    this.#sig.clear();
  }

  /** Middleware that apply to `task`, outermost first. */
  forTask(task: string): Middleware[] {
    const own = this.#task.get(task);
    return own ? [...this.#app, ...own] : this.#app;
  }

  executeChain(task: string): Composed<ExecuteInput, unknown> | null {
    let c = this.#exec.get(task);
    if (c === undefined) {
      const hooks = this.forTask(task).flatMap((m) => (m.execute ? [{ name: m.name, fn: m.execute.bind(m) as Wrap<ExecuteInput, unknown> }] : []));
      c = hooks.length ? compose(hooks) : null;
      this.#exec.set(task, c);
    }
    return c;
  }

  /** The publish chain of `task` (observers `beforePublish`/`afterPublish` included), or null. */
  publishChain(task: string): Composed<PublishInput, PublishOutcome> | null {
    let c = this.#pub.get(task);
    if (c === undefined) {
      const ms = this.forTask(task);
      const hooks: Array<{ name: string; fn: Wrap<PublishInput, PublishOutcome> }> = [];
      if (ms.some((m) => m.beforePublish || m.afterPublish)) {
        hooks.push({
          name: 'signals',
          fn: async (input, next) => {
            for (const m of ms) observe(m.beforePublish?.bind(m), () => input, this.log, `${m.name}.beforePublish`);
            const out = await next(input);
            // Written out, not `{ ...input, taskId }` (a hidden class per publish in V8: see postrunEvent in the executor).
            const after = () => ({ task: input.task, args: input.args, options: input.options, taskId: out.taskId });
            for (const m of ms) observe(m.afterPublish?.bind(m), after, this.log, `${m.name}.afterPublish`);
            return out;
          },
        });
      }
      for (const m of ms) if (m.publish) hooks.push({ name: m.name, fn: m.publish.bind(m) as Wrap<PublishInput, PublishOutcome> });
      c = hooks.length ? compose(hooks) : null;
      this.#pub.set(task, c);
    }
    return c;
  }

  signals(task: string): ExecutionSignals | null {
    let s = this.#sig.get(task);
    if (s === undefined) {
      const ms = this.forTask(task);
      const out: ExecutionSignals = {};
      for (const k of EXEC_SIGNALS) {
        const fns = ms.filter((m) => m[k]);
        if (fns.length === 0) continue;
        (out as Record<string, (e: unknown) => void>)[k] = (e: unknown) => {
          for (const m of fns) observe((m[k] as (e: unknown) => void).bind(m), () => e, this.log, `${m.name}.${k}`);
        };
      }
      s = Object.keys(out).length ? out : null;
      this.#sig.set(task, s);
    }
    return s;
  }

  /** Start every middleware with a worker node (in order), then tell observers it is ready. */
  async start(node: WorkerNode): Promise<void> {
    for (const m of this.all()) await m.start?.(node);
  }

  /** Worker observers. */
  notifyWorker(signal: 'workerReady' | 'workerShutdown', node: WorkerNode): void {
    for (const m of this.all()) observe(m[signal]?.bind(m), () => node, this.log, `${m.name}.${signal}`);
  }

  /** Stop every middleware with a worker node (in reverse order); errors are logged. */
  async stop(node: WorkerNode): Promise<void> {
    for (const m of this.all().reverse()) {
      try {
        await m.stop?.(node);
      } catch (err) {
        this.log.warn('a middleware failed to stop', { middleware: m.name, error: err });
      }
    }
  }
}
