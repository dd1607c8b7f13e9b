/**
 * The executor: runs one delivered message to its end (intake, admission, the run under its time
 * limits, settling), and keeps what runs now for inspection, revokes, heartbeats and shutdown.
 * @module
 */
import { SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded, serializeError } from '../errors.ts';
import { observe } from '../middleware/observe.ts';
import type { Span } from '@opentelemetry/api';
import { EVENT } from '../telemetry/attributes.ts';
import { carriesContext, endSpan, startProcessSpan, withSpanContext } from '../telemetry/tracing.ts';
import type { RunOutcomeState, TaskEvent } from '../middleware/types.ts';
import type { TaskMessage } from '../protocol/envelope.ts';
import { hasBlobMarkers } from '../results/result-ref.ts';
import { H } from '../protocol/headers.ts';
import type { ResultWriteHandle, WriteOutcome } from '../results/result-backend.ts';
import type { ResultRecord } from '../results/states.ts';
import type { IncomingMessage } from '../transport/transport.ts';
import { attemptRecord } from './attempt-record.ts';
import type { ExecutorOptions } from './executor-options.ts';
import { type ExecutorStats, newExecutorStats } from './executor-stats.ts';
import { invokeTask } from './invoke-task.ts';
import { MessageIntake } from './message-intake.ts';
import { shouldAutoretry } from './retry-policy.ts';
import { Settler } from './settler.ts';
import { TaskAdmission } from './task-admission.ts';
import type { TaskDefinition, TaskOutcome } from './task-definition.ts';
import { type RunEnvironment, TaskRun } from './task-run.ts';
import { type ActiveTask, type ReservedTask, argsPreview } from './inspect-views.ts';
import { WorkingHeartbeat } from './working-heartbeat.ts';

export type { ActiveTask, ReservedTask } from './inspect-views.ts';
export type { Continuation, ExecutionMiddleware, ExecutorOptions } from './executor-options.ts';
export type { ExecutorStats } from './executor-stats.ts';

/** How an attempt ended, for its span (`RETURNED`: handed back at shutdown). */
type RunState = RunOutcomeState | 'RETURNED';

/**
 * The `postrun` event: `event` and the outcome, written out field by field. Not
 * `{ ...event, state }`: in optimized code, V8 (Node 20) gives every object built by a spread
 * followed by a new property a hidden class of its own, allocated in old space. Once per task,
 * those classes kept the task's young objects alive through scavenges until the next full GC:
 * ~1.7 MB promoted per scavenge, scavenges ~5× longer and a mark-compact every second in the
 * latency bench's worker (docs/bench/latency.md, tenth session).
 */
function postrunEvent(event: TaskEvent, state: RunOutcomeState): TaskEvent & { state: RunOutcomeState } {
  return { task: event.task, id: event.id, args: event.args, retries: event.retries, worker: event.worker, state };
}

function hasKeys(o: Record<string, unknown>): boolean {
  for (const _ in o) return true;
  return false;
}

/**
 * Runs one delivered message to its end: decode, check (revoked, unknown, expired, eta, done
 * already, crash attribution), run it (async slot or CPU thread) under its time limits, then settle
 * it: store the result (fenced), retry (a new message), dead-letter, or drop; ack last. Never throws:
 * every path settles the message (docs/guide/failures.md has the table).
 */
export class Executor {
  readonly #o: ExecutorOptions;
  readonly #running = new Set<TaskRun>();
  /** Decoded and not yet settled, with when it was received; `started` once it runs (it may be settling). */
  readonly #received = new Map<IncomingMessage, { task: TaskMessage; at: number; started: boolean }>();
  readonly #limits = new Map<string, { softMs: number | null; hardMs?: number | null }>();
  /** `working()` for the runs in `#running` that run long. */
  readonly #heartbeat: WorkingHeartbeat;
  readonly #write: (handle: ResultWriteHandle, record: ResultRecord) => Promise<WriteOutcome>;
  readonly stats: ExecutorStats = newExecutorStats();
  /** What happens to a message once decided; it updates `stats` (this same object). */
  readonly #settler: Settler;
  /** Size check, authentication and decoding; refuses (dead-letters) what does not pass. */
  readonly #intake: MessageIntake;
  /** The checks before a run. */
  readonly #admission: TaskAdmission;
  /** What every {@link TaskRun} of this executor shares. */
  readonly #runEnv: RunEnvironment;

