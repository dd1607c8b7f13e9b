/**
 * The settler: what happens to a message once the executor has decided about it (success, retry,
 * failure for good, a write lost to another attempt, already done, skipped), ending in its ack.
 * @module
 */
import { type SerializedError, WorkerLostError, isResultTooLargeError, serializeError } from '../errors.ts';
import { type TaskMessage, hasContinuation } from '../protocol/envelope.ts';
import { H } from '../protocol/headers.ts';
import { EVENT, LINK_HEADER } from '../telemetry/attributes.ts';
import { activeContext, addSpanEvent, injectContext } from '../telemetry/tracing.ts';
import type { ResultWriteHandle, WriteOutcome } from '../results/result-backend.ts';
import { type ResultRecord, type TaskState, isLaterAttempt } from '../results/states.ts';
import type { IncomingMessage } from '../transport/transport.ts';
import { attemptRecord } from './attempt-record.ts';
import { copyHeaders, headerEntries } from './copy-headers.ts';
import { type DeadLetterReason, deadLetterHeaders, deadLetterId } from './dead-letter.ts';
import type { Continuation, ExecutorOptions } from './executor-options.ts';
import type { ExecutorStats } from './executor-stats.ts';
import { HandBack } from './hand-back.ts';
import { observe } from '../middleware/observe.ts';
import type { ExecutionSignals, RunOutcomeState, TaskEvent } from '../middleware/types.ts';
import { retryDelayMs } from './retry-policy.ts';
import type { TaskDefinition, TaskOutcome } from './task-definition.ts';
import type { TaskRun, WriteRecord } from './task-run.ts';

/** The executor options a {@link Settler} reads. */
export type SettlerOptions = Pick<
  ExecutorOptions,
  'hostname' | 'backend' | 'logger' | 'queueSettings' | 'deadLetters' | 'ledger' | 'republish' | 'publishDelayed' | 'unknownTaskDelayMs' | 'debug' | 'notifyResult' | 'continuation' | 'middleware' | 'events'
>;

/**
 * What happens to a message once the executor has decided about it: store the terminal
 * result (fenced), send it to `reply_to` and ack; re-publish a retry; fail for good and dead-letter;
 * give up a write lost to another attempt. Tasks to run later (deferred, unknown here, not due yet)
 * go to its {@link HandBack}. It updates the executor's own `stats` object.
 */
export class Settler {
  readonly #o: SettlerOptions;
  readonly #debug: boolean;
  readonly #write: WriteRecord;
  /** Gives messages back for a later delivery: `Defer`, not due yet, unknown here (shares `stats`). */
  readonly handBack: HandBack;

