import type { KeyValueStore, KvEntry } from '../transport/transport.ts';

/** A revocation as stored (bucket `<app>-revoked`, key = task id, value JSON). */
export interface Revocation {
  /** Also terminate a running execution (CPU thread terminated, I/O task abandoned). */
  terminate: boolean;
  /** ISO 8601 time of the revoke. */
  at: string;
}

/** Upper bound of the in-memory revoked set (oldest forgotten first). */
export const MAX_REVOKED_IN_MEMORY = 100_000;

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The revoked task ids, shared by every worker through a KV bucket whose max age is the app's
 * `revokeExpires`. Clients add to it; each worker keeps the set in memory (loaded at start, kept
 * current by watching the bucket, re-loaded after a reconnect) so checking a task costs a `Map` lookup.
 */
export class Revocations {
  readonly #kv: KeyValueStore;
  readonly #set = new Map<string, Revocation>();
  #unwatch: (() => void) | undefined;
  readonly #listeners = new Set<(id: string, r: Revocation) => void>();

  constructor(kv: KeyValueStore) {
    this.#kv = kv;
  }

  /** Revoke task ids (publishers and CLI). Resolves once stored. */
  async revoke(ids: readonly string[], options: { terminate?: boolean } = {}): Promise<void> {
    const value: Revocation = { terminate: options.terminate === true, at: new Date().toISOString() };
    const bytes = enc.encode(JSON.stringify(value));
    await Promise.all(ids.map((id) => this.#kv.put(id, bytes)));
  }

  /** The revocation of `id`, if this worker knows of one. */
  get(id: string): Revocation | undefined {
    return this.#set.get(id);
  }

  /** True when `id` is revoked. */
  has(id: string): boolean {
    return this.#set.has(id);
  }

  /** True when the bucket holds a revocation of `id` (read from the store, not from memory: no watch needed). */
  async isStored(id: string): Promise<boolean> {
    return (await this.#kv.get(id))?.operation === 'PUT';
  }

  /** Number of revocations held in memory. */
  get size(): number {
    return this.#set.size;
  }

  /**
   * Load the set and follow changes; `onRevoke` is called for each new revocation. Several workers
   * of one app in one process share this instance: each gets its own subscription. Resolves with a
   * function that ends it (the bucket is no longer followed once nobody listens).
   */
  async start(onRevoke?: (id: string, r: Revocation) => void): Promise<() => void> {
    const listener = onRevoke ?? (() => undefined);
    this.#listeners.add(listener);
    this.#unwatch ??= this.#kv.watchAll((e) => this.#apply(e, true));
    await this.reload();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.close();
    };
  }

  /** Re-read the whole bucket (after a reconnect: writes made meanwhile were not seen). */
  async reload(): Promise<void> {
    const entries = await this.#kv.entries(MAX_REVOKED_IN_MEMORY);
    // Entries that expired with the bucket's max age produce no event: drop what is gone.
    const live = new Set(entries.map((e) => e.key));
    for (const id of [...this.#set.keys()]) if (!live.has(id)) this.#set.delete(id);
    for (const e of entries) this.#apply(e, true);
  }

  #apply(e: KvEntry, notify: boolean): void {
    if (e.operation !== 'PUT') {
      this.#set.delete(e.key);
      return;
    }
    let r: Revocation;
    try {
      const v = JSON.parse(dec.decode(e.value)) as Partial<Revocation>;
      r = { terminate: v.terminate === true, at: typeof v.at === 'string' ? v.at : new Date().toISOString() };
    } catch {
      r = { terminate: false, at: new Date().toISOString() };
    }
    const prev = this.#set.get(e.key);
    const known = prev !== undefined && (prev.terminate || !r.terminate);
    this.#set.delete(e.key);
    this.#set.set(e.key, r);
    if (this.#set.size > MAX_REVOKED_IN_MEMORY) {
      const oldest = this.#set.keys().next().value;
      if (oldest !== undefined) this.#set.delete(oldest);
    }
    if (notify && !known) for (const l of this.#listeners) l(e.key, r);
  }

  /** Stop following changes. */
  close(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
  }
}
