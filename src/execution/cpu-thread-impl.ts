/**
 * The code that runs inside a CPU pool thread. Loaded by `cpu-thread.js` (which registers tsx first
 * when running from source); the pool talks to it with {@link CpuThreadRequest}s.
 *
 * Each thread imports the user's tasks module once (started as soon as the thread loads, so a thread
 * that replaces a dead one warms itself) and finds tasks in its own thread-global registry. A `run`
 * request brings a MessagePort: progress, log lines and finally the outcome go back over it, in that
 * order, and an abort from the main thread comes in over it. The outcome is posted on the port rather
 * than returned to Piscina so that (1) a value that cannot be cloned becomes a task error instead of
 * crashing the thread, and (2) the main thread sees every progress message before the outcome.
 * @module
 */
import { receiveMessageOnPort, threadId, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { NotRegisteredError, deserializeError, serializeError } from '../errors.ts';
import type { SerializedError } from '../errors.ts';
import { shouldAutoretry } from './retry-policy.ts';
import { checkStateUpdate, findTaskDefinition, retrySignal, taskDefinitionNames } from './task-definition.ts';
import type { AnyTaskState } from '../results/states.ts';
import { extractContext, flushTracerProvider, withSpanContext } from '../telemetry/tracing.ts';
import type { TaskContext, TaskContextData, TaskFn, TaskLogger, TaskOutcome } from './task-definition.ts';

/** What the pool hands every thread as Piscina `workerData`. */
export interface CpuThreadData {
  readonly moduleUrl: string;
  readonly appName: string;
  /** Recycle the thread after this many runs (0 = never). */
  readonly maxTasks?: number;
  /** Recycle the thread once its heap + external memory passes this many bytes after a run (0 = never). */
  readonly maxMemoryBytes?: number;
}

/** Why a thread ended itself after a run (ADR 0012), sent with that run's outcome. */
export interface CpuRecycle {
  readonly reason: 'max-tasks' | 'max-memory';
  /** Runs this thread completed. */
  readonly tasks: number;
  /** The thread's V8 heap used + external memory after the run, in MiB. */
  readonly memoryMb: number;
  readonly threadId: number;
}

/** Run one task; the outcome comes back on `port` as a `done` message. */
export interface CpuRunRequest {
  readonly kind: 'run';
  readonly taskName: string;
  readonly args: unknown[];
  readonly ctx: TaskContextData;
  readonly port: MessagePort;
}

/**
 * Warm-up: wait until `parties` pings have arrived (one per thread, since each thread runs one task at
 * a time), then make sure the tasks module is imported.
 */
export interface CpuPingRequest {
  readonly kind: 'ping';
  readonly barrier: Int32Array;
  readonly parties: number;
  readonly timeoutMs: number;
  /** Before the pool terminates its threads: export the spans the thread's tracer provider holds. */
  readonly flush?: boolean;
}

export type CpuThreadRequest = CpuRunRequest | CpuPingRequest;

/** Reply to a ping: how many tasks the app registered in this thread, or why the import failed. */
export type CpuPingReply = { ok: true; threadId: number; tasks: number } | { ok: false; error: SerializedError };

/** Main thread -> thread, on a run's port. */
export type ToThreadMessage = { readonly t: 'abort'; readonly reason: SerializedError };

/** Thread -> main thread, on a run's port. `done` is always the last message. */
export type FromThreadMessage =
  /** `ctx.progress(meta)` (state `PROGRESS`) or `ctx.updateState(state, meta)`, checked in the thread. */
  | { readonly t: 'state'; readonly state: AnyTaskState; readonly meta: Record<string, unknown> | null }
  | { readonly t: 'log'; readonly level: keyof TaskLogger; readonly msg: string; readonly fields?: Record<string, unknown> }
  | { readonly t: 'done'; readonly outcome: TaskOutcome; readonly recycle?: CpuRecycle };

const data = workerData as CpuThreadData | undefined;

// Start importing as soon as the thread loads; a failure is reported to each ping/run that awaits it.
const userModule: Promise<unknown> = data ? import(data.moduleUrl) : Promise.reject(new Error('no workerData'));
userModule.catch(() => undefined);

/** Piscina handler: the default export of `cpu-thread.js`. */
export default async function handle(req: CpuThreadRequest): Promise<CpuPingReply | undefined> {
  if (req.kind === 'ping') return ping(req);
  await runTask(req);
  return undefined;
}

async function ping(req: CpuPingRequest): Promise<CpuPingReply> {
  Atomics.add(req.barrier, 0, 1);
  Atomics.notify(req.barrier, 0);
  const deadline = Date.now() + req.timeoutMs;
  // Blocking is fine here: this thread has nothing else to do until every thread holds a ping.
  for (let seen = Atomics.load(req.barrier, 0); seen < req.parties; seen = Atomics.load(req.barrier, 0)) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    Atomics.wait(req.barrier, 0, seen, left);
  }
  try {
    await userModule;
  } catch (err) {
    return { ok: false, error: serializeError(err) };
  }
  if (req.flush) await flushTracerProvider(req.timeoutMs);
  return { ok: true, threadId, tasks: countTasks(data?.appName ?? '') };
}

function countTasks(appName: string): number {
  return taskDefinitionNames(appName).length;
}

