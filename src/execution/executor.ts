import { SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded, deserializeError, serializeError } from '../errors.ts';
import type { Composed } from '../middleware/compose.ts';
import { observe } from '../middleware/observe.ts';
import type { Span } from '@opentelemetry/api';
import { EVENT } from '../telemetry/attributes.ts';
import { endSpan, startProcessSpan, withSpanContext } from '../telemetry/tracing.ts';
import type { ExecutionSignals, RunOutcomeState, TaskEvent } from '../middleware/types.ts';
import { ENCRYPTION_OVERHEAD_BYTES } from '../protocol/signing.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type EncodedTask, type TaskMessage, checkMessageSize, decodeTask } from '../protocol/envelope.ts';
import { hasBlobMarkers } from '../results/result-ref.ts';
import { H } from '../protocol/headers.ts';
import type { AttemptLedger } from '../results/attempt-ledger.ts';
import type { ResultBackend, ResultWriteHandle, WriteOutcome } from '../results/result-backend.ts';
import type { Revocations } from '../results/revocations.ts';
import type { ResultRecord } from '../results/states.ts';
import type { DeadLetterStore, IncomingMessage, QueueSettings } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { CpuPool } from './cpu-pool.ts';
import { shouldAutoretry } from './retry-policy.ts';
import { Settler } from './settler.ts';
import { type ExecuteInput, type TaskContext, type TaskDefinition, type TaskOutcome, findTaskDefinition } from './task-definition.ts';
import { type RunEnvironment, TaskRun } from './task-run.ts';
import type { EventEmitter } from './event-emitter.ts';
import type { WorkerMetrics } from '../telemetry/metrics.ts';
import { type ActiveTask, type ReservedTask, argsPreview } from './inspect-views.ts';

export type { ActiveTask, ReservedTask } from './inspect-views.ts';

/**
 * Worker deaths during a task's isolated (quarantine) runs that dead-letter it. A death of the
 * quarantine thread itself convicts at once; a death of the whole process may be another task's
 * doing (a poison message on the main thread), so it takes two.
 */
const ISOLATED_DEATHS_TO_CONVICT = 2;

