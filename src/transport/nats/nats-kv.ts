import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { KeyValueStore, KvEntry, KvPutOptions } from '../transport.ts';
import type { LeanPublisher } from './lean-publisher.ts';
import { apiCode, kvRepublishPrefix } from './provision.ts';

const NO_MESSAGE = 10037;

/**
 * {@link KeyValueStore} over a JetStream KV bucket (`KV_<bucket>`, subjects `$KV.<bucket>.<key>`).
 * Writes go through the lean publisher (a conditional write uses `Nats-Expected-Last-Subject-Sequence`);
 * `watchKey` is a core subscription on the subject where the bucket re-publishes stored writes
 * (stream `republish`), so a watcher sees every stored write with its revision and needs no consumer.
 */
export class NatsKeyValueStore implements KeyValueStore {
  readonly #prefix: string;
  readonly #stream: string;
  readonly #watchers = new Map<string, Set<(e: KvEntry) => void>>();
  constructor(
    readonly bucket: string,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly pub: LeanPublisher,
    onReconnect?: (cb: () => void) => void,
    /** The bucket stream has `allow_direct` (checked when it was provisioned). */
    private readonly direct = true,
  ) {
    // Writes stored while the connection was down were not seen by watchers: re-read their keys.
    onReconnect?.(() => {
      for (const [key, fns] of this.#watchers) {
        this.get(key).then(
          (e) => {
            if (e) for (const f of fns) f(e);
          },
          () => undefined,
        );
      }
    });
    this.#prefix = `$KV.${bucket}.`;
    this.#stream = `KV_${bucket}`;
  }

  async get(key: string): Promise<KvEntry | null> {
    if (this.direct) {
      // Direct get on the lean pipeline: "not found" is a 404 status, not a thrown API error.
      const m = await this.pub.request(`$JS.API.DIRECT.GET.${this.#stream}.${this.#prefix}${key}`);
      const h = m.headers;
      if (h && h.code === 404) return null;
      if (h && h.code >= 300) throw new Error(`direct get of ${key} failed: ${h.code} ${h.description}`);
      const op = h?.get('KV-Operation');
      return {
        key,
        value: m.data,
        revision: Number(h?.get('Nats-Sequence') ?? 0),
        operation: op === 'DEL' ? 'DEL' : op === 'PURGE' ? 'PURGE' : 'PUT',
      };
    }
    try {
      const m = await this.jsm.streams.getMessage(this.#stream, { last_by_subj: this.#prefix + key });
      if (!m) return null;
      const op = m.header?.get('KV-Operation');
      return { key, value: m.data, revision: m.seq, operation: op === 'DEL' ? 'DEL' : op === 'PURGE' ? 'PURGE' : 'PUT' };
    } catch (err) {
      if (apiCode(err) === NO_MESSAGE) return null;
      if (/no message found/i.test((err as Error).message)) return null;
      throw err;
    }
  }

  async put(key: string, value: Uint8Array, options?: KvPutOptions): Promise<number> {
    const h: Record<string, string> = { 'Nats-Msg-Id': `${key}:${Math.random().toString(36).slice(2)}${Date.now().toString(36)}` };
    if (options?.expectRevision !== undefined) h['Nats-Expected-Last-Subject-Sequence'] = String(options.expectRevision);
    const ack = await this.pub.publish(this.#prefix + key, value, h);
    return ack.seq;
  }

  async delete(key: string): Promise<void> {
    await this.pub.publish(this.#prefix + key, new Uint8Array(0), { 'KV-Operation': 'DEL' });
  }

  watchKey(key: string, onEntry: (e: KvEntry) => void): () => void {
    let fns = this.#watchers.get(key);
    if (!fns) {
      fns = new Set();
      this.#watchers.set(key, fns);
    }
    fns.add(onEntry);
    const sub = this.nc.subscribe(kvRepublishPrefix(this.bucket) + key, {
      callback: (_e, m) => {
        const op = m.headers?.get('KV-Operation');
        const revision = Number(m.headers?.get('Nats-Sequence') ?? 0);
        onEntry({ key, value: m.data, revision, operation: op === 'DEL' ? 'DEL' : op === 'PURGE' ? 'PURGE' : 'PUT' });
      },
    });
    return () => {
      fns.delete(onEntry);
      if (fns.size === 0) this.#watchers.delete(key);
      if (!this.nc.isClosed()) sub.unsubscribe();
    };
  }
}
