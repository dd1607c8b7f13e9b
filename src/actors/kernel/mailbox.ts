/**
 * A bounded FIFO mailbox with explicit backpressure: the queue every actor reads from.
 * @module
 */
import { ClosedError, InvalidArgumentError, MailboxFullError } from '../../errors.ts';

/** A parked caller of {@link Mailbox.send} or {@link Mailbox.whenReadable}. */
interface Waiter<T> {
  readonly value: T;
  settled: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

/** Unbounded FIFO with a head index: O(1) amortised push/shift, compacted as it drains. */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/**
 * A bounded first-in-first-out queue of messages for one consumer (an actor), with three ways to post:
 * {@link Mailbox.tryPost} (drop: `false` when full), {@link Mailbox.post} (throw when full) and
 * {@link Mailbox.send} (wait for room: backpressure). Every operation is O(1): messages live in a
 * fixed-size ring buffer.
 *
 * `undefined` is not a valid message: {@link Mailbox.take} uses it to say "closed and empty".
 *
 * @example
 * ```ts
 * const box = new Mailbox<string>(2, 'printer');
 * box.post('a');
 * await box.send('b');          // resolves at once: there is room
 * const pending = box.send('c'); // waits: the box is full
 * await box.take();              // 'a'; frees room, so `pending` resolves
 * ```
 */
export class Mailbox<M> {
  /** Maximum number of queued messages. */
  readonly capacity: number;
  /** Name used in error messages (the owning actor). */
  readonly owner: string;
  readonly #ring: (M | undefined)[];
  #head = 0;
  #size = 0;
  #closed = false;
  readonly #senders = new Fifo<Waiter<M>>();
  readonly #readers = new Fifo<Waiter<undefined>>();

  /**
   * @param capacity - maximum number of queued messages; a positive integer.
   * @param owner - name shown in errors, usually the actor's name.
   * @defaultValue owner `'mailbox'`
   * @throws InvalidArgumentError when `capacity` is not a positive integer.
   */
  constructor(capacity: number, owner = 'mailbox') {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new InvalidArgumentError(`capacity must be a positive integer, got ${String(capacity)}`);
    }
    this.capacity = capacity;
    this.owner = owner;
    this.#ring = new Array<M | undefined>(capacity);
  }

  /** Number of queued messages (not counting senders still waiting for room). */
  get size(): number {
    return this.#size;
  }

  /** True once {@link Mailbox.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queue `msg` if there is room.
   * @returns `true` when queued; `false` when the mailbox is full or closed (the message is dropped).
   */
  tryPost(msg: M): boolean {
    if (this.#closed || this.#size >= this.capacity) return false;
    this.#push(msg);
    return true;
  }

  /**
   * Queue `msg` or throw.
   * @throws MailboxFullError (`E_MAILBOX_FULL`) when the mailbox is full.
   * @throws ClosedError when the mailbox is closed.
   */
  post(msg: M): void {
    if (this.#closed) throw this.#closedError();
    if (!this.tryPost(msg)) throw new MailboxFullError(this.owner, this.capacity);
  }

  /**
   * Queue `msg`, waiting for room when the mailbox is full (backpressure). Waiting senders are
   * admitted in the order they called `send`.
   * @param signal - aborting it while waiting withdraws the message and rejects with the signal's reason.
   * @returns a promise that resolves once the message is queued.
   * @throws ClosedError (rejection) when the mailbox is closed, before or while waiting.
   */
  send(msg: M, signal?: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.tryPost(msg)) return Promise.resolve();
    return this.#park(this.#senders, msg, signal);
  }

  /**
   * Remove and return the oldest message without waiting.
   * @returns the message, or `undefined` when the mailbox is empty.
   */
  tryTake(): M | undefined {
    if (this.#size === 0) return undefined;
    const msg = this.#ring[this.#head];
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#size--;
    this.#admitSender();
    return msg;
  }

  /**
   * Remove and return the oldest message, waiting for one if the mailbox is empty.
   * Messages queued before {@link Mailbox.close} are still returned after it.
   * @param signal - aborting it while waiting rejects with the signal's reason.
   * @returns the message, or `undefined` once the mailbox is closed and empty.
   */
  async take(signal?: AbortSignal): Promise<M | undefined> {
    for (;;) {
      const msg = this.tryTake();
      if (msg !== undefined || this.#closed) return msg;
      await this.whenReadable(signal);
    }
  }

  /**
   * Wait until a message is queued or the mailbox is closed, without removing anything. A consumer
   * that must decide synchronously whether to take a message (an actor that may have just stopped)
   * pairs this with {@link Mailbox.tryTake}.
   * @param signal - aborting it while waiting rejects with the signal's reason.
   */
  whenReadable(signal?: AbortSignal): Promise<void> {
    if (this.#size > 0 || this.#closed) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return this.#park(this.#readers, undefined, signal);
  }

  /**
   * Remove and return everything queued, including the messages of senders still waiting for room
   * (their `send` resolves: the message was accepted). Afterwards {@link Mailbox.size} is 0.
   */
  drain(): M[] {
    const out: M[] = [];
    for (let msg = this.tryTake(); msg !== undefined; msg = this.tryTake()) out.push(msg);
    return out;
  }

  /**
   * Refuse new messages. Waiting senders reject with {@link ClosedError}; waiting readers wake (and
   * `take` returns `undefined` once the queue is empty). Queued messages stay takeable. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = this.#closedError();
    for (let w = this.#senders.shift(); w; w = this.#senders.shift()) settle(w, err);
    this.#wakeReaders();
  }

  #push(msg: M): void {
    this.#ring[(this.#head + this.#size) % this.capacity] = msg;
    this.#size++;
    this.#wakeReaders();
  }

  #admitSender(): void {
    for (let w = this.#senders.shift(); w; w = this.#senders.shift()) {
      if (w.settled) continue;
      this.#push(w.value);
      settle(w);
      return;
    }
  }

  #wakeReaders(): void {
    for (let w = this.#readers.shift(); w; w = this.#readers.shift()) settle(w);
  }

  #park<T>(queue: Fifo<Waiter<T>>, value: T, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => settle(waiter, signal?.reason);
      const waiter: Waiter<T> = {
        value,
        settled: false,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  #closedError(): ClosedError {
    return new ClosedError(`mailbox of actor "${this.owner}" is closed`);
  }
}

/** Settle a waiter once: resolve it, or reject it when `err` is given. Settled waiters are skipped later. */
function settle<T>(w: Waiter<T>, ...err: [] | [unknown]): void {
  if (w.settled) return;
  w.settled = true;
  if (err.length === 0) w.resolve();
  else w.reject(err[0]);
}