  constructor(options: ExecutorOptions) {
    this.#o = options;
    this.#write = options.writeResult ?? ((h, r) => h.write(r));
    this.#settler = new Settler(options, this.stats, this.#write);
    this.#intake = new MessageIntake(options, this.stats, this.#write, this.#settler);
    this.#admission = new TaskAdmission(options, this.#settler, this.#write, (task, msg, def, writer, quarantine) => this.#run(task, msg, def, writer, quarantine));
    const events = options.events;
    this.#runEnv = {
      hostname: options.hostname,
      logger: options.logger,
      writeRecord: this.#write,
      stateRecord: (task, msg, state, meta) => attemptRecord(options.hostname, task, msg, state, meta ? { meta } : {}),
      stateReported: events
        ? (task, state, meta) => {
            // A state other than PROGRESS (ctx.updateState) is named in the event.
            if (events.enabled) events.emit('task-progress', task.id, task.task, state === 'PROGRESS' ? { meta } : { state, meta });
          }
        : undefined,
    };
    this.#heartbeat = new WorkingHeartbeat(this.#running, options.ackWaitMs);
    this.startHeartbeats();
  }

  /**
   * Send `working()` (`+WPI`) every AckWait/3 for tasks running longer than that, so the broker does
   * not redeliver them. Started by the constructor; idempotent.
   */
  startHeartbeats(): void {
    this.#heartbeat.start();
  }

  /** Tasks running now. */
  get active(): number {
    return this.#running.size;
  }

  /** Running tasks (`celeriac inspect active`). */
  activeTasks(): ActiveTask[] {
    const now = Date.now();
    return [...this.#running].map((r) => ({
      id: r.id,
      name: r.name,
      queue: r.msg.queue,
      delivery: r.msg.delivery.deliveryCount,
      retries: r.task.retries,
      runningMs: now - r.startedAt,
      args: argsPreview(r.task.args),
    }));
  }

  /**
   * Tasks this node holds that have not started: received and waiting for the checks before a run
   * (result lookup, middleware such as a rate limit) (`celeriac inspect reserved`).
   */
  reservedTasks(): ReservedTask[] {
    const now = Date.now();
    const out: ReservedTask[] = [];
    for (const [msg, r] of this.#received) {
      if (!r.started) out.push({ id: r.task.id, name: r.task.task, queue: msg.queue, delivery: msg.delivery.deliveryCount, waitingMs: now - r.at, args: argsPreview(r.task.args) });
    }
    return out;
  }

  /**
   * Override the time limits of task `name` on this node (`celeriac control time-limit`): `null`
   * removes a limit, `hardMs` `undefined` keeps the task's own hard limit. Limits given with the
   * call still win. `limits` `null` drops the override.
   */
  setTimeLimit(name: string, limits: { softMs: number | null; hardMs?: number | null } | null): void {
    if (limits === null) this.#limits.delete(name);
    else this.#limits.set(name, limits);
  }

  /** The time-limit overrides set by {@link setTimeLimit}. */
  timeLimits(): Record<string, { softMs: number | null; hardMs?: number | null }> {
    return Object.fromEntries(this.#limits);
  }

  /** Abort `ctx.signal` of every running task (shutdown). */
  abortAll(reason: unknown): void {
    for (const r of this.#running) r.abort(reason);
  }

  /**
   * A task was revoked: abort the signal of its running executions; with `terminate`, also kill
   * them (CPU thread terminated, I/O task abandoned). Returns how many runs were affected.
   */
  revoke(taskId: string, terminate: boolean): number {
    let n = 0;
    for (const r of this.#running) {
      if (r.id !== taskId) continue;
      n++;
      r.revoked = true;
      r.terminated = terminate;
      const reason = new TaskRevokedError(taskId, terminate);
      if (terminate) r.kill(reason, { ok: false, error: serializeError(reason) });
      else r.abort(reason);
    }
    return n;
  }

  /**
   * Give every running task's message back to the broker for redelivery (cold/forced shutdown).
   * The hand-back is recorded first (best effort, 1 s), so it is not taken for a crash.
   */
  async returnAll(): Promise<void> {
    const runs = [...this.#running].filter((r) => !r.returned);
    for (const r of runs) r.returned = true;
    await Promise.race([
      Promise.allSettled(runs.map((r) => this.#o.ledger.recordReturn(r.id, r.attempt.sequence, r.attempt.delivery))),
      new Promise((res) => setTimeout(res, 1000).unref()),
    ]);
    for (const r of runs) r.msg.nak();
  }

  /** Stop the heartbeat timer. */
  close(): void {
    this.#heartbeat.stop();
  }

  /**
   * Process one message. Resolves when it is settled; never rejects.
   *
   * While a task runs, what holds it is heap: with 10,000 tasks sleeping in their slots every
   * suspended async frame costs ~0.5 KB per task (docs/bench/io.md). So a first delivery that
   * passes the checks is held by one async frame ({@link #execute}) and two callbacks here: the
   * checks before a run are synchronous, and what has to wait for I/O first (a redelivery, a keyed,
   * retried or delayed task) takes its own async path.
   */
  handle(msg: IncomingMessage): Promise<void> {
    let settled: Promise<void>;
    try {
      settled = this.#process(msg);
    } catch (err) {
      settled = Promise.reject(err);
    }
    return settled.then(
      () => {
        this.#received.delete(msg);
        this.#o.onSettled?.();
      },
      (err: unknown) => this.#handBack(msg, err),
    );
  }

  /** Decode, check and run (or settle) one message; the decoded task is listed while it is held. */
  #process(msg: IncomingMessage): Promise<void> {
    const decoded = this.#intake.decode(msg);
    if (decoded instanceof Promise) return decoded;
    const task = decoded;
    this.#received.set(msg, { task, at: Date.now(), started: false });
    const def = this.#admission.admit(task, msg);
    if (def instanceof Promise) return def;
    return this.#run(task, msg, def, task.ignoreResult ? null : this.#o.backend.writer(task.id, { sequence: msg.delivery.sequence, delivery: msg.delivery.deliveryCount }, 0), false);
  }

  /** Infrastructure failure (e.g. the result store is unreachable): give the task back. */
  async #handBack(msg: IncomingMessage, err: unknown): Promise<void> {
    this.#received.delete(msg);
    try {
      const d = msg.delivery.deliveryCount;
      const delay = Math.min(1000 * 2 ** (d - 1), 60_000);
      const id = msg.header(H.id);
      this.#o.logger.error('task could not be completed; returned to the queue', { id, retryInMs: delay, error: err });
      // Recorded (best effort: the store may be what failed) so the redelivery is not taken for a crash.
      if (id) {
        await Promise.race([
          this.#o.ledger.recordReturn(id, msg.delivery.sequence, d).catch(() => undefined),
          new Promise((r) => setTimeout(r, 1000).unref()),
        ]);
      }
      msg.nak(delay);
      this.stats.returned++;
    } catch (e) {
      this.#o.logger.error('task could not be handed back', { error: e });
    } finally {
      this.#o.onSettled?.();
    }
  }

  /**
   * One execution attempt inside its CONSUMER span (child of the publish that sent the message,
   * linked to the original publish on a retry or a delayed run): spans the task creates, and the
   * publishes of the workflow steps it continues, are its children.
   */
  #run(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, writer: ResultWriteHandle | null, quarantine: boolean): Promise<void> {
    const { span, ctx } = startProcessSpan({
      task: task.task,
      id: task.id,
      queue: msg.queue,
      retries: task.retries,
      worker: this.#o.hostname,
      deliveryCount: msg.delivery.deliveryCount,
      rootId: task.rootId,
      header: (n) => msg.header(n),
      linked: task.retries > 0 || task.eta !== null,
    });
    // Sampled out too: what the task publishes must follow its sampling decision (parent-based).
    return carriesContext(span) ? withSpanContext(ctx, () => this.#execute(task, msg, def, writer, quarantine, span)) : this.#execute(task, msg, def, writer, quarantine, span);
  }

  /**
   * Run the task under its time limits (async slot, CPU thread, or through the execute middleware),
   * settle its outcome, and end its span. Throws only on infrastructure trouble (the caller hands
   * the message back).
   */
  async #execute(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, writer: ResultWriteHandle | null, quarantine: boolean, span: Span): Promise<void> {
    const started = this.#o.metrics ? performance.now() : 0;
    let state: RunState = 'RETURNED';
    let error: unknown;
    let softTimer: NodeJS.Timeout | undefined;
    let hardTimer: NodeJS.Timeout | undefined;
    const run = new TaskRun(msg, task, writer, this.#runEnv);
    try {
      run.span = span;
      const events = this.#o.events;
      if (events?.enabled) events.emit('task-started', task.id, task.task);
      this.#running.add(run);
      this.stats.active = this.#running.size;
      const received = this.#received.get(msg);
      if (received) received.started = true;
      const metrics = this.#o.metrics;
      if (metrics && msg.delivery.deliveryCount === 1 && msg.delivery.storedAt) metrics.queueWait(task.task, msg.queue, Math.max(0, run.startedAt - msg.delivery.storedAt));
      const kind = def.kindFor ? def.kindFor(task.args) : def.kind;
      const [callSoft, callHard] = task.timelimit;
      const override = this.#limits.size > 0 ? this.#limits.get(task.task) : undefined;
      const softMs = callSoft !== null ? callSoft * 1000 : override ? override.softMs : (def.softTimeLimitMs ?? this.#o.softTimeLimitMs ?? null);
      const hardMs = callHard !== null ? callHard * 1000 : override && override.hardMs !== undefined ? override.hardMs : (def.timeLimitMs ?? this.#o.timeLimitMs ?? null);
      if (softMs !== null && softMs > 0) {
        softTimer = setTimeout(() => {
          span.addEvent(EVENT.softTimeLimit, { 'celeriac.limit_ms': softMs });
          run.abort(new SoftTimeLimitExceeded(softMs));
        }, softMs);
      }
      if (hardMs !== null && hardMs > 0) {
        hardTimer = setTimeout(() => {
          const reason = new TimeLimitExceeded(hardMs);
          span.addEvent(EVENT.hardTimeLimit, { 'celeriac.limit_ms': hardMs });
          if (!quarantine && (kind === 'io' || !this.#o.cpuPool)) {
            run.abandoned = true;
            this.#o.logger.warn('task abandoned at its hard time limit: it did not stop when ctx.signal aborted', {
              task: task.task,
              id: task.id,
              limitMs: hardMs,
              softLimitMs: softMs,
            });
          }
          run.kill(reason, { ok: false, error: serializeError(reason), autoretry: shouldAutoretry(def.retry, reason) });
        }, hardMs);
      }
      if (this.#o.trackStarted && writer && msg.delivery.deliveryCount === 1) await this.#write(writer, attemptRecord(this.#o.hostname, task, msg, 'STARTED', {}));
      // Large values a workflow passed by reference are read back first (ADR 0012).
      let base: unknown[] = task.args;
      let unresolved: unknown;
      if (hasBlobMarkers(task.args)) base = await this.#o.backend.resolveArgs(task.args).catch((err: unknown) => ((unresolved = err), task.args));
      const args = hasKeys(task.kwargs) ? [...base, task.kwargs] : base;
      let outcome: TaskOutcome;
      const pool = quarantine ? this.#o.quarantine : kind === 'cpu' ? this.#o.cpuPool : undefined;
      const chain = this.#o.middleware?.executeChain(task.task) ?? null;
      const signals = this.#o.middleware?.signals(task.task) ?? null;
      const event: TaskEvent | null = signals ? { task: task.task, id: task.id, args, retries: task.retries, worker: this.#o.hostname } : null;
      if (signals && event) observe(signals.prerun, () => event, run.log, 'prerun');
      // Read again only if the task is retried, deferred or dead-lettered: while it runs, the
      // transport may drop its parsed copy.
      msg.releaseHeaders?.();
      if (unresolved !== undefined) {
        outcome = { ok: false, error: serializeError(unresolved) };
      } else {
        outcome = await invokeTask(def, task, run, args, pool, chain);
      }
      if (pool) {
        if (!outcome.ok && outcome.autoretry === undefined && run.killSignal.aborted) {
          outcome = { ok: false, error: outcome.error, autoretry: shouldAutoretry(def.retry, run.killSignal.reason) };
        }
        if (quarantine && !outcome.ok && outcome.error.code === 'E_WORKER_LOST' && !run.killSignal.aborted) {
          // It killed its quarantine thread: the evidence that it is what killed the workers.
          clearTimeout(softTimer);
          clearTimeout(hardTimer);
          const { crashes } = await this.#o.ledger.recordRedelivery(task.id, msg.delivery.sequence, msg.delivery.deliveryCount + 1);
          await this.#settler.crashed(task, msg, def, writer, crashes);
          if (signals && event) observe(signals.postrun, () => postrunEvent(event, 'FAILURE'), run.log, 'postrun');
          state = 'FAILURE';
          error = outcome.error;
          return;
        }
      }
      clearTimeout(softTimer);
      clearTimeout(hardTimer);
      const progress = run.abandoned ? undefined : run.pendingProgress;
      if (progress) await progress;
      if (run.returned) {
        // Handed back at shutdown: the next delivery decides the result, not this abandoned run.
        this.stats.returned++;
        return;
      }
      const settling = this.#settler.settle(task, msg, def, run, writer, outcome);
      const settled = typeof settling === 'string' ? settling : await settling;
      if (signals && event) observe(signals.postrun, () => postrunEvent(event, settled), run.log, 'postrun');
      state = settled;
      if (settled === 'FAILURE' && !outcome.ok) error = outcome.error;
    } catch (err) {
      error = err; // infrastructure trouble: the message is handed back
      throw err;
    } finally {
      clearTimeout(softTimer);
      clearTimeout(hardTimer);
      this.#running.delete(run);
      this.stats.active = this.#running.size;
      endSpan(span, error, state);
      this.#o.metrics?.execution(task.task, state, performance.now() - started);
    }
  }
}
