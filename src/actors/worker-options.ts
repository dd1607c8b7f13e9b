import { availableParallelism, hostname } from 'node:os';
import { InvalidArgumentError } from '../errors.ts';
import { validateToken } from '../protocol/names.ts';
import { type Duration, parseDuration } from '../util/duration.ts';
import type { Logger } from '../util/logger.ts';
import { unknownKeyMessage } from '../util/known-keys.ts';

/** Options of a worker node (`app.worker(options)`, `celeriac worker`). */
export interface WorkerOptions {
  /** Queues to consume. @defaultValue `[app.options.defaultQueue]` */
  queues?: string[];
  /** Async slots: tasks (io and cpu) in flight at once; also the prefetch bound. @defaultValue 64 */
  concurrency?: number;
  /** Threads of the CPU pool for `kind: 'cpu'` tasks. @defaultValue the number of cores */
  cpuThreads?: number;
  /**
   * When the CPU threads start (`--cpu-start`): `'lazy'` when the first CPU task arrives (each thread
   * loads the tasks module and costs tens of MB, so a node that only gets I/O tasks never pays for
   * them; the first CPU task waits for the threads to warm up), `'eager'` with the node, which then
   * fails to start when a thread cannot import the tasks module. @defaultValue `'lazy'`
   */
  cpuStart?: 'lazy' | 'eager';
  /**
   * Recycle a CPU thread after it ran this many tasks (Celery's `max_tasks_per_child`,
   * `--max-tasks-per-thread`): it ends after its last run's result is handed over and a fresh thread
   * replaces it; no task fails (ADR 0012). @defaultValue none (never)
   */
  maxTasksPerThread?: number;
  /**
   * Recycle a CPU thread once, after a run, its own V8 heap plus external memory exceeds this many
   * MiB (Celery's `max_memory_per_child`, `--max-memory-per-thread`); no task fails (ADR 0012).
   * @defaultValue none (never)
   */
  maxMemoryPerThreadMb?: number;
  /** Worker name. `%h` is replaced by the host name. @defaultValue `'celeriac@%h'` */
  name?: string;
  /**
   * File URL of the module that defines the app and its tasks (CPU threads import it). Needed when the
   * app has `kind: 'cpu'` tasks; without it they run on the event loop and a warning says so.
   */
  tasksModule?: string;
  /** Warm shutdown: how long in-flight tasks may run before they are handed back. @defaultValue `'30s'` */
  grace?: Duration;
  /** Logger. @defaultValue text lines on stderr at `info` */
  logger?: Logger;
  /** Hard time limit of tasks that set none (see `TaskOptions.timeLimit`). @defaultValue none */
  timeLimit?: Duration;
  /** Soft time limit of tasks that set none. @defaultValue none */
  softTimeLimit?: Duration;
  /**
   * Run the scheduler (moves delayed tasks to their queues, fires periodic tasks) in this node; one
   * node of the app leads at a time. @defaultValue true
   */
  scheduler?: boolean;
  /** Leader lease of the scheduler: a standby takes over within about this long. @defaultValue `'3s'` */
  schedulerLease?: Duration;
  /** Publish task and worker events on `<app>.events.>` (switchable at run time: `node.setEvents()`, `app.control.events()`). @defaultValue true */
  events?: boolean;
  /** Heartbeat of the worker registry (`<app>-workers`): a node is shown offline after 3 missed beats. @defaultValue `'2s'` */
  heartbeat?: Duration;
  /**
   * Grow and shrink the async slots between `min` and `max` with the backlog of the node's queues,
   * and the CPU threads between 1 and `cpuThreads` with the CPU tasks waiting for a thread
   * (`--autoscale max,min`). The node starts with `concurrency` slots (default: `min`). A pool
   * shrinks only after its demand stayed lower for `keepalive` (default `'30s'`).
   * @defaultValue off
   */
  autoscale?: { max: number; min?: number; keepalive?: Duration };
  /** Supervisor restart intensity: more than this many restarts ... @defaultValue 10 */
  maxRestarts?: number;
  /** ... within this window stop the node. @defaultValue `'60s'` */
  restartWindow?: Duration;
}

