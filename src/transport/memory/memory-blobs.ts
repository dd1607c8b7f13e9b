import { blobDigest } from '../blob-digest.ts';
import type { BlobInfo, BlobStore } from '../transport.ts';
import type { MemoryBroker } from './memory-broker.ts';
import { MemoryKeyValueStore } from './memory-kv.ts';

/**
 * In-process {@link BlobStore}: objects live in a memory bucket of the broker (`blobs:<bucket>`), so
 * every transport of the same `memory://` URL sees them, and expire like its entries.
 */
export class MemoryBlobStore implements BlobStore {
  readonly #kv: MemoryKeyValueStore;
  constructor(
    readonly bucket: string,
    broker: MemoryBroker,
    ttlMs: number,
  ) {
    this.#kv = new MemoryKeyValueStore(`blobs:${bucket}`, broker, ttlMs);
  }

  async put(name: string, data: Uint8Array): Promise<BlobInfo> {
    await this.#kv.put(name, data.slice());
    return { name, size: data.length, digest: blobDigest(data) };
  }

  async get(name: string): Promise<Uint8Array | null> {
    const e = await this.#kv.get(name);
    return e && e.operation === 'PUT' ? e.value : null;
  }

  async delete(name: string): Promise<void> {
    await this.#kv.delete(name);
  }
}
