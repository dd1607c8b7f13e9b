import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { type ObjectStore, Objm, StorageType } from '@nats-io/obj';
import type { BlobInfo, BlobStore } from '../transport.ts';

/**
 * {@link BlobStore} over a JetStream object store (stream `OBJ_<bucket>`, chunks of 128 KiB on
 * `$O.<bucket>.C.<nuid>`, metadata on `$O.<bucket>.M.<name>`), so an object can be far larger than
 * the server's `max_payload`. The bucket's max age is the TTL of what it holds.
 */
export class NatsBlobStore implements BlobStore {
  private constructor(
    readonly bucket: string,
    private readonly os: ObjectStore,
  ) {}

  /**
   * Open the bucket, creating it with `ttlMs` (0 = never expire) and `replicas` if it does not
   * exist. With `update` (a manager that may change streams), an existing bucket whose age limit
   * differs from `ttlMs` is brought in line, like the KV buckets; otherwise it is used as it is.
   */
  static async open(js: JetStreamClient, bucket: string, ttlMs: number, replicas: number, update?: JetStreamManager, onWarning?: (msg: string) => void): Promise<NatsBlobStore> {
    const maxAge = ttlMs * 1_000_000;
    const os = await new Objm(js).create(bucket, {
      storage: StorageType.File,
      replicas,
      ...(ttlMs > 0 ? { ttl: maxAge } : {}),
      description: 'Celeriac: task results too large to store inline (ADR 0012)',
    });
    if (update) {
      const stream = `OBJ_${bucket}`;
      const info = await update.streams.info(stream);
      if (info.config.max_age !== maxAge) {
        try {
          await update.streams.update(stream, { ...info.config, max_age: maxAge });
        } catch (err) {
          onWarning?.(`blob bucket ${bucket}: could not change its age limit to ${ttlMs} ms (resultExpires): ${(err as Error).message}`);
        }
      }
    }
    return new NatsBlobStore(bucket, os);
  }

  async put(name: string, data: Uint8Array): Promise<BlobInfo> {
    const info = await this.os.putBlob({ name }, data);
    return { name, size: info.size, digest: info.digest };
  }

  async get(name: string): Promise<Uint8Array | null> {
    return this.os.getBlob(name);
  }

  async delete(name: string): Promise<void> {
    try {
      await this.os.delete(name);
    } catch (err) {
      if (/not found/i.test((err as Error).message)) return;
      throw err;
    }
  }
}
