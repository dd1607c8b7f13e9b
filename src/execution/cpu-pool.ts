/**
 * The CPU pool: a fixed set of warm Piscina worker threads that run `kind: 'cpu'` tasks. Every thread
 * imports the user's tasks module once and looks tasks up by name in its own registry; a run sends only
 * the task name, the arguments and the context data, plus one MessagePort for progress, log lines and
 * cooperative abort. Only this folder imports piscina.
 * @module
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ClosedError, InvalidArgumentError, WorkerLostError, deserializeError, serializeError } from '../errors.ts';
import type { CpuPingReply, CpuPingRequest, CpuRecycle, CpuRunRequest, CpuThreadData, FromThreadMessage, ToThreadMessage } from './cpu-thread-impl.ts';
import type { TaskContextData, TaskLogger, TaskOutcome } from './task-definition.ts';
import type { AnyTaskState } from '../results/states.ts';
import { tracingActive } from '../telemetry/tracing.ts';

/** Options of {@link CpuPool}. `moduleUrl` and `appName` are required. */
export interface CpuPoolOptions {
  /**
   * Number of threads; all are started and warmed together (by `start()`, or by the first run when
   * `lazy`) and kept alive.
   * @defaultValue `os.availableParallelism()`
   */
  threads?: number;
  /**
   * Start no thread until the first run: `start()` returns at once and the first CPU task waits
   * while the threads import the tasks module (each thread costs tens of MB, so a worker that never
   * gets a CPU task does not pay for them). A thread that cannot import the module is then reported
   * by that run (a `WorkerLostError` outcome) instead of by `start()`.
   * @defaultValue false
   */
  lazy?: boolean;
  /** File URL of the tasks module every thread imports (`pathToFileURL(path).href`). Required. */
  moduleUrl?: string;
  /** Name of the app whose tasks the module registers (`createApp({ name })`). Required. */
  appName?: string;
  /**
   * Piscina's idle timeout. Threads above the minimum are reaped after this long idle; since the pool
   * keeps `threads` threads warm (min = max), this only matters if that changes.
   * @defaultValue 0
   */
  idleTimeoutMs?: number;
  /** Passed to each thread's `Worker` as is. @defaultValue undefined (Node's defaults) */
  resourceLimits?: ResourceLimits;
  /** Receives task log lines (tagged with `taskId` and `task`) and pool errors. @defaultValue console */
  logger?: TaskLogger;
  /**
   * Recycle a thread after it has run this many tasks (Celery's `max_tasks_per_child`): it ends
   * itself after posting the outcome of its last run and a fresh thread replaces it. No run fails.
   * @defaultValue undefined (never)
   */
  maxTasksPerThread?: number;
  /**
   * Recycle a thread once, after a run, its own V8 heap plus external memory exceeds this many MiB
   * (Celery's `max_memory_per_child`; a thread's share, not the process RSS). No run fails.
   * @defaultValue undefined (never)
   */
  maxMemoryPerThreadMb?: number;
}

/** {@link CpuPoolOptions} after defaults and validation. */
export interface ResolvedCpuPoolOptions {
  readonly threads: number;
  readonly lazy: boolean;
  readonly moduleUrl: string;
  readonly appName: string;
  readonly idleTimeoutMs: number;
  readonly resourceLimits: ResourceLimits | undefined;
  readonly logger: TaskLogger;
  /** 0 = never. */
  readonly maxTasksPerThread: number;
  /** 0 = never. */
  readonly maxMemoryPerThreadMb: number;
}

/** Defaults of {@link CpuPoolOptions}; `threads` is read from the machine when options are resolved. */
export const DEFAULT_CPU_POOL_OPTIONS: Readonly<{ idleTimeoutMs: number }> = Object.freeze({ idleTimeoutMs: 0 });

