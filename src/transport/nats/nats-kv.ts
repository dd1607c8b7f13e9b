import type { JetStreamManager } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { DEFAULT_KV_ENTRIES_LIMIT, resolveLimit } from '../dead-letter-headers.ts';
import type { KeyValueStore, KvEntry, KvPutOptions } from '../transport.ts';
import type { LeanPublisher } from './lean-publisher.ts';
import { apiCode, kvRepublishPrefix } from './provision.ts';

const NO_MESSAGE = 10037;

function operationOf(op: string | undefined): KvEntry['operation'] {
  return op === 'DEL' ? 'DEL' : op === 'PURGE' ? 'PURGE' : 'PUT';
}

/**
 * {@link KeyValueStore} over a JetStream KV bucket (`KV_<bucket>`, subjects `$KV.<bucket>.<key>`).
 * Writes go through the lean publisher (a conditional write uses `Nats-Expected-Last-Subject-Sequence`);
 * `watchKey` and `watchAll` are core subscriptions on the subjects where the bucket re-publishes stored
 * writes (stream `republish`), so a watcher sees every stored write with its revision and needs no
 * consumer. `entries` lists the keys from the stream's per-subject counts and reads each one.
 */
/** Keys read at once by `entries()`. */
const ENTRIES_READ_BATCH = 64;

export class NatsKeyValueStore implements KeyValueStore {
  readonly #prefix: string;
  readonly #stream: string;
  readonly #watchers = new Map<string, Set<(e: KvEntry) => void>>();
  /** `watchAll` callbacks with the highest revision each has seen. */
  readonly #allWatchers = new Map<(e: KvEntry) => void, { seen: number }>();
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
      if (this.#allWatchers.size > 0) this.#catchUpAll();
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
      return { key, value: m.data, revision: Number(h?.get('Nats-Sequence') ?? 0), operation: operationOf(h?.get('KV-Operation')) };
    }
    try {
      const m = await this.jsm.streams.getMessage(this.#stream, { last_by_subj: this.#prefix + key });
      if (!m) return null;
      return { key, value: m.data, revision: m.seq, operation: operationOf(m.header?.get('KV-Operation')) };
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
      callback: (_e, m) => onEntry(republished(key, m)),
    });
    return () => {
      fns.delete(onEntry);
      if (fns.size === 0) this.#watchers.delete(key);
      if (!this.nc.isClosed()) sub.unsubscribe();
    };
  }

  /**
   * The live entry of every key, oldest revision first (deleted and purged keys left out; expired
   * ones are gone from the stream already).
   * @throws InvalidArgumentError when `limit` is not a positive integer.
   */
  async entries(limit?: number): Promise<KvEntry[]> {
    const max = resolveLimit(limit, DEFAULT_KV_ENTRIES_LIMIT, 'entries() limit');
    // The keys from the stream's per-subject counts, then each key's last value by direct get: a
    // bucket rewritten while it is read (heartbeats) neither loses a key nor keeps the read going.
    const info = await this.jsm.streams.info(this.#stream, { subjects_filter: `${this.#prefix}>` });
    const keys = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(this.#prefix.length));
    const out: KvEntry[] = [];
    for (let i = 0; i < keys.length; i += ENTRIES_READ_BATCH) {
      const got = await Promise.all(keys.slice(i, i + ENTRIES_READ_BATCH).map((k) => this.get(k)));
      for (const e of got) if (e && e.operation === 'PUT') out.push(e);
    }
    return out.sort((a, b) => a.revision - b.revision).slice(0, max);
  }

  /**
   * Every stored write of any key from now on. After a reconnect, keys written while the connection
   * was down and still present are re-read and delivered (deletes made meanwhile are not).
   */
  watchAll(onEntry: (e: KvEntry) => void): () => void {
    const prefix = kvRepublishPrefix(this.bucket);
    const state = { seen: 0 };
    this.#allWatchers.set(onEntry, state);
    const sub = this.nc.subscribe(prefix + '>', {
      callback: (_e, m) => {
        const e = republished(m.subject.slice(prefix.length), m);
        if (e.revision > state.seen) state.seen = e.revision;
        onEntry(e);
      },
    });
    return () => {
      this.#allWatchers.delete(onEntry);
      if (!this.nc.isClosed()) sub.unsubscribe();
    };
  }

  #catchUpAll(): void {
    this.entries().then(
      (es) => {
        for (const [fn, state] of this.#allWatchers) {
          for (const e of es) {
            if (e.revision <= state.seen) continue;
            state.seen = e.revision;
            fn(e);
          }
        }
      },
      () => undefined,
    );
  }
}

/** An entry from a message on the republish subject. */
function republished(key: string, m: Msg): KvEntry {
  const h = m.headers;
  return { key, value: m.data, revision: Number(h?.get('Nats-Sequence') ?? 0), operation: operationOf(h?.get('KV-Operation')) };
}
