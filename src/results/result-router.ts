import type { Transport } from '../transport/transport.ts';
import { type ResultRecord, isTerminalState } from './states.ts';

/** Prefix of the subjects results are routed to; workers only answer `reply_to` headers under it. */
export const REPLY_PREFIX = '_celeriac.reply.';

const MAX_ROUTED = 100_000;
const MAX_CACHED = 10_000;
/** Bytes of unclaimed routed results kept (encoded size), whatever their count. */
const MAX_CACHED_BYTES = 16 * 1024 * 1024;
/**
 * How long a client stops asking for routed results after one arrived that nobody claimed in time
 * (it was pushed out of a full cache): a client that does not call `get()` on most of its tasks
 * would otherwise receive, decode and hold every result of them.
 */
const PAUSE_MS = 30_000;
/**
 * Largest encoded record a worker routes. A bigger one is announced with an empty body (the
 * `id` header alone): the waiter reads it from the bucket at once, and a client that never asks
 * is not sent it.
 */
export const MAX_ROUTED_RECORD_BYTES = 64 * 1024;

interface Cached {
  record: ResultRecord;
  bytes: number;
}

/**
 * Routes terminal results straight back to the client that published the task (Celery's
 * `reply_to`): the client listens on one subject, puts it in the `reply_to` header of its tasks,
 * and the worker sends the stored record there after storing it and before acking. A waiting
 * `get()` then needs no subscription and no read of its own. The KV bucket stays the durable truth:
 * anything not routed, not yet told, or waiting long falls back to watching the key (ADR 0002).
 *
 * Bounded: at most 100,000 ids are remembered as routed, and 10,000 unclaimed results (at most
 * 16 MiB of them) are cached; the oldest are forgotten first (their `get()` then reads the
 * bucket). Only results still expected are cached: one whose waiter gave up (a task that ran
 * longer than the routed wait) is dropped when it comes. A client whose cache overflows does not read most of its results: it stops asking for
 * them for 30 s ({@link accepting}), so a client that never calls `get()` is not sent every result.
 * Records over {@link MAX_ROUTED_RECORD_BYTES} come as a notice without the record.
 */
export class ResultRouter {
  readonly subject: string;
  readonly #routed = new Set<string>();
  readonly #cache = new Map<string, Cached>();
  #cacheBytes = 0;
  #pausedUntil = 0;
  readonly #waiters = new Map<string, Set<(r: ResultRecord | undefined) => void>>();
  #stop: (() => void) | undefined;
  #offStatus: (() => void) | undefined;

  constructor(
    private readonly transport: Transport,
    app: string,
    private readonly decode: (bytes: Uint8Array) => unknown,
  ) {
    this.subject = `${REPLY_PREFIX}${app}.${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  }

  /** Listening? */
  get started(): boolean {
    return this.#stop !== undefined;
  }

  /**
   * Whether new tasks should ask for their result to be routed here: false for 30 s after an
   * unclaimed result was pushed out of the cache (their `get()` reads the bucket instead).
   */
  get accepting(): boolean {
    return this.#pausedUntil === 0 || Date.now() >= this.#pausedUntil;
  }

  /** Start listening (the transport must be connected). Idempotent. */
  start(): void {
    // Results sent while the connection was down are lost: forget what was routed so far and send
    // every waiter to the bucket at once (instead of each waiting out its routed wait).
    this.#offStatus ??= this.transport.onStatus((s) => {
      if (s === 'disconnected' || s === 'connected') this.#forgetRouted();
    });
    this.#stop ??= this.transport.listen(this.subject, (header, body) => {
      const id = header('id');
      if (!id) return;
      if (body.length === 0) {
        // A notice: the record is too big to route. Waiters read the bucket now; nothing is cached.
        this.#routed.delete(id);
        this.#wake(id, undefined);
        return;
      }
      let record: ResultRecord;
      try {
        record = this.decode(body) as ResultRecord;
      } catch {
        return; // the bucket still has it; the waiter falls back to it
      }
      if (!record || !isTerminalState(record.status)) return;
      // Cached only while expected: a result whose `get()` already gave up waiting here and went
      // to the bucket would never be claimed, and would fill the cache. A newer record of a task
      // whose result is cached (a replayed dead letter runs again) replaces it.
      const expected = this.#routed.delete(id) || this.#cache.has(id);
      if (!this.#wake(id, record) && expected) this.#remember(id, record, body.length);
    });
  }

  /** Cache an unclaimed result; past either bound the oldest go, and routing pauses. */
  #remember(id: string, record: ResultRecord, bytes: number): void {
    const old = this.#cache.get(id);
    if (old) {
      this.#cache.delete(id);
      this.#cacheBytes -= old.bytes;
    }
    this.#cache.set(id, { record, bytes });
    this.#cacheBytes += bytes;
    while (this.#cache.size > MAX_CACHED || (this.#cacheBytes > MAX_CACHED_BYTES && this.#cache.size > 1)) {
      const [oldest, entry] = this.#cache.entries().next().value as [string, Cached];
      this.#cache.delete(oldest);
      this.#cacheBytes -= entry.bytes;
      this.#pausedUntil = Date.now() + PAUSE_MS;
    }
  }

  /** Hand `record` to the waiters of `id` (`undefined`: they read the bucket); false when none wait. */
  #wake(id: string, record: ResultRecord | undefined): boolean {
    const ws = this.#waiters.get(id);
    if (!ws) return false;
    this.#waiters.delete(id);
    for (const w of [...ws]) w(record);
    return true;
  }

  /** Remember that `id` was published with `reply_to` = this router's subject. */
  track(id: string): void {
    this.#routed.add(id);
    if (this.#routed.size > MAX_ROUTED) this.#routed.delete(this.#routed.values().next().value as string);
  }

  /** A routed result that arrived before anyone asked (removed from the cache). */
  take(id: string): ResultRecord | undefined {
    const c = this.#cache.get(id);
    if (!c) return undefined;
    this.#cache.delete(id);
    this.#cacheBytes -= c.bytes;
    return c.record;
  }

  /** Whether a result for `id` is expected here. */
  expects(id: string): boolean {
    return this.#routed.has(id);
  }

  /**
   * Wait up to `ms` for the routed result of `id`. Resolves with it, or with `undefined` when the
   * wait ends first (then read the bucket): `id` is then no longer expected, and its result, if
   * it comes later, is not cached.
   */
  wait(id: string, ms: number, signal?: AbortSignal): Promise<ResultRecord | undefined> {
    return new Promise((resolve) => {
      let ws = this.#waiters.get(id);
      if (!ws) {
        ws = new Set();
        this.#waiters.set(id, ws);
      }
      const set = ws;
      const done = (r: ResultRecord | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(onRecord);
        if (set.size === 0 && this.#waiters.get(id) === set) {
          this.#waiters.delete(id);
          // The last waiter goes to the bucket: nobody will take this result from the cache.
          if (r === undefined) this.#routed.delete(id);
        }
        resolve(r);
      };
      const onRecord = (r: ResultRecord | undefined) => done(r);
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), ms);
      set.add(onRecord);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #forgetRouted(): void {
    this.#routed.clear();
    const waiters = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const set of waiters) for (const w of [...set]) w(undefined);
  }

  /** Stop listening. */
  close(): void {
    this.#stop?.();
    this.#stop = undefined;
    this.#offStatus?.();
    this.#offStatus = undefined;
  }
}
