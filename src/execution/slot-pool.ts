import { InvalidArgumentError } from '../errors.ts';

interface Waiter {
  /** Free slots the waiter needs: read again at every wake-up (it may change while it waits). */
  need: () => number;
  wake(): void;
}

/**
 * Counting semaphore for task slots. The intake reserves slots *before* it asks the broker for
 * messages, so a worker never holds more messages than it has free slots.
 */
export class SlotPool {
  #capacity: number;
  #free: number;
  #waiters: Waiter[] = [];

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new InvalidArgumentError(`concurrency must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
    this.#free = capacity;
  }

  /** Slots in all (changed by {@link resize}). */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * Change the number of slots (`celeriac control pool-grow|pool-shrink`, autoscale). Growing frees
   * the new slots at once; shrinking takes effect as running tasks finish (nothing is interrupted:
   * `free` may go below zero until enough slots come back).
   * @throws InvalidArgumentError unless `capacity` is an integer 1-100000.
   */
  resize(capacity: number): void {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 100_000) {
      throw new InvalidArgumentError(`slot capacity must be an integer 1-100000, got ${String(capacity)}`);
    }
    const delta = capacity - this.#capacity;
    this.#capacity = capacity;
    this.#free += delta;
    if (delta > 0) this.#wake();
  }

  /** Free slots now. */
  get free(): number {
    return Math.max(0, this.#free);
  }

  /** Slots in use (reserved or running). */
  get used(): number {
    return this.#capacity - this.#free;
  }

  /**
   * Wait until at least `min` slots (default 1, capped at the capacity and at `max`) are free, then
   * take up to `max` of them. `min` may be a function: it is read again whenever slots come free or
   * {@link recheck} is called, so a caller's threshold can drop while it waits. Resolves with 0 if
   * `signal` aborts first.
   */
  async acquire(max: number, signal?: AbortSignal, min: number | (() => number) = 1): Promise<number> {
    // The threshold is recomputed each round: the capacity (and a function `min`) may change while waiting.
    const need = () => Math.max(1, Math.min(typeof min === 'function' ? min() : min, this.#capacity, max));
    while (this.#free < need()) {
      if (signal?.aborted) return 0;
      await this.#wait(need, signal);
    }
    if (signal?.aborted) return 0;
    const n = Math.min(max, this.#free);
    this.#free -= n;
    return n;
  }

  /** Take up to `max` free slots now, without waiting (0 when none are free). */
  take(max: number): number {
    const n = Math.max(0, Math.min(max, this.#free));
    this.#free -= n;
    return n;
  }

  /** Wake the waiters whose threshold is met now: call it when a function `min` given to {@link acquire} may have dropped. */
  recheck(): void {
    this.#wake();
  }

  #wait(need: () => number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve();
      };
      const waiter: Waiter = {
        need,
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.#waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Give `n` slots back. Wakes only waiters whose threshold is now met (no wake-up per slot). */
  release(n = 1): void {
    if (n <= 0) return;
    this.#free = Math.min(this.#capacity, this.#free + n);
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    // A waiter's threshold is capped at the capacity now (it may have shrunk since it began waiting).
    // Called on every release: nothing is allocated unless a waiter is ready.
    let ready: Waiter[] | undefined;
    for (const w of waiters) if (Math.min(w.need(), this.#capacity) <= this.#free) (ready ??= []).push(w);
    if (ready === undefined) return;
    const woken = ready;
    this.#waiters = waiters.filter((w) => !woken.includes(w));
    for (const w of woken) w.wake();
  }

  /** Resolve once every slot is free (or after `timeoutMs`); resolves true when idle. */
  async idle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#free < this.#capacity) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await Promise.race([this.#wait(() => this.#capacity), new Promise((r) => setTimeout(r, Math.min(left, 100)))]);
    }
    return true;
  }
}
