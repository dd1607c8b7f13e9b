import { randomUUID } from 'node:crypto';
import type { WorkerNode } from '../actors/worker-node.ts';
import type { WorkerOptions } from '../actors/worker-options.ts';
import { type App, createApp } from '../app/create-app.ts';
import type { Middleware, SignalName } from '../app/middleware.ts';
import type { Task } from '../app/task.ts';
import type { ApplyOptions } from '../app/task-options.ts';
import { isTaskError, type SerializedError } from '../errors.ts';
import type { TaskState } from '../results/states.ts';
import { silentLogger } from '../util/logger.ts';

/** What a call through the harness came to. */
export interface HarnessOutcome<R> {
  id: string;
  state: TaskState;
  /** The value (`SUCCESS`). */
  result?: R;
  /** The stored error (`FAILURE`, `REVOKED`). */
  error?: SerializedError;
  /** Milliseconds from publish to the final state. */
  ms: number;
}

/** A recorded signal. */
export interface RecordedSignal {
  signal: SignalName;
  /** Task id (execution and publish signals), or null for worker signals. */
  id: string | null;
  task: string | null;
  event: unknown;
}

/** An app on its own embedded broker with a worker, the middleware under test, and every signal recorded. */
export interface MiddlewareHarness {
  readonly app: App;
  readonly worker: WorkerNode;
  /** Every signal so far, in order. */
  readonly signals: RecordedSignal[];
  /** Signals of one task id, by name, in order. */
  signalsOf(id: string): SignalName[];
  /** Publish and wait for the final state (failures are returned, not thrown). */
  call<A extends unknown[], R>(task: Task<A, R>, args: A, options?: ApplyOptions & { timeout?: number }): Promise<HarnessOutcome<R>>;
  /** Stop the worker and close the app. */
  close(): Promise<void>;
}

const ALL: readonly SignalName[] = ['beforePublish', 'afterPublish', 'prerun', 'postrun', 'success', 'failure', 'retry', 'revoked', 'workerReady', 'workerShutdown'];

/**
 * Run middleware against the embedded transport: a fresh app (its own `memory://` broker, so tests
 * do not share queues) with the middleware under test, the tasks `define` registers, a started
 * worker, and every signal recorded. For plugin authors (docs/guide/writing-plugins.md).
 * @example
 * const h = await middlewareHarness([auditLog({ sink })], (app) => ({ add: app.task('add', async (_c, a: number, b: number) => a + b) }));
 * const out = await h.call(h.tasks.add, [2, 3]);   // { state: 'SUCCESS', result: 5, ... }
 * await h.close();
 */
export async function middlewareHarness<T>(
  middleware: readonly Middleware[],
  define: (app: App) => T,
  options: { worker?: WorkerOptions } = {},
): Promise<MiddlewareHarness & { tasks: T }> {
  const id = randomUUID().slice(0, 8);
  const app = createApp({ name: `harness-${id}`, broker: `memory://harness-${id}` });
  const signals: RecordedSignal[] = [];
  for (const s of ALL) {
    app.signals.on(s, (e: unknown) => {
      const ev = (e ?? {}) as { id?: string; taskId?: string; task?: string };
      const worker = s === 'workerReady' || s === 'workerShutdown';
      signals.push({ signal: s, id: worker ? null : (ev.id ?? ev.taskId ?? null), task: worker ? null : (ev.task ?? null), event: e });
    });
  }
  app.use(...middleware);
  const tasks = define(app);
  const worker = app.worker({ concurrency: 8, logger: silentLogger, ...options.worker });
  await worker.start();
  return {
    app,
    worker,
    tasks,
    signals,
    signalsOf: (taskId) => signals.filter((s) => s.id === taskId).map((s) => s.signal),
    async call(task, args, opts = {}) {
      const { timeout = 10_000, ...apply } = opts;
      const started = Date.now();
      const r = await task.applyAsync(args, apply);
      try {
        const result = await r.get({ timeout });
        return { id: r.id, state: 'SUCCESS', result: result as never, ms: Date.now() - started };
      } catch (err) {
        if (!isTaskError(err)) throw err;
        // get() threw TaskError: the task ended, so its state is a final one (never a custom state).
        return { id: r.id, state: (await r.state()) as TaskState, error: err.remote, ms: Date.now() - started };
      }
    },
    async close() {
      await worker.stop();
      await app.close();
    },
  };
}
