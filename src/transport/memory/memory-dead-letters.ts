import { validateToken } from '../../protocol/names.ts';
import {
  DEAD_LETTER_DEDUPE_WINDOW_MS,
  DEFAULT_DEAD_LETTER_LIST_LIMIT,
  deadLetterHeaders,
  resolveLimit,
} from '../dead-letter-headers.ts';
import type { DeadLetter, DeadLetterListOptions, DeadLetterStore } from '../transport.ts';
import type { MemoryDeadLetters } from './memory-broker.ts';

const FULL_WARNING_EVERY_MS = 60_000;

/**
 * In-process {@link DeadLetterStore} with the semantics of the NATS dead-letter stream: entries in
 * sequence order, an add deduplicated by `dedupeId` for two minutes, at most `maxDeadLetters`
 * entries (the oldest are dropped, like `discard: old`).
 */
export class MemoryDeadLetterStore implements DeadLetterStore {
  #lastFullWarning = 0;
  constructor(
    private readonly d: MemoryDeadLetters,
    private readonly maxDeadLetters: number,
    private readonly onWarning?: (msg: string) => void,
  ) {}

  /** @throws InvalidArgumentError for a bad queue name, `dedupeId` or header name. */
  async add(queue: string, dedupeId: string, headers: Record<string, string>, body: Uint8Array): Promise<void> {
    validateToken(queue, 'queue');
    const stored = deadLetterHeaders(headers, dedupeId);
    const now = Date.now();
    const seen = this.d.ids.get(dedupeId);
    if (seen !== undefined && now - seen < DEAD_LETTER_DEDUPE_WINDOW_MS) return;
    if (this.d.ids.size > 10_000) {
      for (const [id, t] of this.d.ids) if (now - t >= DEAD_LETTER_DEDUPE_WINDOW_MS) this.d.ids.delete(id);
    }
    this.d.ids.set(dedupeId, now);
    const seq = this.d.nextSeq++;
    this.d.entries.set(seq, { seq, queue, taskId: stored['id'] ?? '', headers: stored, body, time: new Date(now) });
    let dropped = 0;
    for (const oldest of this.d.entries.keys()) {
      if (this.d.entries.size <= this.maxDeadLetters) break;
      this.d.entries.delete(oldest);
      dropped++;
    }
    if (dropped > 0 && this.onWarning && now - this.#lastFullWarning > FULL_WARNING_EVERY_MS) {
      this.#lastFullWarning = now;
      this.onWarning(`dead-letter stream is full (${this.maxDeadLetters} entries): the oldest entries are being dropped`);
    }
  }

  /** @throws InvalidArgumentError when `limit` is not a positive integer or `queue` not a queue name. */
  async list(options: DeadLetterListOptions = {}): Promise<DeadLetter[]> {
    const limit = resolveLimit(options.limit, DEFAULT_DEAD_LETTER_LIST_LIMIT, 'list() limit');
    const queue = options.queue === undefined ? undefined : validateToken(options.queue, 'queue');
    const out: DeadLetter[] = [];
    for (const e of this.d.entries.values()) {
      if (queue !== undefined && e.queue !== queue) continue;
      out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }

  async count(queue?: string): Promise<number> {
    if (queue === undefined) return this.d.entries.size;
    let n = 0;
    for (const e of this.d.entries.values()) if (e.queue === queue) n++;
    return n;
  }

  async remove(seq: number): Promise<boolean> {
    return this.d.entries.delete(seq);
  }

  async purge(queue?: string): Promise<number> {
    let n = 0;
    for (const [seq, e] of this.d.entries) {
      if (queue !== undefined && e.queue !== queue) continue;
      this.d.entries.delete(seq);
      n++;
    }
    return n;
  }
}
