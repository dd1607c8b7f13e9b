import type { Transport } from '../transport/transport.ts';
import { writeDecimal } from '../util/decimal-bytes.ts';

/** Task event types (Celery's names). */
export type TaskEventType = 'task-sent' | 'task-received' | 'task-started' | 'task-progress' | 'task-succeeded' | 'task-failed' | 'task-retried' | 'task-revoked' | 'task-rejected';
/** Worker event types (`circuit-changed`: a circuit breaker changed state in this worker). */
export type WorkerEventType = 'worker-online' | 'worker-heartbeat' | 'worker-offline' | 'circuit-changed';
/** Any event type. */
export type EventType = TaskEventType | WorkerEventType;

/** An event as published (JSON): the type, when, which worker, and fields of the type. */
export interface CeleriacEvent {
  type: EventType;
  /** Epoch ms. */
  at: number;
  /** Worker (or producer) name. */
  worker: string;
  /** Task id (task events). */
  id?: string;
  /** Task name (task events). */
  task?: string;
  [field: string]: unknown;
}

/**
 * Subject of an event type: `<app>.events.task` for task events, `<app>.events.worker` for worker
 * events. One subject per scope keeps a worker's events in order within a batch (filter by type in
 * the subscriber).
 */
export function eventSubject(app: string, type: EventType): string {
  return type.startsWith('task-') ? `${app}.events.task` : `${app}.events.worker`;
}

/**
 * Wire form of one event inside a batch: `[type, at, id, task, fields?]` (`id`/`task` are `null`
 * for worker events); the worker's name is the message's `worker` header. Tuples cost half of what
 * objects cost to serialise, and a busy worker sends tens of thousands of events a second.
 */
export type EventTuple = [EventType, number, string | null, string | null, Record<string, unknown>?];

/** Rebuild the events of a batch (the body and the `worker` header of one message). */
export function decodeEventBatch(body: unknown, worker: string): CeleriacEvent[] {
  if (!Array.isArray(body)) return [];
  const out: CeleriacEvent[] = [];
  for (const t of body) {
    if (!Array.isArray(t) || typeof t[0] !== 'string' || typeof t[1] !== 'number') continue;
    const e: CeleriacEvent = { ...((t[4] as Record<string, unknown> | undefined) ?? {}), type: t[0] as EventType, at: t[1], worker };
    if (typeof t[2] === 'string') e.id = t[2];
    if (typeof t[3] === 'string') e.task = t[3];
    out.push(e);
  }
  return out;
}

/** Events buffered before a flush is forced. */
const MAX_BUFFER = 512;
/** Longest an event waits in the buffer. */
const FLUSH_EVERY_MS = 100;
/** First size of a subject's batch buffer (it doubles when an event does not fit). */
const FIRST_BUFFER_BYTES = 16 * 1024;

/**
 * One subject's batch: the JSON array being written, as UTF-8 bytes. Each event is serialised when
 * it is emitted and nothing of it is kept but its bytes, so a batch holds no objects for the
 * garbage collector to trace or promote while it waits (up to 100 ms).
 */
class Batch {
  #buf = Buffer.allocUnsafe(FIRST_BUFFER_BYTES);
  #len = 0;

  constructor(readonly subject: string) {}

  get empty(): boolean {
    return this.#len === 0;
  }

