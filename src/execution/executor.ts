/**
 * The executor: runs one delivered message to its end (intake, admission, the run under its time
 * limits, settling), and keeps what runs now for inspection, revokes, heartbeats and shutdown.
 * @module
 */
import { SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded, serializeError } from '../errors.ts';
import { observe } from '../middleware/observe.ts';
import { EVENT } from '../telemetry/attributes.ts';
import { carriesContext, endSpan, startProcessSpan, withSpanContext } from '../telemetry/tracing.ts';
import type { RunOutcomeState, TaskEvent } from '../middleware/types.ts';
import type { TaskMessage } from '../protocol/envelope.ts';
import { hasBlobMarkers } from '../results/result-ref.ts';
import { H } from '../protocol/headers.ts';
import type { ResultWriteHandle, WriteOutcome } from '../results/result-backend.ts';
import type { ResultRecord } from '../results/states.ts';
import type { IncomingMessage } from '../transport/transport.ts';
import { Attempt, type AttemptWaiter } from './attempt.ts';
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
   * Process one message: settled in the background (released with `onSettled`, or handed back);
   * `done` is called once it is. Never throws.
   *
   * While a task runs, what holds it is heap: with 10,000 tasks sleeping in their slots every
   * object per task counts (docs/bench/io.md). So a first delivery that passes the checks is held
   * by its {@link Attempt} and the reaction on the body's promise, not by async frames and the
   * promises between them (ADR 0016): the checks before a run are synchronous, and what has to wait
   * for I/O first (a redelivery, a keyed, retried or delayed task) takes its own async path.
   */
  handle(msg: IncomingMessage, done?: () => void): void {
    let slow: Promise<void> | undefined;
    try {
      slow = this.#process(msg, done);
    } catch (err) {
      slow = Promise.reject(err);
    }
    slow?.then(
      () => this.#release(msg, done),
      (err: unknown) => void this.#handBack(msg, err).then(done),
    );
  }

  /** {@link handle}, as a promise that resolves once the message is settled. */
  handleAndWait(msg: IncomingMessage): Promise<void> {
    return new Promise((resolve) => this.handle(msg, resolve));
  }

  /**
   * Decode, check and run (or settle) one message; the decoded task is listed while it is held.
   * Returns the promise of a slow path, or undefined when the run took the message over.
   */
  #process(msg: IncomingMessage, done: (() => void) | undefined): Promise<void> | undefined {
    const decoded = this.#intake.decode(msg);
    if (decoded instanceof Promise) return decoded;
    const task = decoded;
    this.#received.set(msg, { task, at: Date.now(), started: false });
    const def = this.#admission.admit(task, msg);
    if (def instanceof Promise) return def;
    const writer = task.ignoreResult ? null : this.#o.backend.writer(task.id, { sequence: msg.delivery.sequence, delivery: msg.delivery.deliveryCount }, 0);
    this.#start(task, msg, def, writer, false, null, done);
    return undefined;
  }

  /** The message is settled: it no longer holds a slot. */
  #release(msg: IncomingMessage, done: (() => void) | undefined): void {
    this.#received.delete(msg);
    this.#o.onSettled?.();
    done?.();
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

  /** An admitted task run from the admission's slow path: resolves when it has ended (rejects on infrastructure trouble). */
  #run(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, writer: ResultWriteHandle | null, quarantine: boolean): Promise<void> {
    return new Promise((resolve, reject) => this.#start(task, msg, def, writer, quarantine, { resolve, reject }, undefined));
  }

  /**
   * Start one execution attempt inside its CONSUMER span (child of the publish that sent the
   * message, linked to the original publish on a retry or a delayed run): spans the task creates,
   * and the publishes of the workflow steps it continues, are its children. When it ends, `waiter`
   * is told; without one, the message is released (or handed back) here.
   */
  #start(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, writer: ResultWriteHandle | null, quarantine: boolean, waiter: AttemptWaiter | null, done: (() => void) | undefined): void {
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
    const traced = carriesContext(span);
    const run = new TaskRun(msg, task, writer, this.#runEnv);
    run.span = span;
    const a = new Attempt(run, def, quarantine, span, traced ? ctx : null, this.#o.metrics ? performance.now() : 0, waiter, done, this.#onOutcome, this.#onFailure);
    if (traced) withSpanContext(ctx, () => this.#begin(a));
    else this.#begin(a);
  }

  /** What every attempt's outcome goes to (one function per executor, not one per task). */
  readonly #onOutcome = (a: Attempt, outcome: TaskOutcome): void => {
    // In the span's context again: a kill (a revoke) delivers from outside it.
    if (a.ctx) withSpanContext(a.ctx, () => this.#complete(a, outcome));
    else this.#complete(a, outcome);
  };

  readonly #onFailure = (a: Attempt, err: unknown): void => this.#fail(a, err);

  /**
   * The start of a run: listed as running, `task-started`, time limits armed; then the body, after
   * what has to be read or written first (the STARTED record, arguments passed by reference).
   */
  #begin(a: Attempt): void {
    const { run, def } = a;
    const { task, msg, writer } = run;
    try {
      const events = this.#o.events;
      if (events?.enabled) events.emit('task-started', task.id, task.task);
      this.#running.add(run);
      this.stats.active = this.#running.size;
      const received = this.#received.get(msg);
      if (received) received.started = true;
      const metrics = this.#o.metrics;
      if (metrics && msg.delivery.deliveryCount === 1 && msg.delivery.storedAt) metrics.queueWait(task.task, msg.queue, Math.max(0, run.startedAt - msg.delivery.storedAt));
      const kind = def.kindFor ? def.kindFor(task.args) : def.kind;
      a.pool = a.quarantine ? this.#o.quarantine : kind === 'cpu' ? this.#o.cpuPool : undefined;
      const [callSoft, callHard] = task.timelimit;
      const override = this.#limits.size > 0 ? this.#limits.get(task.task) : undefined;
      const softMs = callSoft !== null ? callSoft * 1000 : override ? override.softMs : (def.softTimeLimitMs ?? this.#o.softTimeLimitMs ?? null);
      const hardMs = callHard !== null ? callHard * 1000 : override && override.hardMs !== undefined ? override.hardMs : (def.timeLimitMs ?? this.#o.timeLimitMs ?? null);
      if ((softMs !== null && softMs > 0) || (hardMs !== null && hardMs > 0)) this.#armLimits(a, kind, softMs, hardMs);
      if ((this.#o.trackStarted && writer && msg.delivery.deliveryCount === 1) || hasBlobMarkers(task.args)) {
        this.#prelude(a).then(
          (args) => this.#invoke(a, args.base, args.unresolved),
          (err: unknown) => this.#fail(a, err),
        );
        return;
      }
      this.#invoke(a, task.args, undefined);
    } catch (err) {
      this.#fail(a, err);
    }
  }

  /** Arm the soft and hard time limits of a run (only when it has one: no closures otherwise). */
  #armLimits(a: Attempt, kind: string, softMs: number | null, hardMs: number | null): void {
    const { run, span, quarantine, def } = a;
    const task = run.task;
    if (softMs !== null && softMs > 0) {
      a.softTimer = setTimeout(() => {
        span.addEvent(EVENT.softTimeLimit, { 'celeriac.limit_ms': softMs });
        run.abort(new SoftTimeLimitExceeded(softMs));
      }, softMs);
    }
    if (hardMs !== null && hardMs > 0) {
      a.hardTimer = setTimeout(() => {
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
  }

  /** What a run reads or writes before its body: the STARTED record, arguments passed by reference (ADR 0012). */
  async #prelude(a: Attempt): Promise<{ base: unknown[]; unresolved: unknown }> {
    const { task, msg, writer } = a.run;
    if (this.#o.trackStarted && writer && msg.delivery.deliveryCount === 1) await this.#write(writer, attemptRecord(this.#o.hostname, task, msg, 'STARTED', {}));
    let base: unknown[] = task.args;
    let unresolved: unknown;
    if (hasBlobMarkers(task.args)) base = await this.#o.backend.resolveArgs(task.args).catch((err: unknown) => ((unresolved = err), task.args));
    return { base, unresolved };
  }

  /** Run the body (async slot, CPU thread, or through the execute middleware); its outcome goes to the attempt. */
  #invoke(a: Attempt, base: unknown[], unresolved: unknown): void {
    try {
      const { run, def } = a;
      const task = run.task;
      const args = hasKeys(task.kwargs) ? [...base, task.kwargs] : base;
      const chain = this.#o.middleware?.executeChain(task.task) ?? null;
      const signals = this.#o.middleware?.signals(task.task) ?? null;
      if (signals) {
        const event: TaskEvent = { task: task.task, id: task.id, args, retries: task.retries, worker: this.#o.hostname };
        a.signals = signals;
        a.event = event;
        observe(signals.prerun, () => event, run.log, 'prerun');
      }
      // Read again only if the task is retried, deferred or dead-lettered: while it runs, the
      // transport may drop its parsed copy.
      run.msg.releaseHeaders?.();
      if (unresolved !== undefined) a.deliver({ ok: false, error: serializeError(unresolved) });
      else invokeTask(def, task, run, args, a.pool, chain, a);
    } catch (err) {
      a.fail(err);
    }
  }

  /** The body's outcome is in: clear the limits, wait for progress writes, then settle. */
  #complete(a: Attempt, outcome: TaskOutcome): void {
    try {
      const { run, def } = a;
      if (a.pool) {
        if (!outcome.ok && outcome.autoretry === undefined && run.killSignal.aborted) {
          outcome = { ok: false, error: outcome.error, autoretry: shouldAutoretry(def.retry, run.killSignal.reason) };
        }
        if (a.quarantine && !outcome.ok && outcome.error.code === 'E_WORKER_LOST' && !run.killSignal.aborted) {
          clearTimeout(a.softTimer);
          clearTimeout(a.hardTimer);
          const failure = outcome.error;
          this.#crashedInQuarantine(a, failure).then(
            () => this.#end(a),
            (err: unknown) => this.#fail(a, err),
          );
          return;
        }
      }
      clearTimeout(a.softTimer);
      clearTimeout(a.hardTimer);
      const progress = run.abandoned ? undefined : run.pendingProgress;
      if (progress) {
        const settled = outcome;
        progress.then(
          () => this.#settle(a, settled),
          (err: unknown) => this.#fail(a, err),
        );
        return;
      }
      this.#settle(a, outcome);
    } catch (err) {
      this.#fail(a, err);
    }
  }

  /** It killed its quarantine thread: the evidence that it is what killed the workers. */
  async #crashedInQuarantine(a: Attempt, failure: unknown): Promise<void> {
    const { run, def } = a;
    const { task, msg, writer } = run;
    const { crashes } = await this.#o.ledger.recordRedelivery(task.id, msg.delivery.sequence, msg.delivery.deliveryCount + 1);
    await this.#settler.crashed(task, msg, def, writer, crashes);
    const { signals, event } = a;
    if (signals && event) observe(signals.postrun, () => postrunEvent(event, 'FAILURE'), run.log, 'postrun');
    a.state = 'FAILURE';
    a.error = failure;
  }

  /** Store the result (fenced), retry, dead-letter or drop, then ack (the settler). */
  #settle(a: Attempt, outcome: TaskOutcome): void {
    let settling: RunOutcomeState | Promise<RunOutcomeState>;
    try {
      const { run, def } = a;
      if (run.returned) {
        // Handed back at shutdown: the next delivery decides the result, not this abandoned run.
        this.stats.returned++;
        this.#end(a);
        return;
      }
      settling = this.#settler.settle(run.task, run.msg, def, run, run.writer, outcome);
    } catch (err) {
      this.#fail(a, err);
      return;
    }
    if (typeof settling === 'string') this.#settled(a, outcome, settling);
    else
      settling.then(
        (state) => this.#settled(a, outcome, state),
        (err: unknown) => this.#fail(a, err),
      );
  }

  #settled(a: Attempt, outcome: TaskOutcome, settled: RunOutcomeState): void {
    try {
      const { signals, event } = a;
      if (signals && event) observe(signals.postrun, () => postrunEvent(event, settled), a.run.log, 'postrun');
      a.state = settled;
      if (settled === 'FAILURE' && !outcome.ok) a.error = outcome.error;
    } catch (err) {
      this.#fail(a, err);
      return;
    }
    this.#end(a);
  }

  /** Infrastructure trouble: the attempt ends and its message is handed back. */
  #fail(a: Attempt, err: unknown): void {
    if (a.ended) return;
    a.failed = true;
    a.error = err;
    this.#end(a);
  }

  /** The attempt is over: clean up, end its span, then release the message (or hand it back) or tell the waiter. */
  #end(a: Attempt): void {
    if (a.ended) return;
    a.ended = true;
    const { run } = a;
    try {
      clearTimeout(a.softTimer);
      clearTimeout(a.hardTimer);
      this.#running.delete(run);
      this.stats.active = this.#running.size;
      endSpan(a.span, a.error, a.state);
      this.#o.metrics?.execution(run.task.task, a.state, performance.now() - a.startedMs);
    } catch (err) {
      if (!a.failed) {
        a.failed = true;
        a.error = err;
      }
    }
    const { waiter } = a;
    if (waiter) {
      if (a.failed) waiter.reject(a.error);
      else waiter.resolve();
    } else if (a.failed) void this.#handBack(run.msg, a.error).then(a.done);
    else this.#release(run.msg, a.done);
  }
}
