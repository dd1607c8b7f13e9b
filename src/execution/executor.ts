import { DecodeError, serializeError, type SerializedError } from '../errors.ts';
import { type TaskMessage, decodeTask } from '../protocol/envelope.ts';
import { H } from '../protocol/headers.ts';
import type { ResultBackend, ResultWriteHandle } from '../results/result-backend.ts';
import type { ResultRecord, TaskState } from '../results/states.ts';
import type { IncomingMessage } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { CpuPool } from './cpu-pool.ts';
import { type TaskContext, type TaskOutcome, findTaskDefinition } from './task-definition.ts';
import { TaskRun } from './task-run.ts';

/** Options of {@link Executor}. */
export interface ExecutorOptions {
  appName: string;
  hostname: string;
  backend: ResultBackend;
  logger: Logger;
  /** CPU pool for `kind: 'cpu'` tasks; without one they run on the event loop. */
  cpuPool?: Pick<CpuPool, 'run'>;
  trackStarted: boolean;
  /** Broker AckWait; tasks running longer than a third of it get `working()` heartbeats. */
  ackWaitMs: number;
  /** How long to hand back a task no worker here knows, so one that knows it can take it. @defaultValue 5_000 */
  unknownTaskDelayMs?: number;
  /** Called when a message is settled (its slot is free again). */
  onSettled?: () => void;
  /** Log a line per succeeded task at debug level (off by default: it costs a logger per task). */
  debug?: boolean;
  /** Send a stored terminal result to the task's `reply_to` subject (before the ack). */
  notifyResult?: (replyTo: string, taskId: string, record: ResultRecord) => void;
  /** Route result writes (e.g. through the node's result-writer actor). @defaultValue write directly */
  writeResult?: (handle: ResultWriteHandle, record: ResultRecord) => Promise<boolean>;
}

function hasKeys(o: Record<string, unknown>): boolean {
  for (const _ in o) return true;
  return false;
}

/** Outcome counters. */
export interface ExecutorStats {
  succeeded: number;
  failed: number;
  rejected: number;
  returned: number;
  active: number;
}

/**
 * Runs one delivered message to its end: decode, find the task, run it (async slot or CPU thread),
 * store the result (fenced), then ack — acks-late. Never throws: every path settles the message.
 */
export class Executor {
  readonly #o: ExecutorOptions;
  readonly #running = new Set<TaskRun>();
  readonly #debug: boolean;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #beatEveryMs: number;
  readonly #unknownDelay: number;
  readonly #write: (handle: ResultWriteHandle, record: ResultRecord) => Promise<boolean>;
  readonly stats: ExecutorStats = { succeeded: 0, failed: 0, rejected: 0, returned: 0, active: 0 };

  constructor(options: ExecutorOptions) {
    this.#o = options;
    this.#unknownDelay = options.unknownTaskDelayMs ?? 5_000;
    this.#write = options.writeResult ?? ((h, r) => h.write(r));
    this.#debug = options.debug ?? false;
    this.#beatEveryMs = Math.max(250, Math.floor(options.ackWaitMs / 3));
    this.startHeartbeats();
  }

