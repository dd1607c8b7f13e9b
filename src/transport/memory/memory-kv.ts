import { RevisionMismatchError } from '../../errors.ts';
import { DEFAULT_KV_ENTRIES_LIMIT, resolveLimit } from '../dead-letter-headers.ts';
import type { KeyValueStore, KvEntry, KvPutOptions } from '../transport.ts';
import type { MemoryBroker } from './memory-broker.ts';

/** In-process {@link KeyValueStore} with the same revision semantics as JetStream KV. */
export class MemoryKeyValueStore implements KeyValueStore {
  readonly #b: ReturnType<MemoryBroker['bucket']>;
  constructor(readonly bucket: string, broker: MemoryBroker, ttlMs: number) {
    this.#b = broker.bucket(bucket, ttlMs);
  }

  #live(key: string): (KvEntry & { expiresAt: number }) | undefined {
    const e = this.#b.entries.get(key);
    if (e && e.expiresAt !== 0 && e.expiresAt <= Date.now()) {
      this.#b.entries.delete(key);
      return undefined;
    }
    return e;
  }

  async get(key: string): Promise<KvEntry | null> {
    const e = this.#live(key);
    if (!e) return null;
    return { key: e.key, value: e.value, revision: e.revision, operation: e.operation };
  }

  async put(key: string, value: Uint8Array, options?: KvPutOptions): Promise<number> {
    return this.#write(key, value, 'PUT', options?.expectRevision);
  }

  async delete(key: string): Promise<void> {
    if (!this.#live(key)) return;
    this.#write(key, new Uint8Array(0), 'DEL', undefined);
  }

  #write(key: string, value: Uint8Array, operation: KvEntry['operation'], expect: number | undefined): number {
    const cur = this.#live(key);
    if (expect !== undefined && (cur?.revision ?? 0) !== expect) {
      throw new RevisionMismatchError(key, `wrong last sequence: ${cur?.revision ?? 0} (expected ${expect}) for key ${key}`);
    }
    const revision = ++this.#b.seq;
    const entry = { key, value, revision, operation, expiresAt: this.#b.ttlMs > 0 ? Date.now() + this.#b.ttlMs : 0 };
    this.#b.entries.set(key, entry);
    const ws = this.#b.watchers.get(key);
    const all = this.#b.allWatchers;
    if (ws || all.size > 0) {
      const pub: KvEntry = { key, value, revision, operation };
      if (ws) for (const w of [...ws]) queueMicrotask(() => w(pub));
      for (const w of [...all]) queueMicrotask(() => w(pub));
    }
    return revision;
  }

  watchKey(key: string, onEntry: (e: KvEntry) => void): () => void {
    let set = this.#b.watchers.get(key);
    if (!set) {
      set = new Set();
      this.#b.watchers.set(key, set);
    }
    set.add(onEntry);
    return () => {
      set.delete(onEntry);
      if (set.size === 0) this.#b.watchers.delete(key);
    };
  }

  /**
   * The live entry of every key, oldest revision first (deleted and expired keys left out).
   * @throws InvalidArgumentError when `limit` is not a positive integer.
   */
  async entries(limit?: number): Promise<KvEntry[]> {
    const max = resolveLimit(limit, DEFAULT_KV_ENTRIES_LIMIT, 'entries() limit');
    const live: KvEntry[] = [];
    for (const key of [...this.#b.entries.keys()]) {
      const e = this.#live(key);
      if (e && e.operation === 'PUT') live.push({ key: e.key, value: e.value, revision: e.revision, operation: e.operation });
    }
    return live.sort((a, b) => a.revision - b.revision).slice(0, max);
  }

  watchAll(onEntry: (e: KvEntry) => void): () => void {
    // A wrapper, so the same function registered twice is two watchers (as two subscriptions are).
    const w = (e: KvEntry) => onEntry(e);
    this.#b.allWatchers.add(w);
    return () => {
      this.#b.allWatchers.delete(w);
    };
  }
}