/** Resolved {@link WorkerOptions}. */
export interface ResolvedWorkerOptions {
  queues: string[];
  concurrency: number;
  cpuThreads: number;
  cpuStart: 'lazy' | 'eager';
  /** 0 = never. */
  maxTasksPerThread: number;
  /** 0 = never. */
  maxMemoryPerThreadMb: number;
  name: string;
  tasksModule: string | undefined;
  graceMs: number;
  logger: Logger | undefined;
  maxRestarts: number;
  restartWindowMs: number;
  timeLimitMs: number | null;
  softTimeLimitMs: number | null;
  scheduler: boolean;
  schedulerLeaseMs: number;
  events: boolean;
  heartbeatMs: number;
  autoscale: { max: number; min: number; keepaliveMs: number } | null;
}

/** Defaults of {@link WorkerOptions}. */
export const DEFAULT_WORKER_OPTIONS = {
  concurrency: 64,
  cpuStart: 'lazy',
  name: 'celeriac@%h',
  grace: '30s',
  maxRestarts: 10,
  restartWindow: '60s',
} as const;

/** Every key of {@link WorkerOptions} (checked by the compiler both ways). */
const WORKER_OPTION_KEYS: ReadonlySet<string> = new Set(
  Object.keys({
    queues: 1, concurrency: 1, cpuThreads: 1, cpuStart: 1, maxTasksPerThread: 1, maxMemoryPerThreadMb: 1, name: 1, tasksModule: 1, grace: 1, logger: 1,
    timeLimit: 1, softTimeLimit: 1, scheduler: 1, schedulerLease: 1, events: 1, heartbeat: 1, autoscale: 1, maxRestarts: 1, restartWindow: 1,
  } satisfies Record<keyof WorkerOptions, 1>),
);

/** @throws InvalidArgumentError naming the option (also a key that is not an option: a typo is not ignored). */
export function resolveWorkerOptions(o: WorkerOptions, defaultQueue: string): ResolvedWorkerOptions {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('worker options must be an object');
  const unknown = unknownKeyMessage(o, WORKER_OPTION_KEYS, 'worker options');
  if (unknown) throw new InvalidArgumentError(unknown);
  const queues = o.queues ?? [defaultQueue];
  if (!Array.isArray(queues) || queues.length === 0) throw new InvalidArgumentError('worker options.queues must be a non-empty array');
  queues.forEach((q, i) => validateToken(q, `worker options.queues[${i}]`));
  if (new Set(queues).size !== queues.length) throw new InvalidArgumentError('worker options.queues has duplicates');
  const autoscale = resolveAutoscale(o.autoscale);
  const concurrency = o.concurrency ?? autoscale?.min ?? DEFAULT_WORKER_OPTIONS.concurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 100_000) {
    throw new InvalidArgumentError(`worker options.concurrency must be an integer 1-100000, got ${JSON.stringify(concurrency)}`);
  }
  if (autoscale && (concurrency < autoscale.min || concurrency > autoscale.max)) {
    throw new InvalidArgumentError(`worker options.concurrency (${concurrency}) must be within autoscale min-max (${autoscale.min}-${autoscale.max})`);
  }
  const cpuThreads = o.cpuThreads ?? availableParallelism();
  if (!Number.isInteger(cpuThreads) || cpuThreads < 1 || cpuThreads > 1024) {
    throw new InvalidArgumentError(`worker options.cpuThreads must be an integer 1-1024, got ${JSON.stringify(cpuThreads)}`);
  }
  const cpuStart = o.cpuStart ?? DEFAULT_WORKER_OPTIONS.cpuStart;
  if (cpuStart !== 'lazy' && cpuStart !== 'eager') {
    throw new InvalidArgumentError(`worker options.cpuStart must be 'lazy' or 'eager', got ${JSON.stringify(o.cpuStart)}`);
  }
  const maxTasksPerThread = o.maxTasksPerThread ?? 0;
  if (o.maxTasksPerThread !== undefined && (!Number.isInteger(maxTasksPerThread) || maxTasksPerThread < 1)) {
    throw new InvalidArgumentError(`worker options.maxTasksPerThread must be a positive integer, got ${JSON.stringify(o.maxTasksPerThread)}`);
  }
  const maxMemoryPerThreadMb = o.maxMemoryPerThreadMb ?? 0;
  if (o.maxMemoryPerThreadMb !== undefined && (typeof maxMemoryPerThreadMb !== 'number' || !Number.isFinite(maxMemoryPerThreadMb) || maxMemoryPerThreadMb <= 0)) {
    throw new InvalidArgumentError(`worker options.maxMemoryPerThreadMb must be a number of MiB > 0, got ${JSON.stringify(o.maxMemoryPerThreadMb)}`);
  }
  const rawName: unknown = o.name ?? DEFAULT_WORKER_OPTIONS.name;
  if (typeof rawName !== 'string') throw new InvalidArgumentError(`worker options.name must be a string, got ${JSON.stringify(rawName)}`);
  const name = rawName.replace(/%h/g, hostname());
  if (name.length === 0 || name.length > 200) throw new InvalidArgumentError('worker options.name must be 1-200 characters');
  if (o.tasksModule !== undefined && (typeof o.tasksModule !== 'string' || !o.tasksModule.startsWith('file:'))) {
    throw new InvalidArgumentError(`worker options.tasksModule must be a file: URL, got ${JSON.stringify(o.tasksModule)}`);
  }
  const maxRestarts = o.maxRestarts ?? DEFAULT_WORKER_OPTIONS.maxRestarts;
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) throw new InvalidArgumentError('worker options.maxRestarts must be a non-negative integer');
  const timeLimitMs = o.timeLimit === undefined ? null : parseDuration(o.timeLimit, 'worker options.timeLimit');
  const softTimeLimitMs = o.softTimeLimit === undefined ? null : parseDuration(o.softTimeLimit, 'worker options.softTimeLimit');
  if (timeLimitMs !== null && softTimeLimitMs !== null && softTimeLimitMs >= timeLimitMs) {
    throw new InvalidArgumentError('worker options.softTimeLimit must be below worker options.timeLimit');
  }
  if (o.scheduler !== undefined && typeof o.scheduler !== 'boolean') throw new InvalidArgumentError('worker options.scheduler must be a boolean');
  const schedulerLeaseMs = parseDuration(o.schedulerLease ?? '3s', 'worker options.schedulerLease');
  if (schedulerLeaseMs < 300) throw new InvalidArgumentError('worker options.schedulerLease must be at least 300 ms');
  return {
    autoscale,
    scheduler: o.scheduler ?? true,
    schedulerLeaseMs,
    events: resolveEventsFlag(o.events),
    heartbeatMs: resolveHeartbeat(o.heartbeat),
    timeLimitMs,
    softTimeLimitMs,
    queues,
    concurrency,
    cpuThreads,
    cpuStart,
    maxTasksPerThread,
    maxMemoryPerThreadMb,
    name,
    tasksModule: o.tasksModule,
    graceMs: parseDuration(o.grace ?? DEFAULT_WORKER_OPTIONS.grace, 'worker options.grace'),
    logger: o.logger,
    maxRestarts,
    restartWindowMs: parseDuration(o.restartWindow ?? DEFAULT_WORKER_OPTIONS.restartWindow, 'worker options.restartWindow'),
  };
}