  /**
   * @param stats - the executor's counters, shared (not copied)
   * @param write - how records are written (the executor's `writeResult`, or a direct write)
   */
  constructor(
    options: SettlerOptions,
    readonly stats: ExecutorStats,
    write: WriteRecord,
  ) {
    this.#o = options;
    this.#write = write;
    this.#debug = options.debug ?? false;
    this.handBack = new HandBack(options, stats, (task, msg, writer, error) => this.#failForGood(task, msg, null, writer, error, 'not-registered'));
  }

  /**
   * Decide what the outcome means: success, ignore, deferral, revoked, retry, or failure for good;
   * says which. A success nothing stores, continues or waits for (an `ignoreResult` task) is settled
   * at once, with no promise: the state itself is returned.
   */
  settle(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, run: TaskRun, writer: ResultWriteHandle | null, outcome: TaskOutcome): RunOutcomeState | Promise<RunOutcomeState> {
    if (outcome.ok && !writer && !task.replyTo && !hasContinuation(task.embed)) {
      if (this.#debug) run.log.debug('task succeeded', { ms: Date.now() - run.startedAt });
      msg.ack();
      this.stats.succeeded++;
      this.#signal(task, 'success', { result: outcome.value });
      return 'SUCCESS';
    }
    return this.#settle(task, msg, def, run, writer, outcome);
  }

  async #settle(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, run: TaskRun, writer: ResultWriteHandle | null, outcome: TaskOutcome): Promise<RunOutcomeState> {
    if (outcome.ok) {
      if (this.#debug) run.log.debug('task succeeded', { ms: Date.now() - run.startedAt });
      let record = attemptRecord(this.#o.hostname, task, msg, 'SUCCESS', { result: outcome.value, done: true });
      if (writer || hasContinuation(task.embed)) {
        // A value too large to store inline goes to the blob bucket first: the record and the
        // workflow's next steps carry a reference (ADR 0012).
        try {
          record = await this.#o.backend.externalize(record);
        } catch (err) {
          if (!isResultTooLargeError(err)) throw err;
          run.log.warn('task result too large: failed', { error: err.message });
          await this.#failForGood(task, msg, def, writer, serializeError(err), 'failed');
          return 'FAILURE';
        }
      }
      if ((await this.#terminal(task, msg, writer, record)) === 'written') {
        this.stats.succeeded++;
        this.#signal(task, 'success', { result: outcome.value });
      }
      return 'SUCCESS';
    }
    const error = outcome.error;
    if (error.code === 'E_IGNORE') {
      this.stats.skipped++;
      // Ignore continues nothing: say so where a workflow silently stops (Celery does the same, silently).
      if (hasContinuation(task.embed)) run.log.warn('task ignored inside a workflow: the steps after it do not run, and a group or chord waiting for it does not complete');
      msg.ack();
      return 'IGNORED';
    }
    if (error.code === 'E_DEFER' && !run.revoked) {
      const data = error.data as { delayMs?: unknown; reason?: unknown; headers?: unknown } | undefined;
      const delayMs = typeof data?.delayMs === 'number' && data.delayMs >= 0 ? data.delayMs : 1000;
      const headers = typeof data?.headers === 'object' && data.headers !== null ? (data.headers as Record<string, string>) : undefined;
      await this.handBack.defer(task, msg, delayMs, typeof data?.reason === 'string' ? data.reason : 'deferred', headers);
      return 'DEFERRED';
    }
    if (run.revoked) {
      this.stats.skipped++;
      run.log.info('revoked task stopped', { ms: Date.now() - run.startedAt });
      addSpanEvent(EVENT.revoked, { 'celeriac.terminate': run.terminated });
      await this.#terminal(task, msg, writer, attemptRecord(this.#o.hostname, task, msg, 'REVOKED', { error, meta: { reason: 'revoked', terminate: run.terminated }, done: true }));
      this.#signal(task, 'revoked', { reason: 'revoked' });
      return 'REVOKED';
    }
    if (error.code === 'E_REJECT') {
      run.log.warn('task rejected: dead-lettered', { error: `${error.message}` });
      this.#o.events?.emit('task-rejected', task.id, task.task, { reason: 'rejected', error: error.message });
      await this.#failForGood(task, msg, def, writer, error.cause ?? error, 'rejected');
      return 'FAILURE';
    }
    const wantsRetry = error.code === 'E_RETRY' || outcome.autoretry === true;
    const cause = error.code === 'E_RETRY' ? (error.cause ?? error) : error;
    if (wantsRetry && task.retries < def.retry.maxRetries) {
      const asked = (error.data as { countdownMs?: unknown } | undefined)?.countdownMs;
      const countdownMs = typeof asked === 'number' && asked >= 0 ? asked : retryDelayMs(def.retry, task.retries + 1);
      await this.#retry(task, msg, writer, cause, countdownMs);
      this.#signal(task, 'retry', { error: cause, countdownMs });
      return 'RETRY';
    }
    run.log.warn('task failed', { ms: Date.now() - run.startedAt, error: `${cause.name}: ${cause.message}`, retries: task.retries });
    await this.#failForGood(task, msg, def, writer, cause, wantsRetry ? 'retries-exhausted' : 'failed');
    return 'FAILURE';
  }

  /** Tell the middleware's observers (errors they throw are logged and ignored) and publish the event. */
  #signal<K extends 'success' | 'failure' | 'retry' | 'revoked'>(task: TaskMessage, name: K, extra: Omit<Parameters<NonNullable<ExecutionSignals[K]>>[0], keyof TaskEvent>): void {
    const events = this.#o.events;
    if (events?.enabled) {
      const x = extra as { result?: unknown; error?: SerializedError; countdownMs?: number; reason?: string };
      if (name === 'success') events.emit('task-succeeded', task.id, task.task);
      else if (name === 'failure') events.emit('task-failed', task.id, task.task, { retries: task.retries, error: `${x.error?.name}: ${x.error?.message}` });
      else if (name === 'retry') events.emit('task-retried', task.id, task.task, { retries: task.retries, error: `${x.error?.name}: ${x.error?.message}`, countdownMs: x.countdownMs });
      else events.emit('task-revoked', task.id, task.task, { reason: x.reason });
    }
    const signals = this.#o.middleware?.signals(task.task);
    const fn = signals?.[name] as ((e: unknown) => void) | undefined;
    if (!fn) return;
    observe(fn, () => ({ task: task.task, id: task.id, args: task.args, retries: task.retries, worker: this.#o.hostname, ...extra }), this.#o.logger, name);
  }

  /** Re-publish with `retries + 1` and an eta (a new message: no slot and no delivery is held), then ack. */
  async #retry(task: TaskMessage, msg: IncomingMessage, writer: ResultWriteHandle | null, cause: SerializedError, countdownMs: number): Promise<void> {
    const next = task.retries + 1;
    const eta = Date.now() + countdownMs;
    if (writer) {
      const w = await this.#write(
        writer,
        attemptRecord(this.#o.hostname, task, msg, 'RETRY', { error: cause, meta: { retries: next, countdownMs, nextAttemptAt: new Date(eta).toISOString() } }),
      );
      if (w !== 'written') return this.settleLost(task, msg, w);
    }
    const headers = copyHeaders(msg);
    headers[H.retries] = String(next);
    // An immediate retry carries no eta: a worker whose clock is a few ms behind would otherwise
    // take it for "not yet" and send it round once more.
    if (countdownMs > 0) headers[H.eta] = new Date(eta).toISOString();
    else delete headers[H.eta];
    headers[H.msgId] = `${task.id}:retry:${next}`;
    // The next attempt is a child of this one, linked to the original publish.
    const origin = msg.header(H.traceparent);
    if (origin && headers[LINK_HEADER] === undefined) headers[LINK_HEADER] = origin;
    injectContext(activeContext(), headers);
    addSpanEvent(EVENT.retry, { 'celeriac.retry': next, 'celeriac.countdown_ms': countdownMs, 'exception.message': cause.message });
    const retryTask = { id: task.id, headers, body: msg.body };
    // Due later: it waits in the delayed stream (no queue, no ack-pending slot), not in the queue.
    if (countdownMs > 0 && this.#o.publishDelayed) await this.#o.publishDelayed(msg.queue, retryTask);
    else await this.#o.republish(msg.queue, retryTask);
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
    let record: ResultRecord | undefined;
    let cont: Continuation | null = null;
    if (task) {
      record = attemptRecord(this.#o.hostname, task, msg, 'FAILURE', { error, meta: { deadLetter: def?.deadLetter !== false ? reason : null }, done: true });
      cont = this.#continuation(task, record, msg);
      const w = writer ? await this.#write(writer, record) : 'written';
      if (w === 'superseded') return this.settleLost(task, msg, w); // a later attempt owns the message now
      if (w === 'terminal') return this.alreadyDone(task, msg, def, null);
    }
    if (def?.deadLetter !== false) await this.deadLetter(msg, task, error, reason);
    if (cont) await cont.run();
    if (task) this.#signal(task, 'failure', { error });
    // The caller hears of the failure once its dead letter exists.
    if (task && record) this.#notify(task, record);
    msg.ack();
  }

  /** Its execution killed its worker `maxCrashes` times (or its quarantine thread): fail it for good and dead-letter it. */
  async crashed(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, writer: ResultWriteHandle | null, crashes: number): Promise<void> {
    const err = new WorkerLostError(
      `task ${task.id} (${task.task}) was in flight on a worker that died or lost it ${crashes} times, and killed its worker or quarantine thread when it ran alone; moved to the dead-letter stream instead of running again`,
    );
    this.#o.logger.error('task keeps killing its worker: dead-lettered', { task: task.task, id: task.id, crashes });
    await this.#failForGood(task, msg, def, writer, serializeError(err), 'crashed');
  }

  /** Copy the message to the dead-letter stream, with what is known of why (`task`: null if it never decoded). */
  async deadLetter(msg: IncomingMessage, task: TaskMessage | null, error: SerializedError | null, reason: DeadLetterReason): Promise<void> {
    const id = task?.id ?? msg.header(H.id);
    const headers = deadLetterHeaders(headerEntries(msg), {
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

  /**
   * A write lost to another attempt: `terminal` = done elsewhere (ack), `superseded` = a later
   * attempt holds it (no ack). A terminal result written by a later delivery of this same message
   * makes this attempt stale too: that delivery acks, and an ack from here would be matched to the
   * stream sequence, i.e. to whatever delivery is current (nats-server#4786), so none is sent.
   */
  async settleLost(task: TaskMessage, msg: IncomingMessage, w: WriteOutcome): Promise<void> {
    this.stats.skipped++;
    if (w === 'terminal') {
      const stored = await this.#o.backend.get(task.id);
      const mine = { sequence: msg.delivery.sequence, delivery: msg.delivery.deliveryCount };
      if (stored?.attempt && stored.attempt.sequence === mine.sequence && isLaterAttempt(stored.attempt, mine)) {
        this.#o.logger.warn('stale attempt: a later delivery of this task finished it; its result and ack are dropped', {
          task: task.task,
          id: task.id,
          attempt: `${mine.sequence}.${mine.delivery}`,
        });
        return;
      }
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
  async alreadyDone(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition | null, record: ResultRecord | null): Promise<void> {
    const stored = record ?? (await this.#o.backend.get(task.id));
    const dl = stored?.meta?.deadLetter;
    if (stored && stored.status === 'FAILURE' && typeof dl === 'string' && stored.attempt?.sequence === msg.delivery.sequence && def?.deadLetter !== false) {
      await this.deadLetter(msg, task, stored.error, dl as DeadLetterReason);
    }
    // This message's earlier delivery may have died before its workflow continued: continue it
    // (again; its publishes are deduplicated). A different message with the same id (a duplicate
    // publish) leaves that to the message that wrote the result.
    if (stored && (!stored.attempt || stored.attempt.sequence === msg.delivery.sequence)) await this.#continuation(task, stored, msg)?.run();
    this.stats.skipped++;
    if (stored) this.#notify(task, stored);
    msg.ack();
  }

  /** Revoked or expired before it started. */
  async skip(task: TaskMessage, msg: IncomingMessage, status: TaskState, error: SerializedError, meta: Record<string, unknown>): Promise<void> {
    this.stats.skipped++;
    const writer = task.ignoreResult ? null : this.#o.backend.writer(task.id, { sequence: msg.delivery.sequence, delivery: msg.delivery.deliveryCount });
    await this.#terminal(task, msg, writer, attemptRecord(this.#o.hostname, task, msg, status, { error, meta, done: true }));
    if (status === 'REVOKED') this.#signal(task, 'revoked', { reason: typeof meta.reason === 'string' ? meta.reason : 'revoked' });
  }

  /** Store a terminal record (fenced), send what is stored to `reply_to`, ack. */
  async #terminal(task: TaskMessage, msg: IncomingMessage, writer: ResultWriteHandle | null, record: ResultRecord): Promise<WriteOutcome> {
    const cont = this.#continuation(task, record, msg);
    if (writer) {
      // The workflow continues while the result is written: both are idempotent, and the ack
      // waits for both. If the write loses to another attempt, that attempt continues the same
      // workflow with the same ids (the broker drops the copies), and this one settles as lost
      // whatever became of its continuation.
      const continued = cont?.run();
      continued?.catch(() => undefined);
      const w = await this.#write(writer, record);
      if (w !== 'written') {
        await this.settleLost(task, msg, w);
        return w;
      }
      await continued;
    } else if (cont) await cont.run();
    this.#notify(task, record);
    msg.ack();
    return 'written';
  }

  /** The workflow step after `task` (its ids go into the record's `children`), or null. */
  #continuation(task: TaskMessage, record: ResultRecord, msg: IncomingMessage): Continuation | null {
    if (!this.#o.continuation || !hasContinuation(task.embed)) return null;
    const cont = this.#o.continuation(task, record, msg.queue);
    if (cont && cont.children.length && record.children.length === 0) record.children = cont.children;
    return cont;
  }

  /**
   * Send the result to the client's reply subject: only for a task whose result is final in its
   * workflow (not a chain step with more to come, not a chord header member), which is all a client
   * waits on; the others are in the result store.
   */
  #notify(task: TaskMessage, record: ResultRecord): void {
    if (task.replyTo && task.embed.chain === null && task.embed.chord === null) this.#o.notifyResult?.(task.replyTo, task.id, record);
  }
}
