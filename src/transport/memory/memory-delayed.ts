import { QueueFullError } from '../../errors.ts';
import type { EncodedTask } from '../../protocol/envelope.ts';
import { H } from '../../protocol/headers.ts';
import { DEFAULT_DELAYED_LIST_LIMIT, DELAYED_DEDUPE_WINDOW_MS, delayedEntry } from '../delayed-entry.ts';
import { resolveLimit } from '../dead-letter-headers.ts';
import type { DelayedEntry, DelayedMessage, DelayedStore } from '../transport.ts';

/** A follower of a memory delayed set: it gets live entries once it has caught up with the stored ones. */
interface MemoryDelayedFollower {
  caughtUp: boolean;
  stopped: boolean;
  onEntry(e: DelayedEntry): void;
  onWarning: ((msg: string) => void) | undefined;
}

/** The delayed tasks of one namespace (app), in sequence order. */
export interface MemoryDelayedSet {
  readonly entries: Map<number, DelayedMessage>;
  nextSeq: number;
  /** `Nats-Msg-Id` -> epoch ms it was stored. */
  readonly ids: Map<string, number>;
  readonly followers: Set<MemoryDelayedFollower>;
}

/** An empty {@link MemoryDelayedSet}. */
export function newMemoryDelayedSet(): MemoryDelayedSet {
  return { entries: new Map(), nextSeq: 1, ids: new Map(), followers: new Set() };
}

/**
 * Store a delayed task like the NATS delayed stream does: deduplicated by its `Nats-Msg-Id` header for
 * two minutes, refused beyond `maxMessages` entries (`discard: new`); followers that caught up get the
 * new entry in a microtask.
 * @throws QueueFullError when the set holds `maxMessages` entries.
 */
export function storeDelayed(d: MemoryDelayedSet, queue: string, task: EncodedTask, maxMessages: number): void {
  const now = Date.now();
  const dedupeId = task.headers[H.msgId];
  if (dedupeId !== undefined) {
    const seen = d.ids.get(dedupeId);
    if (seen !== undefined && now - seen < DELAYED_DEDUPE_WINDOW_MS) return;
  }
  if (d.entries.size >= maxMessages) {
    throw new QueueFullError(`the delayed-tasks store is full (${maxMessages} entries); the task for queue "${queue}" was not stored`);
  }
  if (dedupeId !== undefined) {
    if (d.ids.size > 100_000) {
      for (const [id, t] of d.ids) if (now - t >= DELAYED_DEDUPE_WINDOW_MS || d.ids.size > 50_000) d.ids.delete(id);
    }
    d.ids.set(dedupeId, now);
  }
  const seq = d.nextSeq++;
  const m: DelayedMessage = { seq, queue, headers: { ...task.headers }, body: task.body };
  d.entries.set(seq, m);
  const e = entryOf(m);
  for (const f of d.followers) if (f.caughtUp) queueMicrotask(() => deliver(f, e));
}

function entryOf(m: DelayedMessage): DelayedEntry {
  return delayedEntry(m.seq, m.queue, (n) => m.headers[n]);
}

function deliver(f: MemoryDelayedFollower, e: DelayedEntry): void {
  if (f.stopped) return;
  try {
    f.onEntry(e);
  } catch (err) {
    f.onWarning?.(`delayed-store follower failed on entry ${e.seq}: ${(err as Error).message}`);
  }
}

/**
 * In-process {@link DelayedStore} with the semantics of the NATS delayed stream: `follow` delivers the
 * stored entries (oldest first) and then new ones, asynchronously, never twice; it never resets (there
 * is no connection to lose).
 */
export class MemoryDelayedStore implements DelayedStore {
  readonly #stops = new Set<() => void>();

  constructor(
    private readonly d: MemoryDelayedSet,
    private readonly onWarning?: (msg: string) => void,
  ) {}

  /** An `onEntry` that throws is reported through `onWarning` and does not stop the follower. */
  follow(onEntry: (e: DelayedEntry) => void, _onReset: () => void): () => void {
    const f: MemoryDelayedFollower = { caughtUp: false, stopped: false, onEntry, onWarning: this.onWarning };
    this.d.followers.add(f);
    // Entries stored before this microtask runs are in the snapshot; later ones are delivered live.
    queueMicrotask(() => {
      if (f.stopped) return;
      const stored = [...this.d.entries.values()];
      f.caughtUp = true;
      for (const m of stored) if (this.d.entries.has(m.seq)) deliver(f, entryOf(m));
    });
    const stop = () => {
      f.stopped = true;
      this.d.followers.delete(f);
      this.#stops.delete(stop);
    };
    this.#stops.add(stop);
    return stop;
  }

  async fetch(seq: number): Promise<DelayedMessage | null> {
    return this.d.entries.get(seq) ?? null;
  }

  async remove(seq: number): Promise<boolean> {
    return this.d.entries.delete(seq);
  }

  /** @throws InvalidArgumentError when `limit` is not a positive integer. */
  async list(limit?: number): Promise<DelayedEntry[]> {
    const max = resolveLimit(limit, DEFAULT_DELAYED_LIST_LIMIT, 'list() limit');
    const out: DelayedEntry[] = [];
    for (const m of this.d.entries.values()) {
      if (out.length >= max) break;
      out.push(entryOf(m));
    }
    return out;
  }

  async count(): Promise<number> {
    return this.d.entries.size;
  }

  /** Stop every follower started through this store. */
  close(): void {
    for (const stop of [...this.#stops]) stop();
  }
}
