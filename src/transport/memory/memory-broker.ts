import type { DeadLetter, KvEntry } from '../transport.ts';
import { type MemoryDelayedSet, newMemoryDelayedSet } from './memory-delayed.ts';
import { MemoryExhaustion } from './memory-exhaustion.ts';

/** A message stored in a memory queue. */
export interface StoredMessage {
  seq: number;
  headers: Record<string, string>;
  body: Uint8Array;
  deliveries: number;
  /** Epoch ms before which it must not be delivered (nak with delay). */
  notBefore: number;
  /** Epoch ms it was published. */
  storedAt?: number;
}

/** Waiting pull request. */
export interface MemoryPull {
  remaining: number;
  delivered: number;
  deliver(m: StoredMessage): void;
  finish(): void;
}

/**
 * One in-process queue: FIFO of ready messages plus parked ones: delayed (nak with delay) and
 * exhausted (reached max deliveries; kept, like a WorkQueue stream keeps them, until removed).
 */
export class MemoryQueue {
  readonly ready: StoredMessage[] = [];
  head = 0;
  readonly delayed = new Set<StoredMessage>();
  readonly exhausted = new Set<StoredMessage>();
  readonly pulls: MemoryPull[] = [];
  nextSeq = 1;
  readonly ids = new Map<string, number>();
  /** Delivered and not settled. */
  inFlight = 0;
  /** Of those, delivered more than once. */
  redeliveredInFlight = 0;
  /** Open subscriptions. */
  subscribers = 0;

  constructor(readonly name: string, readonly maxMessages: number) {}

  get depth(): number {
    return this.ready.length - this.head + this.delayed.size + this.exhausted.size;
  }

  enqueue(m: StoredMessage): void {
    this.ready.push(m);
    this.dispatch();
  }

  take(): StoredMessage | undefined {
    if (this.head >= this.ready.length) return undefined;
    const m = this.ready[this.head];
    this.ready[this.head++] = undefined as unknown as StoredMessage;
    if (this.head > 1024 && this.head * 2 > this.ready.length) {
      this.ready.splice(0, this.head);
      this.head = 0;
    }
    return m;
  }

  /** A delivered message was settled (acked, termed, given back). */
  settled(m: StoredMessage): void {
    this.inFlight--;
    if (m.deliveries > 1) this.redeliveredInFlight--;
  }

  /** Remove every waiting, delayed and exhausted message; resolves how many. */
  purge(): number {
    const n = this.depth;
    this.ready.length = 0;
    this.head = 0;
    this.delayed.clear();
    this.exhausted.clear();
    return n;
  }

  dispatch(): void {
    while (this.pulls.length > 0) {
      const p = this.pulls[0] as MemoryPull;
      const m = this.take();
      if (!m) return;
      m.deliveries++;
      this.inFlight++;
      if (m.deliveries > 1) this.redeliveredInFlight++;
      p.remaining--;
      p.delivered++;
      p.deliver(m);
      if (p.remaining === 0) {
        this.pulls.shift();
        p.finish();
      }
    }
  }
}

/** Entry kept by the memory KV. */
interface MemoryKvBucket {
  entries: Map<string, KvEntry & { expiresAt: number }>;
  watchers: Map<string, Set<(e: KvEntry) => void>>;
  /** `watchAll` callbacks. */
  allWatchers: Set<(e: KvEntry) => void>;
  ttlMs: number;
  seq: number;
}

/** The dead letters of one namespace (app), in sequence order. */
export interface MemoryDeadLetters {
  readonly entries: Map<number, DeadLetter>;
  nextSeq: number;
  /** dedupeId -> epoch ms it was added. */
  readonly ids: Map<string, number>;
}

/** An in-process broker shared by every app in the process that uses the same `memory://name`. */
export class MemoryBroker {
  readonly queues = new Map<string, MemoryQueue>();
  readonly buckets = new Map<string, MemoryKvBucket>();
  /** Plain-subject listeners (`notify` / `listen`). */
  readonly listeners = new Map<string, Set<(headers: Record<string, string>, body: Uint8Array, replyTo: string | undefined) => void>>();
  /** Dead letters per namespace. */
  readonly deadLetterSets = new Map<string, MemoryDeadLetters>();
  /** Max-deliveries handlers and exhausted messages per namespace. */
  readonly exhaustions = new Map<string, MemoryExhaustion>();
  /** Delayed tasks per namespace. */
  readonly delayedSets = new Map<string, MemoryDelayedSet>();

  queue(name: string, maxMessages: number): MemoryQueue {
    let q = this.queues.get(name);
    if (!q) {
      q = new MemoryQueue(name, maxMessages);
      this.queues.set(name, q);
    }
    return q;
  }

  bucket(name: string, ttlMs: number): MemoryKvBucket {
    let b = this.buckets.get(name);
    if (!b) {
      b = { entries: new Map(), watchers: new Map(), allWatchers: new Set(), ttlMs, seq: 0 };
      this.buckets.set(name, b);
    }
    return b;
  }

  deadLetters(namespace: string): MemoryDeadLetters {
    let d = this.deadLetterSets.get(namespace);
    if (!d) {
      d = { entries: new Map(), nextSeq: 1, ids: new Map() };
      this.deadLetterSets.set(namespace, d);
    }
    return d;
  }

  delayed(namespace: string): MemoryDelayedSet {
    let d = this.delayedSets.get(namespace);
    if (!d) {
      d = newMemoryDelayedSet();
      this.delayedSets.set(namespace, d);
    }
    return d;
  }

  exhaustion(namespace: string): MemoryExhaustion {
    let e = this.exhaustions.get(namespace);
    if (!e) {
      e = new MemoryExhaustion();
      this.exhaustions.set(namespace, e);
    }
    return e;
  }
}

const KEY = Symbol.for('celeriac.memory-brokers');

/** The process-wide broker for `memory://<name>` (name defaults to `default`). */
export function memoryBroker(name: string): MemoryBroker {
  const g = globalThis as unknown as Record<symbol, Map<string, MemoryBroker> | undefined>;
  let m = g[KEY];
  if (!m) {
    m = new Map();
    g[KEY] = m;
  }
  let b = m.get(name);
  if (!b) {
    b = new MemoryBroker();
    m.set(name, b);
  }
  return b;
}

/** Forget a memory broker (tests). */
export function resetMemoryBroker(name: string): void {
  const g = globalThis as unknown as Record<symbol, Map<string, MemoryBroker> | undefined>;
  g[KEY]?.delete(name);
}