const consoleLogger: TaskLogger = {
  debug: (msg, fields) => (fields === undefined ? console.debug(msg) : console.debug(msg, fields)),
  info: (msg, fields) => (fields === undefined ? console.info(msg) : console.info(msg, fields)),
  warn: (msg, fields) => (fields === undefined ? console.warn(msg) : console.warn(msg, fields)),
  error: (msg, fields) => (fields === undefined ? console.error(msg) : console.error(msg, fields)),
};

/**
 * Apply defaults and validate.
 * @throws InvalidArgumentError naming the first bad field.
 */
export function resolveCpuPoolOptions(options: CpuPoolOptions): ResolvedCpuPoolOptions {
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new InvalidArgumentError(`options.threads must be a positive integer, got ${String(options.threads)}`);
  }
  const { moduleUrl, appName } = options;
  if (typeof moduleUrl !== 'string' || !URL.canParse(moduleUrl) || new URL(moduleUrl).protocol !== 'file:') {
    throw new InvalidArgumentError(
      `options.moduleUrl must be a file: URL string (pathToFileURL(path).href), got ${JSON.stringify(moduleUrl)}`,
    );
  }
  if (typeof appName !== 'string' || appName === '') {
    throw new InvalidArgumentError('options.appName must be a non-empty string');
  }
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_CPU_POOL_OPTIONS.idleTimeoutMs;
  if (!Number.isFinite(idleTimeoutMs) || idleTimeoutMs < 0) {
    throw new InvalidArgumentError(`options.idleTimeoutMs must be a finite number >= 0, got ${String(idleTimeoutMs)}`);
  }
  if (options.resourceLimits !== undefined && (typeof options.resourceLimits !== 'object' || options.resourceLimits === null)) {
    throw new InvalidArgumentError('options.resourceLimits must be an object (worker_threads ResourceLimits)');
  }
  const logger = options.logger ?? consoleLogger;
  if ((['debug', 'info', 'warn', 'error'] as const).some((level) => typeof logger[level] !== 'function')) {
    throw new InvalidArgumentError('options.logger must have debug, info, warn and error methods');
  }
  const maxTasksPerThread = options.maxTasksPerThread ?? 0;
  if (options.maxTasksPerThread !== undefined && (!Number.isInteger(maxTasksPerThread) || maxTasksPerThread < 1)) {
    throw new InvalidArgumentError(`options.maxTasksPerThread must be a positive integer, got ${String(options.maxTasksPerThread)}`);
  }
  const maxMemoryPerThreadMb = options.maxMemoryPerThreadMb ?? 0;
  if (options.maxMemoryPerThreadMb !== undefined && (typeof maxMemoryPerThreadMb !== 'number' || !Number.isFinite(maxMemoryPerThreadMb) || maxMemoryPerThreadMb <= 0)) {
    throw new InvalidArgumentError(`options.maxMemoryPerThreadMb must be a number > 0 (MiB), got ${String(options.maxMemoryPerThreadMb)}`);
  }
  if (options.lazy !== undefined && typeof options.lazy !== 'boolean') {
    throw new InvalidArgumentError(`options.lazy must be a boolean, got ${JSON.stringify(options.lazy)}`);
  }
  return { threads, lazy: options.lazy ?? false, moduleUrl, appName, idleTimeoutMs, resourceLimits: options.resourceLimits, logger, maxTasksPerThread, maxMemoryPerThreadMb };
}

/** Callbacks of one {@link CpuPool.run}. */
export interface CpuRunHooks {
  /** When it aborts, `ctx.signal` aborts in the thread (cooperative: the thread is not terminated). */
  signal?: AbortSignal;
  /**
   * Receives each `ctx.progress(meta)` (state `PROGRESS`) and `ctx.updateState(state, meta)` of the
   * task, in order, before `run()` resolves.
   */
  onState?: (state: AnyTaskState, meta: Record<string, unknown> | null) => void;
  /**
   * When it aborts, the thread running the task is terminated (hard time limit, revoke with
   * terminate) and the pool starts a replacement; the outcome is a failure with the abort reason.
   */
  kill?: AbortSignal;
}

