/**
 * Messages given back to the broker to run later, counting no retry: a task that asked to wait
 * (`Defer`), one that is not due yet, one that nobody here knows. Each goes back as a nak with a
 * delay, or as a fresh copy in the delayed stream or the queue (on a message's last delivery, or
 * when the copy carries new headers).
 * @module
 */
import { NotRegisteredError, type SerializedError, serializeError } from '../errors.ts';
import type { TaskMessage } from '../protocol/envelope.ts';
import { H, RESERVED_HEADERS } from '../protocol/headers.ts';
import type { ResultWriteHandle } from '../results/result-backend.ts';
import { EVENT } from '../telemetry/attributes.ts';
import { addSpanEvent } from '../telemetry/tracing.ts';
import type { IncomingMessage } from '../transport/transport.ts';
import { copyHeaders } from './copy-headers.ts';
import type { ExecutorOptions } from './executor-options.ts';
import type { ExecutorStats } from './executor-stats.ts';

/** The executor options a {@link HandBack} reads. */
export type HandBackOptions = Pick<ExecutorOptions, 'backend' | 'logger' | 'queueSettings' | 'ledger' | 'republish' | 'publishDelayed' | 'unknownTaskDelayMs' | 'debug'>;

/** How a task that no worker knew through its last delivery fails for good (FAILURE stored, dead-lettered, acked). */
export type FailNotRegistered = (task: TaskMessage, msg: IncomingMessage, writer: ResultWriteHandle | null, error: SerializedError) => Promise<void>;

const MAX_UNKNOWN_DELAY_MS = 300_000;

/**
 * Gives messages back to the broker for a later delivery (the ledger records each nak as a return,
 * so a redelivery is not taken for a crash). It updates the executor's own `stats` object.
 */
export class HandBack {
  readonly #o: HandBackOptions;
  readonly #debug: boolean;
  readonly #unknownDelay: number;
  readonly #failNotRegistered: FailNotRegistered;

  /**
   * @param stats - the executor's counters, shared (not copied)
   * @param failNotRegistered - what ends an unknown task on its last delivery (the settler's)
   */
  constructor(
    options: HandBackOptions,
    readonly stats: ExecutorStats,
    failNotRegistered: FailNotRegistered,
  ) {
    this.#o = options;
    this.#unknownDelay = options.unknownTaskDelayMs ?? 5_000;
    this.#debug = options.debug ?? false;
    this.#failNotRegistered = failNotRegistered;
  }

  /**
   * Run it later (`Defer`: a rate limit, an open circuit breaker), counting no retry: from a second
   * on, a copy with the new `eta` waits in the delayed stream; a shorter wait is a nak with that
   * delay (on the message's last delivery, a fresh copy instead).
   */
  async defer(task: TaskMessage, msg: IncomingMessage, delayMs: number, reason: string, extraHeaders?: Record<string, string>): Promise<void> {
    this.stats.returned++;
    const d = msg.delivery.deliveryCount;
    const eta = Date.now() + delayMs;
    const copy = () => {
      const headers = copyHeaders(msg);
      for (const [k, v] of Object.entries(extraHeaders ?? {})) {
        // Only user headers: a middleware cannot rewrite protocol headers this way.
        if (!RESERVED_HEADERS.has(k.toLowerCase()) && !/^nats-/i.test(k) && /^[A-Za-z0-9_.-]{1,64}$/.test(k) && !/[\r\n]/.test(v)) headers[k] = v;
      }
      headers[H.eta] = new Date(eta).toISOString();
      headers[H.msgId] = `${task.id}:defer:${msg.delivery.sequence}:${d}`;
      return { id: task.id, headers, body: msg.body };
    };
    if (this.#debug) this.#o.logger.debug('task deferred', { task: task.task, id: task.id, delayMs, reason });
    addSpanEvent(EVENT.deferred, { 'celeriac.delay_ms': delayMs, 'celeriac.reason': reason });
    if ((delayMs >= 1000 || extraHeaders) && this.#o.publishDelayed) {
      await this.#o.publishDelayed(msg.queue, copy());
      msg.ack();
      return;
    }
    if (extraHeaders || d >= this.#o.queueSettings(msg.queue).maxDeliver) {
      await this.#o.republish(msg.queue, copy());
      msg.ack();
      return;
    }
    await this.#o.ledger.recordReturn(task.id, msg.delivery.sequence, d);
    msg.nak(delayMs);
  }

  /** Nobody here knows the task: hand it back with a growing delay; on the last delivery, dead-letter it. */
  async unknown(task: TaskMessage, msg: IncomingMessage): Promise<void> {
    const d = msg.delivery.deliveryCount;
    if (d >= this.#o.queueSettings(msg.queue).maxDeliver) {
      const err = serializeError(new NotRegisteredError(task.task));
      this.#o.logger.error('unknown task: no worker knew it through its last delivery; dead-lettered', { task: task.task, id: task.id, deliveries: d });
      const writer = task.ignoreResult ? null : this.#o.backend.writer(task.id, { sequence: msg.delivery.sequence, delivery: d });
      await this.#failNotRegistered(task, msg, writer, err);
      return;
    }
    const delay = Math.min(this.#unknownDelay * 2 ** (d - 1), MAX_UNKNOWN_DELAY_MS);
    await this.#o.ledger.recordReturn(task.id, msg.delivery.sequence, d);
    msg.nak(delay);
    this.stats.returned++;
    this.#o.logger.warn('unknown task: returned to the queue for a worker that knows it', { task: task.task, id: task.id, retryInMs: delay });
  }

  /**
   * Not due yet (a message published to the queue with a future eta, or a clock a little ahead):
   * moved to the delayed stream, where the scheduler holds it until it is due. A wait under a second
   * (clock skew) is a nak with that delay instead; so is any wait without a delayed stream. On the
   * message's last delivery it is re-published as a fresh message rather than nak-ed.
   */
  async notYet(task: TaskMessage, msg: IncomingMessage, waitMs: number): Promise<void> {
    const d = msg.delivery.deliveryCount;
    this.stats.returned++;
    if (waitMs >= 1000 && this.#o.publishDelayed) {
      const headers = copyHeaders(msg);
      headers[H.msgId] = `${task.id}:eta:${msg.delivery.sequence}`;
      await this.#o.publishDelayed(msg.queue, { id: task.id, headers, body: msg.body });
      msg.ack();
      return;
    }
    if (d >= this.#o.queueSettings(msg.queue).maxDeliver) {
      // A nak now would exhaust the message: hand it over to a fresh copy instead.
      const headers = copyHeaders(msg);
      headers[H.msgId] = `${task.id}:eta:${msg.delivery.sequence}`;
      await this.#o.republish(msg.queue, { id: task.id, headers, body: msg.body });
      msg.ack();
      return;
    }
    await this.#o.ledger.recordReturn(task.id, msg.delivery.sequence, d);
    msg.nak(waitMs);
  }
}