  /**
   * Send `working()` (`+WPI`) every AckWait/3 for tasks running longer than that, so the broker does
   * not redeliver them. Started by the constructor; idempotent.
   */
  startHeartbeats(): void {
    if (this.#heartbeat) return;
    const every = this.#beatEveryMs;
    this.#heartbeat = setInterval(() => this.#beat(every), every);
    this.#heartbeat.unref();
  }

  /** Tasks running now. */
  get active(): number {
    return this.#running.size;
  }

  /** Ids and names of running tasks. */
  activeTasks(): Array<{ id: string; name: string; runningMs: number }> {
    const now = Date.now();
    return [...this.#running].map((r) => ({ id: r.id, name: r.name, runningMs: now - r.startedAt }));
  }

  #beat(threshold: number): void {
    const now = Date.now();
    for (const r of this.#running) if (now - r.startedAt >= threshold) r.msg.working();
  }

  /** Abort `ctx.signal` of every running task (shutdown). */
  abortAll(reason: unknown): void {
    for (const r of this.#running) r.abort(reason);
  }

  /** Give every running task's message back to the broker for redelivery (cold/forced shutdown). */
  returnAll(): void {
    for (const r of this.#running) {
      r.returned = true;
      r.msg.nak();
    }
  }

  /** Stop the heartbeat timer. */
  close(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /** Process one message. Resolves when it is settled. */
  async handle(msg: IncomingMessage): Promise<void> {
    try {
      await this.#handle(msg);
    } catch (err) {
      // Infrastructure failure (e.g. the result store is unreachable): give the task back.
      this.#o.logger.error('task could not be completed; returned to the queue', { id: msg.header(H.id), error: err });
      msg.nak(1000);
      this.stats.returned++;
    } finally {
      this.#o.onSettled?.();
    }
  }

  async #handle(msg: IncomingMessage): Promise<void> {
    let task: TaskMessage;
    try {
      task = decodeTask((n) => msg.header(n), msg.headerNames(), msg.body);
    } catch (err) {
      await this.#reject(msg, err);
      return;
    }
    const def = findTaskDefinition(this.#o.appName, task.task);
    if (!def) {
      this.#o.logger.warn('unknown task: returned to the queue for a worker that knows it', { task: task.task, id: task.id, retryInMs: this.#unknownDelay });
      msg.nak(this.#unknownDelay);
      this.stats.returned++;
      return;
    }
    const now = Date.now();
    const writer = task.ignoreResult ? null : this.#o.backend.writer(task.id);
    if (task.expires !== null && task.expires <= now) {
      this.#o.logger.info('task expired before it started: not run', { task: task.task, id: task.id, expires: new Date(task.expires).toISOString() });
      if (writer) await this.#writeTerminal(task, writer, this.#record(task, msg, 'REVOKED', { error: { name: 'TaskExpired', message: 'expired before it started', code: 'E_EXPIRED' }, meta: { reason: 'expired' }, done: true }));
      msg.ack();
      return;
    }
    if (task.eta !== null && task.eta > now) {
      // Interim until the durable scheduler: hand it back with a delay, holding no slot.
      msg.nak(Math.min(task.eta - now, 60_000));
      this.stats.returned++;
      return;
    }
    const run = new TaskRun(msg, task, writer, this.#o.hostname, this.#o.logger, this.#write, (status, meta) =>
      this.#record(task, msg, status, { meta }),
    );
    this.#running.add(run);
    this.stats.active = this.#running.size;
    try {
      if (this.#o.trackStarted && writer) await this.#write(writer, this.#record(task, msg, 'STARTED', {}));
      const args = hasKeys(task.kwargs) ? [...task.args, task.kwargs] : task.args;
      let outcome: TaskOutcome;
      if (def.kind === 'cpu' && this.#o.cpuPool) {
        outcome = await this.#o.cpuPool.run(task.task, args, run.data(), {
          signal: run.signal,
          onProgress: (meta) => void run.progress(meta).catch((err) => run.log.warn('progress write failed', { error: err })),
        });
      } else {
        try {
          outcome = { ok: true, value: await (def.fn as unknown as (c: TaskContext, ...a: unknown[]) => unknown)(run, ...args) };
        } catch (err) {
          outcome = { ok: false, error: serializeError(err) };
        }
      }
      await run.progressSettled();
      if (run.returned) {
        // Handed back at shutdown: the next delivery decides the result, not this abandoned run.
        this.stats.returned++;
        return;
      }
      if (outcome.ok) {
        this.stats.succeeded++;
        if (this.#debug) run.log.debug('task succeeded', { ms: Date.now() - run.startedAt });
        if (writer) await this.#writeTerminal(task, writer, this.#record(task, msg, 'SUCCESS', { result: outcome.value, done: true }));
      } else {
        this.stats.failed++;
        run.log.warn('task failed', { ms: Date.now() - run.startedAt, error: `${outcome.error.name}: ${outcome.error.message}` });
        if (writer) await this.#writeTerminal(task, writer, this.#record(task, msg, 'FAILURE', { error: outcome.error, done: true }));
      }
      msg.ack();
    } finally {
      this.#running.delete(run);
      this.stats.active = this.#running.size;
    }
  }

  /**
   * Store a terminal record (fenced), then send what is stored to the task's `reply_to`: this
   * record, or the one a duplicate delivery stored first.
   */
  async #writeTerminal(task: TaskMessage, writer: ResultWriteHandle, record: ResultRecord): Promise<void> {
    const written = await this.#write(writer, record);
    const notify = this.#o.notifyResult;
    if (!notify || !task.replyTo) return;
    const stored = written ? record : await this.#o.backend.get(task.id);
    if (stored) notify(task.replyTo, task.id, stored);
  }

  /** An undecodable or malformed message: terminate it (never retried) and record what is known. */
  async #reject(msg: IncomingMessage, err: unknown): Promise<void> {
    const e = err instanceof DecodeError ? err : new DecodeError(String((err as Error)?.message ?? err), { cause: err });
    const id = msg.header(H.id);
    const name = msg.header(H.task);
    this.#o.logger.error('undecodable task message terminated', {
      id,
      task: name,
      stream: msg.delivery.stream,
      seq: msg.delivery.sequence,
      error: e.message,
    });
    this.stats.rejected++;
    if (id && /^[A-Za-z0-9_.:-]{1,200}$/.test(id)) {
      const record: ResultRecord = {
        status: 'FAILURE',
        taskId: id,
        name: name ?? null,
        result: null,
        error: serializeError(e),
        traceback: null,
        dateDone: new Date().toISOString(),
        meta: null,
        children: [],
        worker: this.#o.hostname,
        attempts: msg.delivery.deliveryCount,
      };
      try {
        await this.#write(this.#o.backend.writer(id), record);
      } catch (werr) {
        this.#o.logger.warn('could not record the decode failure', { id, error: werr });
      }
    }
    msg.term();
  }

  #record(
    task: TaskMessage,
    msg: IncomingMessage,
    status: TaskState,
    p: { result?: unknown; error?: SerializedError; meta?: Record<string, unknown>; done?: boolean },
  ): ResultRecord {
    return {
      status,
      taskId: task.id,
      name: task.task,
      result: p.result ?? null,
      error: p.error ?? null,
      traceback: p.error?.stack ?? null,
      dateDone: p.done ? new Date().toISOString() : null,
      meta: p.meta ?? null,
      children: [],
      worker: this.#o.hostname,
      attempts: msg.delivery.deliveryCount,
    };
  }
}

