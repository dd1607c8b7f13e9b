import {
  DecodeError,
  NotRegisteredError,
  SoftTimeLimitExceeded,
  type SerializedError,
  TaskRevokedError,
  TimeLimitExceeded,
  WorkerLostError,
  serializeError,
} from '../errors.ts';
import { type EncodedTask, type TaskMessage, decodeTask } from '../protocol/envelope.ts';
import { H } from '../protocol/headers.ts';
import type { AttemptLedger } from '../results/attempt-ledger.ts';
import type { ResultBackend, ResultWriteHandle, WriteOutcome } from '../results/result-backend.ts';
import type { Revocations } from '../results/revocations.ts';
import type { ResultRecord, TaskState } from '../results/states.ts';
import type { DeadLetterStore, IncomingMessage, QueueSettings } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { CpuPool } from './cpu-pool.ts';
import { type DeadLetterReason, deadLetterHeaders, deadLetterId } from './dead-letter.ts';
import { retryDelayMs, shouldAutoretry } from './retry-policy.ts';
import { type TaskContext, type TaskDefinition, type TaskOutcome, findTaskDefinition } from './task-definition.ts';
import { TaskRun } from './task-run.ts';

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
  /** Route result writes (e.g. through the node's result-writer actor). @defaultValue write directly */
  writeResult?: (handle: ResultWriteHandle, record: ResultRecord) => Promise<WriteOutcome>;
}

function hasKeys(o: Record<string, unknown>): boolean {
  for (const _ in o) return true;
  return false;
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
  returned: number;
  active: number;
}

const MAX_UNKNOWN_DELAY_MS = 300_000;

/**
 * Runs one delivered message to its end: decode, check (revoked, unknown, expired, eta, done
 * already, crash attribution), run it (async slot or CPU thread) under its time limits, then settle
 * it: store the result (fenced), retry (a new message), dead-letter, or drop; ack last. Never throws:
 * every path settles the message (docs/guide/failures.md has the table).
 */
export class Executor {
  readonly #o: ExecutorOptions;
  readonly #running = new Set<TaskRun>();
  readonly #debug: boolean;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #beatEveryMs: number;
  readonly #unknownDelay: number;
  readonly #write: (handle: ResultWriteHandle, record: ResultRecord) => Promise<WriteOutcome>;
  readonly stats: ExecutorStats = { succeeded: 0, failed: 0, retried: 0, deadLettered: 0, skipped: 0, rejected: 0, returned: 0, active: 0 };

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

  /** Process one message. Resolves when it is settled. */
  async handle(msg: IncomingMessage): Promise<void> {
    try {
      await this.#handle(msg);
    } catch (err) {
      // Infrastructure failure (e.g. the result store is unreachable): give the task back.
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
    } finally {
      this.#o.onSettled?.();
    }
  }

