import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { validateToken } from '../../protocol/names.ts';
import { DEFAULT_DEAD_LETTER_LIST_LIMIT, deadLetterHeaders, resolveLimit } from '../dead-letter-headers.ts';
import type { DeadLetter, DeadLetterListOptions, DeadLetterStore } from '../transport.ts';
import type { LeanPublisher } from './lean-publisher.ts';
import { apiCode, deadLetterStreamName, deadLetterSubject } from './provision.ts';
import { scanStream } from './stream-scan.ts';

/** Options of {@link NatsDeadLetterStore}. */
export interface NatsDeadLetterStoreOptions {
  app: string;
  /** The stream's `max_msgs` (to tell when it is full and drops its oldest entries). */
  maxDeadLetters: number;
  onWarning?: ((msg: string) => void) | undefined;
}

/** `JSStreamMsgDeleteFailedF` / no message found: the sequence is not (or no longer) in the stream. */
const NOT_THERE = new Set([10037, 10057]);
const FULL_WARNING_EVERY_MS = 60_000;

/**
 * {@link DeadLetterStore} over the app's dead-letter stream (`<app>-dlq`, subjects `<app>.dlq.<queue>`,
 * provisioned by the transport). Adds go through the lean publisher with `Nats-Msg-Id: dedupeId`, so
 * a worker and the backstop adding the same letter store it once; reads use a short-lived ephemeral
 * consumer; removals use the stream API.
 */
export class NatsDeadLetterStore implements DeadLetterStore {
  readonly #stream: string;
  readonly #prefix: string;
  #lastFullWarning = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly pub: LeanPublisher,
    private readonly o: NatsDeadLetterStoreOptions,
  ) {
    this.#stream = deadLetterStreamName(o.app);
    this.#prefix = deadLetterSubject(o.app, '');
  }

  /**
   * @throws InvalidArgumentError for a bad queue name, `dedupeId` or header name.
   * @throws PublishError, TimeoutError when the broker did not store it.
   */
  async add(queue: string, dedupeId: string, headers: Record<string, string>, body: Uint8Array): Promise<void> {
    validateToken(queue, 'queue');
    const ack = await this.pub.publish(deadLetterSubject(this.o.app, queue), body, deadLetterHeaders(headers, dedupeId));
    // The stream can only be full once its sequence reached the limit: look only then, and warn rarely.
    if (!ack.duplicate && ack.seq >= this.o.maxDeadLetters && this.o.onWarning && Date.now() - this.#lastFullWarning > FULL_WARNING_EVERY_MS) {
      const info = await this.jsm.streams.info(this.#stream).catch(() => undefined);
      if (info && info.state.messages >= this.o.maxDeadLetters) {
        this.#lastFullWarning = Date.now();
        this.o.onWarning(`dead-letter stream ${this.#stream} is full (${info.state.messages} entries): the oldest entries are being dropped`);
      }
    }
  }

  /** @throws InvalidArgumentError when `limit` is not a positive integer or `queue` not a queue name. */
  async list(options: DeadLetterListOptions = {}): Promise<DeadLetter[]> {
    const limit = resolveLimit(options.limit, DEFAULT_DEAD_LETTER_LIST_LIMIT, 'list() limit');
    const msgs = await scanStream(this.js, this.jsm, this.#stream, { filter: this.#filter(options.queue), deliver: 'all', limit });
    return msgs.map((m) => ({
      seq: m.seq,
      queue: m.subject.slice(this.#prefix.length),
      taskId: m.headers['id'] ?? '',
      headers: m.headers,
      body: m.data,
      time: new Date(m.timeMs),
    }));
  }

  async count(queue?: string): Promise<number> {
    if (queue === undefined) return (await this.jsm.streams.info(this.#stream)).state.messages;
    const subject = deadLetterSubject(this.o.app, validateToken(queue, 'queue'));
    const info = await this.jsm.streams.info(this.#stream, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  async remove(seq: number): Promise<boolean> {
    if (!Number.isSafeInteger(seq) || seq <= 0) return false;
    try {
      return await this.jsm.streams.deleteMessage(this.#stream, seq, false);
    } catch (err) {
      const code = apiCode(err);
      if ((code !== undefined && NOT_THERE.has(code)) || /not found|no message/i.test((err as Error).message)) return false;
      throw err;
    }
  }

  async purge(queue?: string): Promise<number> {
    const r = await this.jsm.streams.purge(this.#stream, queue === undefined ? undefined : { filter: this.#filter(queue) });
    return r.purged;
  }

  #filter(queue: string | undefined): string {
    return queue === undefined ? `${this.#prefix}>` : deadLetterSubject(this.o.app, validateToken(queue, 'queue'));
  }
}