/** Options of {@link Executor}. */
export interface ExecutorOptions {
  appName: string;
  hostname: string;
  backend: ResultBackend;
  logger: Logger;
  /** CPU pool for `kind: 'cpu'` tasks; without one they run on the event loop. */
  cpuPool?: Pick<CpuPool, 'run'>;
  /**
   * Threads where a task that reached `maxCrashes` runs alone one more time (io or cpu): if it kills
   * the thread it is dead-lettered; if it succeeds it was a bystander. Without it, reaching
   * `maxCrashes` dead-letters at once.
   */
  quarantine?: Pick<CpuPool, 'run'>;
  trackStarted: boolean;
  /** Broker AckWait; tasks running longer than a third of it get `working()` heartbeats. */
  ackWaitMs: number;
  /** Delivery settings per queue (max deliveries). */
  queueSettings: (queue: string) => QueueSettings;
  /** A task whose execution killed a worker this many times goes to the dead-letter stream. */
  maxCrashes: number;
  /** Dead-letter stream. */
  deadLetters: DeadLetterStore;
  /** Crash attribution. */
  ledger: AttemptLedger;
  /** Revoked task ids. */
  revocations?: Pick<Revocations, 'get'>;
  /** Publish a message (retries, eta hand-over); resolves once the broker stored it. */
  republish: (queue: string, task: EncodedTask) => Promise<void>;
  /**
   * Store a task that is not due yet in the delayed stream (the scheduler moves it to its queue
   * when due). Without it, not-yet-due tasks are handed back with a nak delay.
   */
  publishDelayed?: (queue: string, task: EncodedTask) => Promise<void>;
  /** Worker-wide default hard / soft time limits (ms). */
  timeLimitMs?: number | null;
  softTimeLimitMs?: number | null;
  /** Base delay for handing back a task no worker here knows (doubles per delivery, up to 5 min). @defaultValue 5_000 */
  unknownTaskDelayMs?: number;
  /** Called when a message is settled (its slot is free again). */
  onSettled?: () => void;
  /** Log a line per succeeded task at debug level (off by default: it costs a logger per task). */
  debug?: boolean;
  /** Send a stored terminal result to the task's `reply_to` subject (before the ack). */
  notifyResult?: (replyTo: string, taskId: string, record: ResultRecord) => void;
  /**
   * What comes after a task of a workflow reached a final state (chain step, callbacks, chord join):
   * planned before the final record is written (its ids go into `children`), run before the ack.
   */
  continuation?: (task: TaskMessage, record: ResultRecord, queue: string) => Continuation | null;
  /** The app's middleware: the execute chain around a task's body, and observers of its outcome. */
  middleware?: ExecutionMiddleware;
  /** Task events (`task-received`, `task-started`, ...) on `<app>.events.>`. */
  events?: EventEmitter;
  /** Metrics of executions (when a meter provider is registered). */
  metrics?: WorkerMetrics | null;
  /**
   * Check a message before it is decoded (signature, age, nonce, decryption: ADR 0010); a refused
   * one is dead-lettered on its first delivery with no result written. @defaultValue none (signing off)
   */
  authenticate?: (msg: IncomingMessage) => { ok: true; body: Uint8Array } | { ok: false; reason: string; message: string };
  /**
   * Largest task body accepted (the app's `maxPayloadBytes`): a larger message is dead-lettered as
   * undecodable before it is verified or decoded. @defaultValue 1 MiB
   */
  maxPayloadBytes?: number;
  /** Route result writes (e.g. through the node's result-writer actor). @defaultValue write directly */
  writeResult?: (handle: ResultWriteHandle, record: ResultRecord) => Promise<WriteOutcome>;
}

/** How an attempt ended, for its span (`RETURNED`: handed back at shutdown). */
type RunState = RunOutcomeState | 'RETURNED';

/** What the executor asks the app's middleware for, per task name (null: none, the fast path). */
export interface ExecutionMiddleware {
  executeChain(task: string): Composed<ExecuteInput, unknown> | null;
  signals(task: string): ExecutionSignals | null;
}

/** The outcome a failed execution came from (a CPU task's error crosses the thread as data). */
const OUTCOME = Symbol('celeriac.outcome');

/** The work a finished task of a workflow leaves: publish its children, record a chord join. */
export interface Continuation {
  /** Ids of the tasks it publishes. */
  children: string[];
  /** Publish and join; idempotent (a redelivery runs it again and the broker drops the copies). */
  run(): Promise<void>;
}

function hasKeys(o: Record<string, unknown>): boolean {
  for (const _ in o) return true;
  return false;
}

/** The outcome of a task function that threw or rejected with `err`. */
function failedOutcome(def: TaskDefinition, err: unknown): TaskOutcome {
  return { ok: false, error: serializeError(err), autoretry: shouldAutoretry(def.retry, err) };
}

/** Outcome counters. */
export interface ExecutorStats {
  succeeded: number;
  failed: number;
  retried: number;
  /** Copied to the dead-letter stream. */
  deadLettered: number;
  /** Skipped: revoked, expired, `Ignore`, or already done (duplicate delivery, idempotency key). */
  skipped: number;
  /** Undecodable messages. */
  rejected: number;
  /** Refused by the signature checks (ADR 0010). */
  unauthenticated?: number;
  returned: number;
  active: number;
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
  readonly #limits = new Map<string, { softMs: number | null; hardMs: number | null }>();
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #beatEveryMs: number;
  readonly #write: (handle: ResultWriteHandle, record: ResultRecord) => Promise<WriteOutcome>;
  readonly stats: ExecutorStats = { succeeded: 0, failed: 0, retried: 0, deadLettered: 0, skipped: 0, rejected: 0, returned: 0, active: 0 };
  /** What happens to a message once decided; it updates `stats` (this same object). */
  readonly #settler: Settler;
  /** What every {@link TaskRun} of this executor shares. */
  readonly #runEnv: RunEnvironment;