  async #handle(msg: IncomingMessage): Promise<void> {
    let task: TaskMessage;
    try {
      task = decodeTask((n) => msg.header(n), msg.headerNames(), msg.body);
    } catch (err) {
      await this.#undecodable(msg, err);
      return;
    }
    await this.#handleDecoded(task, msg);
  }

  async #handleDecoded(task: TaskMessage, msg: IncomingMessage): Promise<void> {
    const d = msg.delivery.deliveryCount;
    const seq = msg.delivery.sequence;
    const attempt = { sequence: seq, delivery: d };
    const revocation = this.#o.revocations?.get(task.id);
    if (revocation) {
      this.#o.logger.info('task revoked: not run', { task: task.task, id: task.id });
      await this.#skip(task, msg, 'REVOKED', { name: 'TaskRevokedError', message: `task ${task.id} was revoked`, code: 'E_REVOKED' }, { reason: 'revoked' });
      return;
    }
    const def = findTaskDefinition(this.#o.appName, task.task);
    if (!def) {
      await this.#unknown(task, msg);
      return;
    }
    const now = Date.now();
    if (task.expires !== null && task.expires <= now) {
      this.#o.logger.info('task expired before it started: not run', { task: task.task, id: task.id, expires: new Date(task.expires).toISOString() });
      await this.#skip(task, msg, 'REVOKED', { name: 'TaskExpired', message: 'expired before it started', code: 'E_EXPIRED' }, { reason: 'expired' });
      return;
    }
    if (task.eta !== null && task.eta > now) {
      await this.#notYet(task, msg, task.eta - now);
      return;
    }
    const useResults = !task.ignoreResult;
    let known = 0;
    let quarantine = false;
    if (d > 1 || task.idempotencyKey !== null) {
      // A redelivery (or a keyed task): finished already? Then only settle it.
      const stored = useResults ? await this.#o.backend.getEntry(task.id) : null;
      if (stored && (stored.record.status === 'SUCCESS' || stored.record.status === 'FAILURE' || stored.record.status === 'REVOKED')) {
        await this.#alreadyDone(task, msg, def, stored.record);
        return;
      }
      known = stored?.revision ?? 0;
      if (d > 1) {
        const { crashes, isolatedCrashes } = await this.#o.ledger.recordRedelivery(task.id, seq, d);
        if (crashes >= this.#o.maxCrashes) {
          // Every task in flight on a worker that died is charged a crash, so the count alone does
          // not name the killer. Evidence does: a death while it ran isolated, or no quarantine to
          // run it in. Otherwise it runs once more, alone in a quarantine thread.
          if (isolatedCrashes > 0 || !this.#o.quarantine) {
            await this.#crashed(task, msg, def, useResults ? this.#o.backend.writer(task.id, attempt, known) : null, crashes);
            return;
          }
          quarantine = true;
          await this.#o.ledger.recordIsolated(task.id, seq, d);
        }
      }
    }
    await this.#claimAndRun(task, msg, def, useResults ? this.#o.backend.writer(task.id, attempt, known) : null, quarantine);
  }

  async #crashed(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, writer: ResultWriteHandle | null, crashes: number): Promise<void> {
    const err = new WorkerLostError(
      `task ${task.id} (${task.task}) was in flight on a worker that died or lost it ${crashes} times, and killed its worker or quarantine thread when it ran alone; moved to the dead-letter stream instead of running again`,
    );
    this.#o.logger.error('task keeps killing its worker: dead-lettered', { task: task.task, id: task.id, crashes });
    await this.#failForGood(task, msg, def, writer, serializeError(err), 'crashed');
  }

  async #claimAndRun(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, writer: ResultWriteHandle | null, quarantine = false): Promise<void> {
    const d = msg.delivery.deliveryCount;
    if (d > 1 && writer) {
      // Claim this attempt: from now on, writes of earlier attempts of this message are rejected.
      const claim = await this.#write(writer, this.#record(task, msg, 'STARTED', { meta: { redelivered: true } }));
      if (claim !== 'written') {
        await this.#settleLost(task, msg, claim);
        return;
      }
    }
    await this.#run(task, msg, def, writer, quarantine);
  }

  async #run(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, writer: ResultWriteHandle | null, quarantine = false): Promise<void> {
    const run = new TaskRun(msg, task, writer, this.#o.hostname, this.#o.logger, this.#write, (status, meta) =>
      this.#record(task, msg, status, { meta }),
    );
    this.#running.add(run);
    this.stats.active = this.#running.size;
    const [callSoft, callHard] = task.timelimit;
    const softMs = callSoft !== null ? callSoft * 1000 : (def.softTimeLimitMs ?? this.#o.softTimeLimitMs ?? null);
    const hardMs = callHard !== null ? callHard * 1000 : (def.timeLimitMs ?? this.#o.timeLimitMs ?? null);
    const timers: NodeJS.Timeout[] = [];
    if (softMs !== null && softMs > 0) timers.push(setTimeout(() => run.abort(new SoftTimeLimitExceeded(softMs)), softMs));
    if (hardMs !== null && hardMs > 0) {
      timers.push(
        setTimeout(() => {
          const reason = new TimeLimitExceeded(hardMs);
          if (!quarantine && (def.kind === 'io' || !this.#o.cpuPool)) {
            run.abandoned = true;
            this.#o.logger.warn('task abandoned at its hard time limit: it did not stop when ctx.signal aborted', {
              task: task.task,
              id: task.id,
              limitMs: hardMs,
              softLimitMs: softMs,
            });
          }
          run.kill(reason, { ok: false, error: serializeError(reason), autoretry: shouldAutoretry(def.retry, reason) });
        }, hardMs),
      );
    }
    try {
      if (this.#o.trackStarted && writer && msg.delivery.deliveryCount === 1) await this.#write(writer, this.#record(task, msg, 'STARTED', {}));
      const args = hasKeys(task.kwargs) ? [...task.args, task.kwargs] : task.args;
      let outcome: TaskOutcome;
      const pool = quarantine ? this.#o.quarantine : def.kind === 'cpu' ? this.#o.cpuPool : undefined;
      if (pool) {
        outcome = await pool.run(task.task, args, run.data(), {
          signal: run.signal,
          kill: run.killSignal,
          onProgress: (meta) => void run.progress(meta).catch((err) => run.log.warn('progress write failed', { error: err })),
        });
        if (!outcome.ok && outcome.autoretry === undefined && run.killSignal.aborted) {
          outcome = { ...outcome, autoretry: shouldAutoretry(def.retry, run.killSignal.reason) };
        }
        if (quarantine && !outcome.ok && outcome.error.code === 'E_WORKER_LOST' && !run.killSignal.aborted) {
          // It killed its quarantine thread: the evidence that it is what killed the workers.
          for (const t of timers) clearTimeout(t);
          const { crashes } = await this.#o.ledger.recordRedelivery(task.id, msg.delivery.sequence, msg.delivery.deliveryCount + 1);
          await this.#crashed(task, msg, def, writer, crashes);
          return;
        }
      } else {
        const killed = run.killed();
        const body = (async (): Promise<TaskOutcome> => {
          try {
            return { ok: true, value: await (def.fn as unknown as (c: TaskContext, ...a: unknown[]) => unknown)(run, ...args) };
          } catch (err) {
            return { ok: false, error: serializeError(err), autoretry: shouldAutoretry(def.retry, err) };
          }
        })();
        outcome = await Promise.race([body, killed]);
      }
      for (const t of timers) clearTimeout(t);
      if (!run.abandoned) await run.progressSettled();
      if (run.returned) {
        // Handed back at shutdown: the next delivery decides the result, not this abandoned run.
        this.stats.returned++;
        return;
      }
      await this.#settle(task, msg, def, run, writer, outcome);
    } finally {
      for (const t of timers) clearTimeout(t);
      this.#running.delete(run);
      this.stats.active = this.#running.size;
    }
  }

  /** Decide what the outcome means: success, ignore, revoked, retry, or failure for good. */
  async #settle(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, run: TaskRun, writer: ResultWriteHandle | null, outcome: TaskOutcome): Promise<void> {
    if (outcome.ok) {
      if (this.#debug) run.log.debug('task succeeded', { ms: Date.now() - run.startedAt });
      if ((await this.#terminal(task, msg, writer, this.#record(task, msg, 'SUCCESS', { result: outcome.value, done: true }))) === 'written') {
        this.stats.succeeded++;
      }
      return;
    }
    const error = outcome.error;
    if (error.code === 'E_IGNORE') {
      this.stats.skipped++;
      msg.ack();
      return;
    }
    if (run.revoked) {
      this.stats.skipped++;
      run.log.info('revoked task stopped', { ms: Date.now() - run.startedAt });
      await this.#terminal(task, msg, writer, this.#record(task, msg, 'REVOKED', { error, meta: { reason: 'revoked', terminate: run.terminated }, done: true }));
      return;
    }
    if (error.code === 'E_REJECT') {
      run.log.warn('task rejected: dead-lettered', { error: `${error.message}` });
      await this.#failForGood(task, msg, def, writer, error.cause ?? error, 'rejected');
      return;
    }
    const wantsRetry = error.code === 'E_RETRY' || outcome.autoretry === true;
    const cause = error.code === 'E_RETRY' ? (error.cause ?? error) : error;
    if (wantsRetry && task.retries < def.retry.maxRetries) {
      const asked = (error.data as { countdownMs?: unknown } | undefined)?.countdownMs;
      const countdownMs = typeof asked === 'number' && asked >= 0 ? asked : retryDelayMs(def.retry, task.retries + 1);
      await this.#retry(task, msg, writer, cause, countdownMs);
      return;
    }
    run.log.warn('task failed', { ms: Date.now() - run.startedAt, error: `${cause.name}: ${cause.message}`, retries: task.retries });
    await this.#failForGood(task, msg, def, writer, cause, wantsRetry ? 'retries-exhausted' : 'failed');
  }

  /** Re-publish with `retries + 1` and an eta (a new message: no slot and no delivery is held), then ack. */
  async #retry(task: TaskMessage, msg: IncomingMessage, writer: ResultWriteHandle | null, cause: SerializedError, countdownMs: number): Promise<void> {
    const next = task.retries + 1;
    const eta = Date.now() + countdownMs;
    if (writer) {
      const w = await this.#write(
        writer,
        this.#record(task, msg, 'RETRY', { error: cause, meta: { retries: next, countdownMs, nextAttemptAt: new Date(eta).toISOString() } }),
      );
      if (w !== 'written') return this.#settleLost(task, msg, w);
    }
    const headers = this.#copyHeaders(msg);
    headers[H.retries] = String(next);
    headers[H.eta] = new Date(eta).toISOString();
    headers[H.msgId] = `${task.id}:retry:${next}`;
    await this.#o.republish(msg.queue, { id: task.id, headers, body: msg.body });
    this.stats.retried++;
    this.#o.logger.info('task will be retried', { task: task.task, id: task.id, retry: next, inMs: countdownMs, error: `${cause.name}: ${cause.message}` });
    msg.ack();
  }

  /** Store FAILURE (fenced), copy the message to the dead-letter stream, then ack. */
  async #failForGood(
    task: TaskMessage | null,
    msg: IncomingMessage,
    def: TaskDefinition | null,
    writer: ResultWriteHandle | null,
    error: SerializedError,
    reason: DeadLetterReason,
  ): Promise<void> {
    this.stats.failed++;
    if (task) {
      const record = this.#record(task, msg, 'FAILURE', { error, meta: { deadLetter: def?.deadLetter !== false ? reason : null }, done: true });
      const w = writer ? await this.#write(writer, record) : 'written';
      if (w === 'superseded') return this.#settleLost(task, msg, w); // a later attempt owns the message now
      if (w === 'terminal') return this.#alreadyDone(task, msg, def, null);
      this.#notify(task, record);
    }
    if (def?.deadLetter !== false) await this.#deadLetter(msg, task, error, reason);
    msg.ack();
  }

  async #deadLetter(msg: IncomingMessage, task: TaskMessage | null, error: SerializedError | null, reason: DeadLetterReason): Promise<void> {
    const id = task?.id ?? msg.header(H.id);
    const headers = deadLetterHeaders(this.#headerEntries(msg), {
      reason,
      error,
      attempts: msg.delivery.deliveryCount,
      retries: task?.retries ?? 0,
      worker: this.#o.hostname,
      queue: msg.queue,
      seq: msg.delivery.sequence,
    });
    await this.#o.deadLetters.add(msg.queue, deadLetterId(id, msg.delivery.sequence), headers, msg.body);
    this.stats.deadLettered++;
  }

  /** A write lost to another attempt: `terminal` = done elsewhere (ack), `superseded` = a later attempt holds it (no ack). */
  async #settleLost(task: TaskMessage, msg: IncomingMessage, w: WriteOutcome): Promise<void> {
    this.stats.skipped++;
    if (w === 'terminal') {
      const stored = await this.#o.backend.get(task.id);
      if (stored) this.#notify(task, stored);
      msg.ack();
      return;
    }
    this.#o.logger.warn('stale attempt: a later delivery of this task took over; its result and ack are dropped', {
      task: task.task,
      id: task.id,
      attempt: `${msg.delivery.sequence}.${msg.delivery.deliveryCount}`,
    });
  }

  /**
   * The task already has a terminal result (a redelivery after the ack was lost, a keyed task run
   * before). If it is this message's own dead-lettered failure, make sure the dead letter exists.
   */
  async #alreadyDone(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition | null, record: ResultRecord | null): Promise<void> {
    const stored = record ?? (await this.#o.backend.get(task.id));
    const dl = stored?.meta?.deadLetter;
    if (stored && stored.status === 'FAILURE' && typeof dl === 'string' && stored.attempt?.sequence === msg.delivery.sequence && def?.deadLetter !== false) {
      await this.#deadLetter(msg, task, stored.error, dl as DeadLetterReason);
    }
    this.stats.skipped++;
    if (stored) this.#notify(task, stored);
    msg.ack();
  }

  /** Revoked or expired before it started. */
  async #skip(task: TaskMessage, msg: IncomingMessage, status: TaskState, error: SerializedError, meta: Record<string, unknown>): Promise<void> {
    this.stats.skipped++;
    const writer = task.ignoreResult ? null : this.#o.backend.writer(task.id, { sequence: msg.delivery.sequence, delivery: msg.delivery.deliveryCount });
    await this.#terminal(task, msg, writer, this.#record(task, msg, status, { error, meta, done: true }));
  }

  /** Store a terminal record (fenced), send what is stored to `reply_to`, ack. */
  async #terminal(task: TaskMessage, msg: IncomingMessage, writer: ResultWriteHandle | null, record: ResultRecord): Promise<WriteOutcome> {
    if (writer) {
      const w = await this.#write(writer, record);
      if (w !== 'written') {
        await this.#settleLost(task, msg, w);
        return w;
      }
    }
    this.#notify(task, record);
    msg.ack();
    return 'written';
  }

  #notify(task: TaskMessage, record: ResultRecord): void {
    if (task.replyTo) this.#o.notifyResult?.(task.replyTo, task.id, record);
  }

  /** Nobody here knows the task: hand it back with a growing delay; on the last delivery, dead-letter it. */
  async #unknown(task: TaskMessage, msg: IncomingMessage): Promise<void> {
    const d = msg.delivery.deliveryCount;
    if (d >= this.#o.queueSettings(msg.queue).maxDeliver) {
      const err = serializeError(new NotRegisteredError(task.task));
      this.#o.logger.error('unknown task: no worker knew it through its last delivery; dead-lettered', { task: task.task, id: task.id, deliveries: d });
      const writer = task.ignoreResult ? null : this.#o.backend.writer(task.id, { sequence: msg.delivery.sequence, delivery: d });
      await this.#failForGood(task, msg, null, writer, err, 'not-registered');
      return;
    }
    const delay = Math.min(this.#unknownDelay * 2 ** (d - 1), MAX_UNKNOWN_DELAY_MS);
    await this.#o.ledger.recordReturn(task.id, msg.delivery.sequence, d);
    msg.nak(delay);
    this.stats.returned++;
    this.#o.logger.warn('unknown task: returned to the queue for a worker that knows it', { task: task.task, id: task.id, retryInMs: delay });
  }

  /**
   * Not due yet (interim until the scheduler: hand it back with the remaining delay, holding no
   * slot). On the message's last delivery it is re-published as a fresh message instead.
   */
  async #notYet(task: TaskMessage, msg: IncomingMessage, waitMs: number): Promise<void> {
    const d = msg.delivery.deliveryCount;
    this.stats.returned++;
    if (d >= this.#o.queueSettings(msg.queue).maxDeliver) {
      // A nak now would exhaust the message: hand it over to a fresh copy instead.
      const headers = this.#copyHeaders(msg);
      headers[H.msgId] = `${task.id}:eta:${msg.delivery.sequence}`;
      await this.#o.republish(msg.queue, { id: task.id, headers, body: msg.body });
      msg.ack();
      return;
    }
    await this.#o.ledger.recordReturn(task.id, msg.delivery.sequence, d);
    msg.nak(waitMs);
  }

  /** An undecodable or malformed message: dead-letter it on the first delivery (never retried) and record what is known. */
  async #undecodable(msg: IncomingMessage, err: unknown): Promise<void> {
    const e = err instanceof DecodeError ? err : new DecodeError(String((err as Error)?.message ?? err), { cause: err });
    const id = msg.header(H.id);
    const name = msg.header(H.task);
    this.#o.logger.error('undecodable task message dead-lettered', {
      id,
      task: name,
      stream: msg.delivery.stream,
      seq: msg.delivery.sequence,
      error: e.message,
    });
    this.stats.rejected++;
    const error = serializeError(e);
    if (id && /^[A-Za-z0-9_.:-]{1,200}$/.test(id)) {
      const record: ResultRecord = {
        status: 'FAILURE',
        taskId: id,
        name: name ?? null,
        result: null,
        error,
        traceback: null,
        dateDone: new Date().toISOString(),
        meta: { deadLetter: 'undecodable' },
        children: [],
        worker: this.#o.hostname,
        attempts: msg.delivery.deliveryCount,
      };
      try {
        await this.#write(this.#o.backend.writer(id, { sequence: msg.delivery.sequence, delivery: msg.delivery.deliveryCount }), record);
      } catch (werr) {
        this.#o.logger.warn('could not record the decode failure', { id, error: werr });
      }
    }
    await this.#deadLetter(msg, null, error, 'undecodable');
    msg.ack();
  }

  #headerEntries(msg: IncomingMessage): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const k of msg.headerNames()) {
      const v = msg.header(k);
      if (v !== undefined) out.push([k, v]);
    }
    return out;
  }

  #copyHeaders(msg: IncomingMessage): Record<string, string> {
    return Object.fromEntries(this.#headerEntries(msg));
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
      attempt: { sequence: msg.delivery.sequence, delivery: msg.delivery.deliveryCount },
    };
  }
}
