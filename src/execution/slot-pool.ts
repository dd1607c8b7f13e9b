import { InvalidArgumentError } from '../errors.ts';

/**
 * Counting semaphore for task slots. The intake reserves slots *before* it asks the broker for
 * messages, so a worker never holds more messages than it has free slots.
 */
export class SlotPool {
  readonly capacity: number;
  #free: number;
  #waiters: Array<() => void> = [];

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new InvalidArgumentError(`concurrency must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.#free = capacity;
  }

  /** Free slots now. */
  get free(): number {
    return this.#free;
  }

  /** Slots in use (reserved or running). */
  get used(): number {
    return this.capacity - this.#free;
  }

  /**
   * Wait until at least `min` slots (default 1, capped at the capacity) are free, then take up to
   * `max` of them. Resolves with 0 if `signal` aborts first.
   */
  async acquire(max: number, signal?: AbortSignal, min = 1): Promise<number> {
    const need = Math.max(1, Math.min(min, this.capacity, max));
    while (this.#free < need) {
      if (signal?.aborted) return 0;
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        this.#waiters.push(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    if (signal?.aborted) return 0;
    const n = Math.min(max, this.#free);
    this.#free -= n;
    return n;
  }

  /** Give `n` slots back. */
  release(n = 1): void {
    if (n <= 0) return;
    this.#free = Math.min(this.capacity, this.#free + n);
    const w = this.#waiters.splice(0);
    for (const f of w) f();
  }

  /** Resolve once every slot is free (or after `timeoutMs`); resolves true when idle. */
  async idle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#free < this.capacity) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }
}