  constructor(options: ExecutorOptions) {
    this.#o = options;
    this.#write = options.writeResult ?? ((h, r) => h.write(r));
    this.#settler = new Settler(options, this.stats, this.#write);
    const events = options.events;
    this.#runEnv = {
      hostname: options.hostname,
      logger: options.logger,
      writeRecord: this.#write,
      stateRecord: (task, msg, state, meta) => this.#settler.record(task, msg, state, meta ? { meta } : {}),
      stateReported: events
        ? (task, state, meta) => {
            // A state other than PROGRESS (ctx.updateState) is named in the event.
            if (events.enabled) events.emit('task-progress', task.id, task.task, state === 'PROGRESS' ? { meta } : { state, meta });
          }
        : undefined,
    };
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
   * removes a limit, `undefined` keeps the task's own. Limits given with the call still win.
   */
  setTimeLimit(name: string, limits: { softMs: number | null; hardMs: number | null } | null): void {
    if (limits === null) this.#limits.delete(name);
    else this.#limits.set(name, limits);
  }

  /** The time-limit overrides set by {@link setTimeLimit}. */
  timeLimits(): Record<string, { softMs: number | null; hardMs: number | null }> {
    return Object.fromEntries(this.#limits);
  }

  #beat(threshold: number): void {
    const now = Date.now();
    for (const r of this.#running) if (!r.abandoned && now - r.startedAt >= threshold) r.msg.working();
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
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
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
    const decoded = this.#decode(msg);
    if (decoded instanceof Promise) return decoded;
    const task = decoded;
    this.#received.set(msg, { task, at: Date.now(), started: false });
    const def = this.#admit(task, msg);
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
   * Size-check, authenticate and decode a message: the task, or the promise of settling a message
   * that is refused (dead-lettered as undecodable or unauthenticated).
   */
  #decode(msg: IncomingMessage): TaskMessage | Promise<void> {
    let body = msg.body;
    const maxBodyBytes = this.#o.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    // Untrusted bytes are size-checked before anything reads them: the signature check and the
    // decryption included (an encrypted body is AES-GCM's IV and tag longer than what was encoded).
    const names = [...msg.headerNames()];
    try {
      checkMessageSize((n) => msg.header(n), names, msg.body, { maxBodyBytes: maxBodyBytes + (this.#o.authenticate ? ENCRYPTION_OVERHEAD_BYTES : 0) });
    } catch (err) {
      return this.#settler.undecodable(msg, err);
    }
    if (this.#o.authenticate) {
      const a = this.#o.authenticate(msg);
      if (!a.ok) return this.#settler.unauthenticated(msg, a.reason, a.message);
      body = a.body;
    }
    try {
      return decodeTask((n) => msg.header(n), names, body, { maxBodyBytes });
    } catch (err) {
      return this.#settler.undecodable(msg, err);
    }
  }

  /**
   * The checks that need no I/O: the task's definition when it runs now (a first delivery with
   * nothing to look up), otherwise the promise of what happens instead (revoked, unknown, expired or
   * not due yet: settled without a run; a redelivery or a keyed, retried or delayed task: looked up,
   * then run or settled).
   */
  #admit(task: TaskMessage, msg: IncomingMessage): TaskDefinition | Promise<void> {
    const d = msg.delivery.deliveryCount;
    const events = this.#o.events;
    // Fields only when they say something (events are serialised by the ten thousand).
    if (events?.enabled) {
      // The arguments (cut at 200 characters) and the trace id, as Celery's argsrepr: the message
      // is gone once acknowledged, so monitors (the dashboard) learn them here.
      const fields: Record<string, unknown> = d > 1 || task.retries > 0 || task.eta !== null ? { queue: msg.queue, retries: task.retries, delivery: d, eta: task.eta } : { queue: msg.queue };
      fields.args = argsPreview(task.args);
      const tp = msg.header(H.traceparent);
      if (tp && tp.length >= 55) fields.trace = tp.slice(3, 35);
      events.emit('task-received', task.id, task.task, fields);
    }
    const revocation = this.#o.revocations?.get(task.id);
    if (revocation) {
      this.#o.logger.info('task revoked: not run', { task: task.task, id: task.id });
      return this.#settler.skip(task, msg, 'REVOKED', { name: 'TaskRevokedError', message: `task ${task.id} was revoked`, code: 'E_REVOKED' }, { reason: 'revoked' });
    }
    const def = findTaskDefinition(this.#o.appName, task.task);
    if (!def) return this.#settler.unknown(task, msg);
    const now = Date.now();
    if (task.expires !== null && task.expires <= now) {
      this.#o.logger.info('task expired before it started: not run', { task: task.task, id: task.id, expires: new Date(task.expires).toISOString() });
      return this.#settler.skip(task, msg, 'REVOKED', { name: 'TaskExpired', message: 'expired before it started', code: 'E_EXPIRED' }, { reason: 'expired' });
    }
    if (task.eta !== null && task.eta > now) return this.#settler.notYet(task, msg, task.eta - now);
    // A retried or delayed task's key already holds its RETRY / SCHEDULED record: reading it first
    // (one get) spares the result write a failed compare-and-set, a get and a second put.
    if (d > 1 || task.idempotencyKey !== null || (!task.ignoreResult && (task.retries > 0 || task.eta !== null))) return this.#admitKnown(task, msg, def);
    return def;
  }

  /**
   * A redelivery, or a keyed, retried or delayed task: finished already? Then only settle it.
   * A redelivery is also charged to the crash ledger (quarantined or dead-lettered when it keeps
   * killing workers) and claims its attempt before it runs.
   */
  async #admitKnown(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition): Promise<void> {
    const d = msg.delivery.deliveryCount;
    const seq = msg.delivery.sequence;
    const attempt = { sequence: seq, delivery: d };
    const useResults = !task.ignoreResult;
    const stored = useResults ? await this.#o.backend.getEntry(task.id) : null;
    if (stored && (stored.record.status === 'SUCCESS' || stored.record.status === 'FAILURE' || stored.record.status === 'REVOKED')) {
      await this.#settler.alreadyDone(task, msg, def, stored.record);
      return;
    }
    const writer = useResults ? this.#o.backend.writer(task.id, attempt, stored?.revision ?? 0) : null;
    let quarantine = false;
    if (d > 1) {
      const { crashes, isolatedCrashes } = await this.#o.ledger.recordRedelivery(task.id, seq, d);
      if (crashes >= this.#o.maxCrashes) {
        // Every task in flight on a worker that died is charged a crash, so the count alone does
        // not name the killer. Evidence does: its quarantine thread dying under it (settled where
        // the run ends), two worker deaths while it ran isolated (one could be another task's:
        // the main thread keeps running other tasks), or no quarantine to run it in. Otherwise it
        // runs alone in a quarantine thread.
        if (isolatedCrashes >= ISOLATED_DEATHS_TO_CONVICT || !this.#o.quarantine) {
          await this.#settler.crashed(task, msg, def, writer, crashes);
          return;
        }
        quarantine = true;
        await this.#o.ledger.recordIsolated(task.id, seq, d);
      }
    }
    if (d > 1 && writer) {
      // Claim this attempt: from now on, writes of earlier attempts of this message are rejected.
      const claim = await this.#write(writer, this.#settler.record(task, msg, 'STARTED', { meta: { redelivered: true } }));
      if (claim !== 'written') {
        await this.#settler.settleLost(task, msg, claim);
        return;
      }
    }
    await this.#run(task, msg, def, writer, quarantine);
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
    return span.isRecording() ? withSpanContext(ctx, () => this.#execute(task, msg, def, writer, quarantine, span)) : this.#execute(task, msg, def, writer, quarantine, span);
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
      const hardMs = callHard !== null ? callHard * 1000 : override ? override.hardMs : (def.timeLimitMs ?? this.#o.timeLimitMs ?? null);
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
      if (this.#o.trackStarted && writer && msg.delivery.deliveryCount === 1) await this.#write(writer, this.#settler.record(task, msg, 'STARTED', {}));
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
      } else if (chain) {
        // The execute middleware wraps the body on this thread, for io and cpu tasks alike. A kill
        // (hard limit, revoke with terminate) still ends the wait at once.
        outcome = await new Promise<TaskOutcome>((resolve) => {
          run.onKill(resolve);
          chain({ task: task.task, args, ctx: run }, (input) => this.#invoke(pool, def, task, run, input.args)).then(
            (value) => resolve({ ok: true, value }),
            (err: unknown) => {
              const carried = typeof err === 'object' && err !== null ? (err as { [OUTCOME]?: TaskOutcome })[OUTCOME] : undefined;
              resolve(carried ?? { ok: false, error: serializeError(err), autoretry: shouldAutoretry(def.retry, err) });
            },
          );
        });
      } else if (pool) {
        outcome = await pool.run(task.task, args, run.data(), {
          signal: run.signal,
          kill: run.killSignal,
          onState: (state, meta) => void run.setState(state, meta).catch(() => undefined),
        });
      } else {
        // One promise settled by whichever comes first: the task's outcome or a kill (hard limit,
        // revoke with terminate), which abandons the task's own promise.
        outcome = await new Promise<TaskOutcome>((resolve) => {
          run.onKill(resolve);
          // No named closure per task here: under tsx (keepNames) each one costs a defineProperty.
          try {
            const v = (def.fn as unknown as (c: TaskContext, ...a: unknown[]) => unknown)(run, ...args);
            if (v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function') {
              (v as PromiseLike<unknown>).then(
                (value) => resolve({ ok: true, value }),
                (err: unknown) => resolve(failedOutcome(def, err)),
              );
            } else resolve({ ok: true, value: v });
          } catch (err) {
            resolve(failedOutcome(def, err));
          }
        });
      }
      if (pool) {
        if (!outcome.ok && outcome.autoretry === undefined && run.killSignal.aborted) {
          outcome = { ...outcome, autoretry: shouldAutoretry(def.retry, run.killSignal.reason) };
        }
        if (quarantine && !outcome.ok && outcome.error.code === 'E_WORKER_LOST' && !run.killSignal.aborted) {
          // It killed its quarantine thread: the evidence that it is what killed the workers.
          clearTimeout(softTimer);
          clearTimeout(hardTimer);
          const { crashes } = await this.#o.ledger.recordRedelivery(task.id, msg.delivery.sequence, msg.delivery.deliveryCount + 1);
          await this.#settler.crashed(task, msg, def, writer, crashes);
          if (signals && event) observe(signals.postrun, () => ({ ...event, state: 'FAILURE' as const }), run.log, 'postrun');
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
      if (signals && event) observe(signals.postrun, () => ({ ...event, state: settled }), run.log, 'postrun');
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

  /** The innermost step of the execute chain: the task body, on this thread or in the pool. */
  async #invoke(pool: Pick<CpuPool, 'run'> | undefined, def: TaskDefinition, task: TaskMessage, run: TaskRun, args: readonly unknown[]): Promise<unknown> {
    if (!pool) return (def.fn as unknown as (c: TaskContext, ...a: unknown[]) => unknown)(run, ...args);
    const o = await pool.run(task.task, [...args], run.data(), {
      signal: run.signal,
      kill: run.killSignal,
      onState: (state, meta) => void run.setState(state, meta).catch(() => undefined),
    });
    if (o.ok) return o.value;
    // The thread's error, rebuilt for the middleware; the executor uses the outcome it came from.
    const err = deserializeError(o.error);
    Object.defineProperty(err, OUTCOME, { value: o });
    throw err;
  }
}
