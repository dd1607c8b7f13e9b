import { InvalidArgumentError, isRevisionMismatchError } from '../errors.ts';
import type { KeyValueStore } from '../transport/transport.ts';
import type { Duration } from '../util/duration.ts';

/** Where a plugin's state lives: this process only, or a KV bucket every worker shares. */
export type StateScope = 'local' | 'cluster';

/** The change an update makes: the new state (`undefined` = leave it) and what to return. */
export interface StateUpdate<S, R> {
  next: S | undefined;
  result: R;
}

/**
 * Serialisable state of a plugin (a breaker's circuit, a limiter's schedule), by key. `update` is
 * atomic: locally by construction, in the cluster by a revision-checked write retried on conflict,
 * so two workers never both act on the same old state. At most 100,000 keys are kept in memory
 * (the least recently written go first; in the cluster they are read again when needed).
 */
export interface StateStore<S> {
  readonly scope: StateScope;
  /** The current state (cluster: the last one this process saw written, or read). */
  get(key: string): Promise<S | undefined>;
  /** Apply `fn` to the current state atomically; resolves with its result. */
  update<R>(key: string, fn: (current: S | undefined) => StateUpdate<S, R>): Promise<R>;
  /** Call `listener` for every state written (by any worker, in the cluster); returns an unsubscribe function. */
  onChange(listener: (key: string, state: S | undefined) => void): () => void;
  /** Stop following the bucket. */
  close(): void;
}

/** Options of {@link createStateStore}. */
export interface StateStoreOptions {
  /** `'local'` (a Map in this process) or `'cluster'` (KV bucket `<app>-<bucket>`). */
  scope: StateScope;
  /** Bucket name (cluster scope). */
  bucket: string;
  /** Entries expire after this long (cluster scope). @defaultValue never */
  ttl?: Duration;
}

/** What the store needs from the app. */
export interface StateStoreHost {
  keyValue(name: string, options?: { ttl?: Duration }): Promise<KeyValueStore>;
}

const MAX_ROUNDS = 200;
/** States kept in memory (local scope: the states themselves; cluster: the cache), oldest written dropped first. */
const MAX_KEYS = 100_000;

function remember<S>(map: Map<string, S>, key: string, value: S): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_KEYS) map.delete(map.keys().next().value as string);
}
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Keys may hold any text: they are stored base64url-encoded (valid in a NATS subject). */
const encodeKey = (k: string) => Buffer.from(k, 'utf8').toString('base64url');
const decodeKey = (k: string) => Buffer.from(k, 'base64url').toString('utf8');

/**
 * A {@link StateStore} for a plugin (states are JSON values).
 * @example
 * const store = await createStateStore<{ tat: number }>(app, { scope: 'cluster', bucket: 'ratelimits' });
 * const wait = await store.update('tenant-a', (cur) => ({ next: { tat: (cur?.tat ?? 0) + 10 }, result: 0 }));
 * @throws InvalidArgumentError for a bad scope.
 */
export async function createStateStore<S>(app: StateStoreHost, options: StateStoreOptions): Promise<StateStore<S>> {
  if (options.scope !== 'local' && options.scope !== 'cluster') throw new InvalidArgumentError(`scope must be 'local' or 'cluster', got ${JSON.stringify(options.scope)}`);
  const listeners = new Set<(key: string, state: S | undefined) => void>();
  const tell = (key: string, s: S | undefined) => {
    for (const l of listeners) l(key, s);
  };
  if (options.scope === 'local') {
    const map = new Map<string, S>();
    return {
      scope: 'local',
      get: async (key) => map.get(key),
      update: async (key, fn) => {
        const { next, result } = fn(map.get(key));
        if (next !== undefined) {
          remember(map, key, next);
          tell(key, next);
        }
        return result;
      },
      onChange: (l) => (listeners.add(l), () => listeners.delete(l)),
      close: () => listeners.clear(),
    };
  }
  const kv = await app.keyValue(options.bucket, options.ttl === undefined ? {} : { ttl: options.ttl });
  const cache = new Map<string, S | undefined>();
  const decode = (v: Uint8Array): S | undefined => (v.length ? (JSON.parse(dec.decode(v)) as S) : undefined);
  const stop = kv.watchAll((e) => {
    const key = decodeKey(e.key);
    const s = e.operation === 'PUT' ? decode(e.value) : undefined;
    remember(cache, key, s);
    tell(key, s);
  });
  return {
    scope: 'cluster',
    async get(key) {
      if (cache.has(key)) return cache.get(key);
      const e = await kv.get(encodeKey(key));
      const s = e && e.operation === 'PUT' ? decode(e.value) : undefined;
      remember(cache, key, s);
      return s;
    },
    async update(key, fn) {
      const k = encodeKey(key);
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const e = await kv.get(k);
        const cur = e && e.operation === 'PUT' ? decode(e.value) : undefined;
        const { next, result } = fn(cur);
        if (next === undefined) return result;
        try {
          await kv.put(k, enc.encode(JSON.stringify(next)), { expectRevision: e?.revision ?? 0 });
          remember(cache, key, next);
          return result;
        } catch (err) {
          if (!isRevisionMismatchError(err)) throw err;
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 1 + round)));
        }
      }
      throw new Error(`state ${options.bucket}/${key}: not updated after ${MAX_ROUNDS} conflicting writes`);
    },
    onChange: (l) => (listeners.add(l), () => listeners.delete(l)),
    close: () => {
      stop();
      listeners.clear();
    },
  };
}
