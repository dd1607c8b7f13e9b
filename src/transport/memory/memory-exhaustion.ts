import type { ExhaustedMessage } from '../transport.ts';
import type { MemoryQueue, StoredMessage } from './memory-broker.ts';

type Handler = (m: ExhaustedMessage) => Promise<void>;

interface Registration {
  handler: Handler;
  onWarning: ((msg: string) => void) | undefined;
}

interface Parked {
  queue: string;
  q: MemoryQueue;
  m: StoredMessage;
}

/**
 * The memory form of JetStream's max-deliveries behaviour for one namespace (app): a message that
 * reached its queue's `maxDeliver` stays in its queue (counted in its depth, never delivered again)
 * and is handed to one registered handler, round robin, as the MAX_DELIVERIES advisory is to one
 * member of the NATS queue group. With no handler registered it waits for the first one. A handler
 * that throws leaves it where it is; `remove()` drops it.
 */
export class MemoryExhaustion {
  readonly #handlers: Registration[] = [];
  readonly #waiting: Parked[] = [];
  #next = 0;

  /** Park `m` (it reached max deliveries in `q`) and hand it to a handler if there is one. */
  park(queue: string, q: MemoryQueue, m: StoredMessage): void {
    q.exhausted.add(m);
    const p: Parked = { queue, q, m };
    const reg = this.#pick();
    if (reg) this.#hand(p, reg);
    else this.#waiting.push(p);
  }

  /** Add a handler; messages parked without one are handed to it. Returns the unregister function. */
  register(handler: Handler, onWarning?: (msg: string) => void): () => void {
    const reg: Registration = { handler, onWarning };
    this.#handlers.push(reg);
    for (const p of this.#waiting.splice(0)) this.#hand(p, reg);
    return () => {
      const i = this.#handlers.indexOf(reg);
      if (i >= 0) this.#handlers.splice(i, 1);
    };
  }

  #pick(): Registration | undefined {
    if (this.#handlers.length === 0) return undefined;
    return this.#handlers[this.#next++ % this.#handlers.length];
  }

  #hand(p: Parked, reg: Registration): void {
    const { q, m } = p;
    const msg: ExhaustedMessage = {
      queue: p.queue,
      sequence: m.seq,
      deliveries: m.deliveries,
      headers: { ...m.headers },
      body: m.body,
      remove: async () => {
        q.exhausted.delete(m);
      },
    };
    queueMicrotask(() => {
      reg.handler(msg).catch((err: unknown) => {
        reg.onWarning?.(`max-deliveries handler failed for message ${m.seq} of ${p.queue}: ${(err as Error)?.message ?? String(err)}`);
      });
    });
  }
}