async function runTask(req: CpuRunRequest): Promise<void> {
  const { port, taskName } = req;
  const controller = new AbortController();
  const onMessage = (m: ToThreadMessage): void => {
    if (m.t === 'abort' && !controller.signal.aborted) controller.abort(deserializeError(m.reason));
  };
  // An abort sent before this thread picked the task up is already queued: apply it before the task starts.
  for (let e = receiveMessageOnPort(port); e; e = receiveMessageOnPort(port)) onMessage(e.message as ToThreadMessage);
  port.on('message', onMessage);

  let outcome: TaskOutcome;
  try {
    await userModule;
    const def = findTaskDefinition(data?.appName ?? '', taskName);
    if (!def) {
      outcome = { ok: false, error: serializeError(new NotRegisteredError(taskName)) };
    } else {
      // Every field written out: `{ ...req.ctx, signal, ... }` gives each task's context a hidden
      // class of its own in V8 (see postrunEvent in the executor). A field added to
      // TaskContextData must be added here too (the unit test of the CPU context checks the keys).
      const c = req.ctx;
      const ctx: TaskContext = {
        id: c.id,
        name: c.name,
        retries: c.retries,
        attempt: c.attempt,
        idempotencyKey: c.idempotencyKey,
        rootId: c.rootId,
        parentId: c.parentId,
        headers: c.headers,
        hostname: c.hostname,
        delivery: c.delivery,
        traceparent: c.traceparent,
        signal: controller.signal,
        progress: async (meta) => port.postMessage({ t: 'state', state: 'PROGRESS', meta } satisfies FromThreadMessage),
        updateState: (state, meta) => {
          // Checked here, where the task can catch it, as on the main thread.
          port.postMessage({ t: 'state', state, meta: checkStateUpdate(taskName, state, meta) } satisfies FromThreadMessage);
          return Promise.resolve();
        },
        log: portLogger(port),
        retry: (options) => {
          throw retrySignal(options);
        },
      };
      const fn = def.fn as unknown as TaskFn;
      try {
        // In the execution's trace: spans the task creates here are children of its CONSUMER span.
        const traceCtx = req.ctx.traceparent ? extractContext((n) => (n === 'traceparent' ? req.ctx.traceparent : undefined)) : null;
        outcome = { ok: true, value: await (traceCtx ? withSpanContext(traceCtx, () => fn(ctx, ...req.args)) : fn(ctx, ...req.args)) };
      } catch (err) {
        // Decided here, where the error object is real: autoretryFor classes match with instanceof.
        outcome = { ok: false, error: serializeError(err), autoretry: shouldAutoretry(def.retry, err) };
      }
    }
  } catch (err) {
    outcome = { ok: false, error: serializeError(err) };
  }
  const recycle = recycleCheck();
  postOutcome(port, taskName, outcome, recycle);
  port.close();
  if (recycle) await endThread();
}

let tasksRun = 0;

/** Count the run; say whether this thread passed its task or memory limit (ADR 0012). */
function recycleCheck(): CpuRecycle | undefined {
  tasksRun++;
  const maxTasks = data?.maxTasks ?? 0;
  const maxBytes = data?.maxMemoryBytes ?? 0;
  if (maxTasks === 0 && maxBytes === 0) return undefined;
  // heapUsed and external are this thread's own isolate; rss is the whole process (all threads).
  const m = process.memoryUsage();
  const bytes = m.heapUsed + m.external;
  const memoryMb = Math.round(bytes / 1048576);
  if (maxTasks > 0 && tasksRun >= maxTasks) return { reason: 'max-tasks', tasks: tasksRun, memoryMb, threadId };
  if (maxBytes > 0 && bytes > maxBytes) return { reason: 'max-memory', tasks: tasksRun, memoryMb, threadId };
  return undefined;
}

/**
 * End this thread after its outcome is posted: Piscina sees the thread exit while the run is still
 * its own (so no other task was handed to it), rejects that run (the pool takes the outcome from the
 * port instead) and starts a replacement thread, which imports the tasks module afresh.
 */
async function endThread(): Promise<never> {
  await flushTracerProvider(2000);
  process.exit(0);
}

function postOutcome(port: MessagePort, taskName: string, outcome: TaskOutcome, recycle?: CpuRecycle): void {
  try {
    port.postMessage((recycle ? { t: 'done', outcome, recycle } : { t: 'done', outcome }) satisfies FromThreadMessage);
    return;
  } catch (err) {
    const fallback: TaskOutcome = outcome.ok
      ? {
          ok: false,
          error: {
            name: 'DataCloneError',
            message: `the result of task "${taskName}" cannot be copied out of its CPU thread (return structured-cloneable data): ${String((err as Error).message)}`,
            stack: (err as Error).stack,
          },
        }
      : { ok: false, error: withoutData(outcome.error), autoretry: outcome.autoretry };
    port.postMessage((recycle ? { t: 'done', outcome: fallback, recycle } : { t: 'done', outcome: fallback }) satisfies FromThreadMessage);
  }
}

/** The error's `data` (and its causes' data) is the only part that may not clone; drop it. */
function withoutData(e: SerializedError): SerializedError {
  const { data: _data, cause, ...rest } = e;
  return cause ? Object.assign(rest, { cause: withoutData(cause) }) : rest;
}

function portLogger(port: MessagePort): TaskLogger {
  const line =
    (level: keyof TaskLogger) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      try {
        port.postMessage({ t: 'log', level, msg, fields } satisfies FromThreadMessage);
      } catch {
        port.postMessage({ t: 'log', level, msg, fields: { fieldsDropped: 'not structured-cloneable' } } satisfies FromThreadMessage);
      }
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}
