/**
 * The intake of a delivered message before it is a task: size-checked, authenticated and decoded;
 * or refused (too large, undecodable, or unauthenticated) and dead-lettered on its first delivery,
 * never retried.
 * @module
 */
import { DecodeError, serializeError } from '../errors.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type TaskMessage, checkMessageSize, decodeTask } from '../protocol/envelope.ts';
import { H } from '../protocol/headers.ts';
import { isValidTaskName } from '../protocol/names.ts';
import { ENCRYPTION_OVERHEAD_BYTES } from '../protocol/signing.ts';
import { newRecord } from '../results/states.ts';
import type { IncomingMessage } from '../transport/transport.ts';
import type { ExecutorOptions } from './executor-options.ts';
import type { ExecutorStats } from './executor-stats.ts';
import type { Settler } from './settler.ts';
import type { WriteRecord } from './task-run.ts';

/** The executor options a {@link MessageIntake} reads. */
export type MessageIntakeOptions = Pick<ExecutorOptions, 'hostname' | 'backend' | 'logger' | 'events' | 'authenticate' | 'maxPayloadBytes'>;

/** Turns a delivered message into a task, or refuses it. It updates the executor's own `stats` object. */
export class MessageIntake {
  readonly #o: MessageIntakeOptions;
  readonly #write: WriteRecord;
  readonly #settler: Pick<Settler, 'deadLetter'>;

  /**
   * @param stats - the executor's counters, shared (not copied)
   * @param write - how records are written (the executor's `writeResult`, or a direct write)
   * @param settler - what copies a refused message to the dead-letter stream
   */
  constructor(
    options: MessageIntakeOptions,
    readonly stats: ExecutorStats,
    write: WriteRecord,
    settler: Pick<Settler, 'deadLetter'>,
  ) {
    this.#o = options;
    this.#write = write;
    this.#settler = settler;
  }

  /**
   * Size-check, authenticate and decode a message: the task, or the promise of settling a message
   * that is refused (dead-lettered as undecodable or unauthenticated).
   */
  decode(msg: IncomingMessage): TaskMessage | Promise<void> {
    let body = msg.body;
    const maxBodyBytes = this.#o.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    // Untrusted bytes are size-checked before anything reads them: the signature check and the
    // decryption included (an encrypted body is AES-GCM's IV and tag longer than what was encoded).
    // Without a check of the sender, decodeTask's own size check comes first.
    if (this.#o.authenticate) {
      try {
        checkMessageSize((n) => msg.header(n), msg.headerNames(), body, { maxBodyBytes: maxBodyBytes + ENCRYPTION_OVERHEAD_BYTES });
      } catch (err) {
        return this.#undecodable(msg, err);
      }
      const a = this.#o.authenticate(msg);
      if (!a.ok) return this.#unauthenticated(msg, a.reason, a.message);
      body = a.body;
    }
    try {
      return decodeTask((n) => msg.header(n), msg.headerNames(), body, { maxBodyBytes });
    } catch (err) {
      return this.#undecodable(msg, err);
    }
  }

  /**
   * A message refused by the signature checks (ADR 0010): dead-lettered on its first delivery with
   * its original bytes, never retried, and no result is written (its id is unauthenticated: a
   * forger must not overwrite someone's result).
   */
  async #unauthenticated(msg: IncomingMessage, reason: string, message: string): Promise<void> {
    const id = msg.header(H.id);
    this.#o.logger.error('message refused by the signature checks: dead-lettered', {
      reason,
      id,
      task: msg.header(H.task),
      key: msg.header(H.keyId),
      queue: msg.queue,
      seq: msg.delivery.sequence,
      error: message,
    });
    this.stats.unauthenticated = (this.stats.unauthenticated ?? 0) + 1;
    await this.#settler.deadLetter(msg, null, { name: 'UnauthenticatedMessage', code: 'E_UNAUTHENTICATED', message: `${reason}: ${message}` }, 'unauthenticated');
    msg.ack();
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
    this.#o.events?.emit('task-rejected', id ?? null, name ?? null, { reason: 'undecodable', error: e.message });
    const error = serializeError(e);
    if (id && isValidTaskName(id)) {
      const record = newRecord({
        status: 'FAILURE',
        taskId: id,
        name: name ?? null,
        error,
        traceback: null,
        meta: { deadLetter: 'undecodable' },
        worker: this.#o.hostname,
        attempts: msg.delivery.deliveryCount,
      });
      try {
        await this.#write(this.#o.backend.writer(id, { sequence: msg.delivery.sequence, delivery: msg.delivery.deliveryCount }), record);
      } catch (werr) {
        this.#o.logger.warn('could not record the decode failure', { id, error: werr });
      }
    }
    await this.#settler.deadLetter(msg, null, error, 'undecodable');
    msg.ack();
  }
}
