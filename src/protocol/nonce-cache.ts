/**
 * The bounded nonce cache a worker uses to refuse a signed message it has seen before (ADR 0010).
 * @module
 */

interface Entry {
  /** Broker time after which a copy of this message is refused as expired anyway. */
  readonly until: number;
  readonly lane: string;
}

/** Entries examined for expiry per insert (amortised O(1)). */
const SWEEP = 8;

/**
 * Nonces of accepted messages, each kept until no copy of its message could still be accepted:
 * a copy stored after `until` (issued-at + max age + skew) is refused as expired, so an entry can go
 * once the lane (a queue: the broker delivers its first deliveries in storage order) has delivered
 * a message stored after `until`. Control requests (delivered at once) use wall-clock time as their
 * lane's mark. When full, the oldest entry is dropped (counted in {@link evictedLive}).
 */
export class NonceCache {
  readonly #entries = new Map<string, Entry>();
  readonly #marks = new Map<string, number>();
  /** Live entries dropped because the cache was full. */
  evictedLive = 0;

  /** @param capacity - most nonces held */
  constructor(readonly capacity: number) {}

  /** Number of nonces held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Remember `nonce`; false when it was seen already (a replay).
   * @param until - broker time after which copies are refused as expired
   * @param lane - queue name (or `''` for control requests)
   * @param observedAt - broker time of this delivery (raises the lane's mark)
   */
  add(nonce: string, until: number, lane: string, observedAt: number): boolean {
    if ((this.#marks.get(lane) ?? 0) < observedAt) this.#marks.set(lane, observedAt);
    if (this.#entries.has(nonce)) return false;
    let n = 0;
    for (const [k, e] of this.#entries) {
      if (n++ >= SWEEP || e.until >= (this.#marks.get(e.lane) ?? 0)) break;
      this.#entries.delete(k);
    }
    if (this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) {
        this.#entries.delete(oldest);
        this.evictedLive++;
      }
    }
    this.#entries.set(nonce, { until, lane });
    return true;
  }
}