/** Counters of a {@link CpuPool}. */
export interface CpuPoolStats {
  /** Threads of the pool (the configured number while a lazy pool has not started them yet). */
  readonly threads: number;
  /** False while a lazy pool waits for its first run. */
  readonly started: boolean;
  /** Tasks running in a thread. */
  readonly busy: number;
  /** Tasks waiting for a free thread. */
  readonly queued: number;
  /** Threads ended by `maxTasksPerThread` / `maxMemoryPerThreadMb` and replaced, since start. */
  readonly recycled: number;
}

/**
 * Lifecycle of a {@link CpuPool}: `idle` until `start()`, `starting` while threads warm up, `running`,
 * `stopping` during `close()`, then `stopped`; `failed` when `start()` failed (threads already gone).
 */
export type CpuPoolState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** How long the threads' span export may take when the pool closes. */
const FLUSH_MS = 2000;

/** How long a warm-up ping waits for the other threads' pings before importing anyway. */
const WARMUP_BARRIER_MS = 10_000;

/**
 * A fixed pool of worker threads running CPU tasks from one tasks module.
 * @example
 * ```ts
 * const pool = new CpuPool({ moduleUrl: pathToFileURL('tasks.ts').href, appName: 'demo', threads: 2 });
 * await pool.start();
 * const outcome = await pool.run('crypto.hash', ['abc'], ctxData, { onProgress: console.log });
 * await pool.close();
 * ```
 */
export class CpuPool {
  readonly options: ResolvedCpuPoolOptions;
  #state: CpuPoolState = 'idle';
  #pool: Piscina | undefined;
  #inFlight = 0;
  /** Runs in flight per Piscina (a resized pool's old one is retired when its count reaches 0). */
  readonly #inFlightBy = new Map<Piscina, number>();
  readonly #retiring = new Set<Piscina>();
  #threads = 0;
  #recycled = 0;
  #resizing: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  /** A lazy pool's first start of its threads, while in progress. */
  #lazyLaunch: Promise<Piscina> | undefined;

  /** @throws InvalidArgumentError when an option is invalid. */
  constructor(options: CpuPoolOptions) {
    this.options = resolveCpuPoolOptions(options);
  }

  get state(): CpuPoolState {
    return this.#state;
  }

  /**
   * Start every thread and wait until each has imported the tasks module.
   * @throws InvalidArgumentError naming `moduleUrl` when the module cannot be imported or registers no
   *   task for `appName`; WorkerLostError when a thread dies while starting; ClosedError unless `idle`.
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new ClosedError(`CpuPool.start() called in state ${this.#state}`);
    if (this.options.lazy) {
      this.#threads = this.options.threads;
      this.#state = 'running';
      return;
    }
    this.#state = 'starting';
    let pool: Piscina;
    try {
      pool = await this.#launch(this.options.threads);
    } catch (err) {
      if (this.#state === 'starting') this.#state = 'failed';
      throw err;
    }
    if (this.#state !== 'starting') {
      await pool.destroy();
      throw new ClosedError(`CpuPool was closed while starting`);
    }
    this.#pool = pool;
    this.#threads = this.options.threads;
    this.#state = 'running';
  }

  /** Threads the pool runs now (changed by {@link resize}). */
  get threads(): number {
    return this.#threads;
  }