  /**
   * Append the EventTuple `[type, at, id, task, fields?]` as JSON, written part by part into the
   * batch's bytes: no string of the whole event is built (three events per task; building them
   * was ~1.5 KB of garbage per task). `fields` is JSON text already.
   */
  add(type: EventType, at: number, id: string | null, task: string | null, fields: string | undefined): void {
    // Worst case: escapes take 6 characters per UTF-16 unit, UTF-8 at most 3 bytes per unit.
    const room = 32 + type.length + (id === null ? 4 : id.length * 6 + 2) + (task === null ? 4 : task.length * 6 + 2) + (fields === undefined ? 0 : fields.length * 3 + 1);
    if (this.#len + room > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + room));
      this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    const b = this.#buf;
    let i = this.#len;
    b[i] = i === 0 ? 0x5b : 0x2c; // '[' first, ',' after
    b[i + 1] = 0x5b; // the tuple's '['
    i += 2;
    i = this.#text(i, type);
    b[i++] = 0x2c;
    i = Number.isSafeInteger(at) && at >= 0 ? writeDecimal(b, i, at) : i + b.write(JSON.stringify(at), i, 'latin1');
    b[i++] = 0x2c;
    i = this.#text(i, id);
    b[i++] = 0x2c;
    i = this.#text(i, task);
    if (fields !== undefined) {
      b[i++] = 0x2c;
      i += b.write(fields, i, 'utf8');
    }
    b[i++] = 0x5d;
    this.#len = i;
  }

  /** Write `s` as a JSON string (or `null`) at `i`; the offset after it. */
  #text(i: number, s: string | null): number {
    const b = this.#buf;
    if (s === null) {
      b[i] = 0x6e; // n
      b[i + 1] = 0x75; // u
      b[i + 2] = 0x6c; // l
      b[i + 3] = 0x6c; // l
      return i + 4;
    }
    // Ids and task names are almost always printable ASCII without quotes or backslashes (UUIDs,
    // `[A-Za-z0-9_.:-]`): copied as they are, checked on the way; anything else is written again
    // from the start through JSON.stringify.
    b[i] = 0x22;
    let k = i + 1;
    for (let j = 0; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return i + b.write(JSON.stringify(s), i, 'utf8');
      b[k++] = c;
    }
    b[k] = 0x22;
    return k + 1;
  }

  /** The batch as one JSON array; the batch starts again empty (in a new buffer: the transport may keep the bytes). */
  take(): Uint8Array {
    this.#buf[this.#len++] = 0x5d; // ']'
    const bytes = this.#buf.subarray(0, this.#len);
    this.#buf = Buffer.allocUnsafe(Math.max(FIRST_BUFFER_BYTES, this.#buf.length >>> 1));
    this.#len = 0;
    return bytes;
  }
}

/**
 * Publishes events on core NATS subjects (`<app>.events.>`, fire-and-forget: nobody listening costs
 * nothing but the publish). Events are buffered for at most 100 ms (or 512 events) and go out
 * together, one message per subject holding a JSON array, so a busy worker adds a few messages
 * every 100 ms rather than three per task. Switchable at run time (`enabled`).
 */
export class EventEmitter {
  enabled: boolean;
  /** One batch per subject (task events, worker events), by event type. */
  readonly #batches = new Map<EventType, Batch>();
  readonly #bySubject = new Map<string, Batch>();
  #count = 0;
  #scheduled = false;
  readonly #headers: Record<string, string>;

  constructor(
    private readonly transport: Pick<Transport, 'notify'>,
    private readonly app: string,
    worker: string,
    enabled = true,
  ) {
    this.enabled = enabled;
    this.#headers = { 'content-type': 'application/json', worker };
  }

  /** Queue an event (dropped when events are off). */
  emit(type: EventType, id: string | null = null, task: string | null = null, fields?: Record<string, unknown>): void {
    if (!this.enabled) return;
    let batch = this.#batches.get(type);
    if (batch === undefined) {
      const subject = eventSubject(this.app, type);
      batch = this.#bySubject.get(subject);
      if (batch === undefined) {
        batch = new Batch(subject);
        this.#bySubject.set(subject, batch);
      }
      this.#batches.set(type, batch);
    }
    let json: string | undefined;
    if (fields !== undefined) {
      try {
        json = JSON.stringify(fields);
      } catch {
        return; // fields JSON cannot hold (a BigInt or a cycle in progress meta): this event is dropped, not the batch
      }
    }
    batch.add(type, Date.now(), id, task, json);
    if (++this.#count >= MAX_BUFFER) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => this.flush(), FLUSH_EVERY_MS).unref();
    }
  }

  /** Publish what is buffered. */
  flush(): void {
    this.#scheduled = false;
    if (this.#count === 0) return;
    for (const batch of this.#bySubject.values()) {
      if (batch.empty) continue;
      const bytes = batch.take();
      try {
        this.transport.notify(batch.subject, this.#headers, bytes);
      } catch {
        /* events are best effort: a closed connection drops them */
      }
    }
    this.#count = 0;
  }
}