function resolveEventsFlag(v: boolean | undefined): boolean {
  if (v !== undefined && typeof v !== 'boolean') throw new InvalidArgumentError('worker options.events must be a boolean');
  return v ?? true;
}

function resolveHeartbeat(v: Duration | undefined): number {
  const ms = parseDuration(v ?? '2s', 'worker options.heartbeat');
  if (ms < 100) throw new InvalidArgumentError('worker options.heartbeat must be at least 100 ms');
  return ms;
}

function resolveAutoscale(v: WorkerOptions['autoscale']): { max: number; min: number; keepaliveMs: number } | null {
  if (v === undefined) return null;
  if (typeof v !== 'object' || v === null) throw new InvalidArgumentError('worker options.autoscale must be { max, min? }');
  const { max } = v;
  const min = v.min ?? 1;
  if (!Number.isInteger(max) || max < 1 || max > 100_000) throw new InvalidArgumentError(`worker options.autoscale.max must be an integer 1-100000, got ${JSON.stringify(max)}`);
  if (!Number.isInteger(min) || min < 1 || min > max) throw new InvalidArgumentError(`worker options.autoscale.min must be an integer 1-${max} (at most max), got ${JSON.stringify(min)}`);
  return { max, min, keepaliveMs: parseDuration(v.keepalive ?? '30s', 'worker options.autoscale.keepalive') };
}

/**
 * Parse `--autoscale max,min` (min optional, default 1).
 * @throws InvalidArgumentError naming the flag.
 */
export function parseAutoscale(text: string): { max: number; min: number } {
  const m = /^\s*(\d+)\s*(?:,\s*(\d+)\s*)?$/.exec(text);
  if (!m) throw new InvalidArgumentError(`--autoscale must be "max,min" (e.g. 64,8), got ${JSON.stringify(text)}`);
  const { max, min } = resolveAutoscale({ max: Number(m[1]), min: m[2] === undefined ? 1 : Number(m[2]) }) as { max: number; min: number };
  return { max, min };
}