  /**
   * Change the number of threads (`celeriac control pool-grow|pool-shrink --pool cpu`, autoscale):
   * a new set of threads is started and warmed, new runs go to it, and the old threads are
   * terminated once the runs they hold have finished (nothing running is interrupted). Resizes are
   * serialised; the last one wins. Resolves with the new size.
   * @throws InvalidArgumentError unless `threads` is an integer 1-1024.
   * @throws ClosedError unless the pool is running.
   */
  resize(threads: number): Promise<number> {
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
      throw new InvalidArgumentError(`CPU threads must be an integer 1-1024, got ${String(threads)}`);
    }
    return this.#serialised(() => threads);
  }

  /**
   * Add `delta` threads (remove them when negative), relative to the size when this resize's turn
   * comes (so two concurrent requests both count); resolves with the new size.
   * @throws InvalidArgumentError (from the promise) when the size would leave 1-1024 threads.
   */
  resizeBy(delta: number): Promise<number> {
    if (!Number.isInteger(delta)) throw new InvalidArgumentError(`CPU thread delta must be an integer, got ${String(delta)}`);
    return this.#serialised(() => {
      const threads = this.#threads + delta;
      if (threads < 1 || threads > 1024) throw new InvalidArgumentError(`cannot resize the CPU threads from ${this.#threads} to ${threads}: they must stay 1-1024`);
      return threads;
    });
  }

  #serialised(target: () => number): Promise<number> {
    const run = async () => {
      if (this.#state !== 'running') throw new ClosedError(`CpuPool is ${this.#state}, cannot resize`);
      // A lazy pool that has not started its threads only changes how many it will start.
      await this.#lazyLaunch?.catch(() => undefined);
      const threads = target();
      if (threads === this.#threads) return threads;
      if (!this.#pool) {
        this.#threads = threads;
        return threads;
      }
      const next = await this.#launch(threads);
      if (this.#state !== 'running') {
        await next.destroy();
        throw new ClosedError(`CpuPool was closed while resizing`);
      }
      const old = this.#pool;
      this.#pool = next;
      this.#threads = threads;
      if (old) void this.#retire(old);
      return threads;
    };
    const p = this.#resizing.then(run, run);
    this.#resizing = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  /** Terminate a replaced Piscina once the runs it holds are done. */
  async #retire(old: Piscina): Promise<void> {
    while ((this.#inFlightBy.get(old) ?? 0) > 0 && this.#state === 'running') await new Promise((r) => setTimeout(r, 50));
    this.#retiring.add(old);
    try {
      await this.#flushThreads(old);
      await old.destroy();
    } finally {
      this.#retiring.delete(old);
      this.#inFlightBy.delete(old);
    }
  }

  /**
   * With tracing on, have every thread of `pool` export the spans its tracer provider holds (one
   * flush ping per thread, held at a barrier so each thread gets one), within a bound.
   */
  async #flushThreads(pool: Piscina): Promise<void> {
    if (!tracingActive()) return;
    const parties = pool.threads.length;
    if (parties === 0) return;
    const barrier = new Int32Array(new SharedArrayBuffer(4));
    const ping: CpuPingRequest = { kind: 'ping', barrier, parties, timeoutMs: FLUSH_MS, flush: true };
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(Array.from({ length: parties }, () => pool.run(ping).catch(() => undefined))),
      new Promise((r) => (timer = setTimeout(r, 2 * FLUSH_MS))),
    ]);
    clearTimeout(timer);
  }

  /** A Piscina of `threads` threads, each of which has imported the tasks module. */
  async #launch(threads: number): Promise<Piscina> {
    const { moduleUrl, appName, idleTimeoutMs, resourceLimits, logger, maxTasksPerThread, maxMemoryPerThreadMb } = this.options;
    const pool = new Piscina({
      filename: new URL('./cpu-thread.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      // Piscina parks an idle thread with Atomics.wait, which freezes its timers and sockets. With
      // tracing on, a thread's span processor must keep exporting between tasks.
      atomics: tracingActive() ? 'async' : 'sync',
      idleTimeout: idleTimeoutMs,
      workerData: { moduleUrl, appName, maxTasks: maxTasksPerThread, maxMemoryBytes: Math.round(maxMemoryPerThreadMb * 1048576) } satisfies CpuThreadData,
      ...(resourceLimits ? { resourceLimits } : {}),
    });
    // A thread that fails with no task on it is reported here; without a listener it would crash the process.
    pool.on('error', (err: unknown) => logger.error('CPU pool thread failed', { error: serializeError(err) }));
    const barrier = new Int32Array(new SharedArrayBuffer(4));
    const ping: CpuPingRequest = { kind: 'ping', barrier, parties: threads, timeoutMs: WARMUP_BARRIER_MS };
    try {
      const replies = await Promise.all(
        Array.from({ length: threads }, () =>
          (pool.run(ping) as Promise<CpuPingReply>).catch((err: unknown) => {
            Atomics.store(barrier, 0, threads); // release the other pings
            Atomics.notify(barrier, 0);
            throw new WorkerLostError(`a CPU thread died while importing ${moduleUrl}: ${describe(err)}`, { cause: err });
          }),
        ),
      );
      for (const reply of replies) {
        if (!reply.ok) {
          throw new InvalidArgumentError(
            `options.moduleUrl ${moduleUrl} cannot be imported in a CPU thread: ${reply.error.name}: ${reply.error.message}`,
            { cause: deserializeError(reply.error) },
          );
        }
        if (reply.tasks === 0) {
          throw new InvalidArgumentError(
            `options.moduleUrl ${moduleUrl} registers no task for app "${appName}" in a CPU thread; it must call ` +
              `createApp({ name: '${appName}' }) and app.task(...) at import time`,
          );
        }
      }
    } catch (err) {
      await pool.destroy();
      throw err;
    }
    return pool;
  }

  /**
   * Run task `taskName` in a thread. Task failures are returned, never thrown: a thrown error keeps its
   * name, message, stack, code and cause; an unknown name gives `E_NOT_REGISTERED`; a thread that dies
   * gives `WorkerLostError` (`E_WORKER_LOST`) and is replaced.
   * @throws ClosedError when the pool is not running.
   */
  async run(taskName: string, args: unknown[], ctx: TaskContextData, hooks: CpuRunHooks = {}): Promise<TaskOutcome> {
    let pool = this.#pool;
    if (this.#state !== 'running' || (!pool && !this.options.lazy)) {
      throw new ClosedError(`CpuPool is ${this.#state}, cannot run task "${taskName}"${this.#state === 'idle' ? '; call start() first' : ''}`);
    }
    if (!pool) {
      try {
        pool = await this.#startLazily();
      } catch (err) {
        const closed = this.#state !== 'running';
        if (!closed) this.options.logger.error('CPU threads could not start', { task: taskName, error: serializeError(err) });
        const e = closed
          ? new ClosedError(`CPU pool closed while its threads started for task "${taskName}"`, { cause: err })
          : new WorkerLostError(`the CPU threads could not start for task "${taskName}": ${describe(err)}`, { cause: err });
        return { ok: false, error: serializeError(e) };
      }
    }
    const { port1, port2 } = new MessageChannel();
    let outcome: TaskOutcome | undefined;
    const onMessage = (m: FromThreadMessage): void => {
      if (m.t === 'done') {
        outcome = m.outcome;
        if (m.recycle) this.#onRecycle(m.recycle);
      }
      else if (m.t === 'state') this.#callHook(taskName, () => hooks.onState?.(m.state, m.meta));
      else this.#callHook(taskName, () => this.options.logger[m.level](m.msg, Object.assign({}, m.fields, { taskId: ctx.id, task: taskName })));
    };
    port1.on('message', onMessage);
    const { signal } = hooks;
    const onAbort = (): void => port1.postMessage({ t: 'abort', reason: serializeError(signal?.reason) } satisfies ToThreadMessage);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });

    const req: CpuRunRequest = { kind: 'run', taskName, args, ctx, port: port2 };
    let died: { err: unknown } | undefined;
    this.#inFlight++;
    this.#inFlightBy.set(pool, (this.#inFlightBy.get(pool) ?? 0) + 1);
    const kill = hooks.kill;
    try {
      await pool.run(req, kill ? { transferList: [port2], signal: kill } : { transferList: [port2] });
    } catch (err) {
      died = { err };
    } finally {
      this.#inFlight--;
      this.#inFlightBy.set(pool, (this.#inFlightBy.get(pool) ?? 1) - 1);
      signal?.removeEventListener('abort', onAbort);
      // Messages posted before the thread finished (or died) are queued already: take them now, in order.
      for (let e = receiveMessageOnPort(port1); e; e = receiveMessageOnPort(port1)) onMessage(e.message as FromThreadMessage);
      port1.close();
    }
    if (outcome) return outcome;
    const err = died?.err;
    if (kill?.aborted) return { ok: false, error: serializeError(kill.reason) };
    if (this.#state !== 'running') {
      return { ok: false, error: serializeError(new ClosedError(`CPU pool closed while task "${taskName}" was running`, { cause: err })) };
    }
    const code = /exited with code: (\d+)/.exec(describe(err))?.[1];
    const how = code !== undefined ? `exit code ${code}` : `uncaught ${describe(err)}`;
    return {
      ok: false,
      error: serializeError(new WorkerLostError(`the CPU thread running task "${taskName}" died (${how})`, { cause: err })),
    };
  }

  /** Current counters; all zero before `start()`. */
  stats(): CpuPoolStats {
    const pool = this.#pool;
    if (!pool) return { threads: this.#state === 'running' ? this.#threads : 0, started: false, busy: 0, queued: this.#inFlight, recycled: this.#recycled };
    const queued = pool.queueSize;
    return { threads: this.#threads, started: true, busy: Math.max(this.#inFlight - queued, 0), queued, recycled: this.#recycled };
  }

  /** A lazy pool's threads, started (and warmed) by the first run; later runs share that start. */
  #startLazily(): Promise<Piscina> {
    this.#lazyLaunch ??= (async () => {
      const threads = this.#threads;
      const started = Date.now();
      const pool = await this.#launch(threads);
      if (this.#state !== 'running') {
        await pool.destroy();
        throw new ClosedError('CpuPool was closed while its threads started');
      }
      this.#pool = pool;
      this.options.logger.info('CPU threads started', { threads, ms: Date.now() - started });
      return pool;
    })().finally(() => {
      this.#lazyLaunch = undefined;
    });
    return this.#lazyLaunch;
  }

  /** A thread passed its limit and ends itself after this run; Piscina starts its replacement. */
  #onRecycle(r: CpuRecycle): void {
    this.#recycled++;
    const limit = r.reason === 'max-tasks' ? `maxTasksPerThread ${this.options.maxTasksPerThread}` : `maxMemoryPerThreadMb ${this.options.maxMemoryPerThreadMb}`;
    this.options.logger.info('CPU thread recycled', { threadId: r.threadId, reason: r.reason, limit, tasks: r.tasks, memoryMb: r.memoryMb });
  }

  /**
   * Terminate every thread and wait until they have exited. Runs still in flight resolve with a
   * `ClosedError` outcome, so drain (await them) first for a graceful stop. Idempotent.
   */
  async close(): Promise<void> {
    this.#closing ??= this.#destroy();
    return this.#closing;
  }

  async #destroy(): Promise<void> {
    this.#state = 'stopping';
    await this.#lazyLaunch?.catch(() => undefined);
    const pool = this.#pool;
    await this.#resizing;
    if (pool) await this.#flushThreads(pool);
    const all = new Set([...(pool ? [pool] : []), ...this.#inFlightBy.keys(), ...this.#retiring]);
    await Promise.all([...all].map((p) => p.destroy().catch(() => undefined)));
    this.#pool = undefined;
    this.#state = 'stopped';
  }

  #callHook(taskName: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.options.logger.error(`a CPU task hook of "${taskName}" threw`, { error: serializeError(err) });
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
