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
    // The fields come after the known ones, which are then set again: a field of the same name
    // does not override them. Not `{ ...fields, type, at, worker }`: V8 gives every object built
    // that way a hidden class of its own (see postrunEvent in the executor). Not Object.assign
    // either: a spread copies a `__proto__` field of a received event as a plain property instead
    // of calling the prototype setter.
    const e: CeleriacEvent = { type: t[0] as EventType, at: t[1], worker, ...(t[4] as Record<string, unknown> | undefined) };
    e.type = t[0] as EventType;
    e.at = t[1];
    e.worker = worker;
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
   * batch's bytes: no string of the event is built (three events per task; building them was
   * ~1.5 KB of garbage per task), and string and integer fields are written the same way
   * (`task-received` carries some for every task). `type` is the type as JSON bytes (quoted).
   * Throws what `JSON.stringify` throws for a field value (a BigInt, a cycle); the batch is then
   * as it was before.
   */
  add(type: Uint8Array, at: number, id: string | null, task: string | null, fields: Record<string, unknown> | undefined): void {
    const start = this.#len;
    // Worst case: escapes take 6 characters per UTF-16 unit.
    this.#reserve(start, 32 + type.length + textRoom(id) + textRoom(task));
    const b = this.#buf;
    let i = start;
    b[i] = i === 0 ? 0x5b : 0x2c; // '[' first, ',' after
    b[i + 1] = 0x5b; // the tuple's '['
    i += 2;
    for (let k = 0; k < type.length; k++) b[i++] = type[k] as number;
    b[i++] = 0x2c;
    i = Number.isSafeInteger(at) && at >= 0 ? writeTime(b, i, at) : i + b.write(JSON.stringify(at), i, 'latin1');
    b[i++] = 0x2c;
    i = this.#text(i, id);
    b[i++] = 0x2c;
    i = this.#text(i, task);
    if (fields !== undefined) {
      try {
        i = this.#object(i, fields);
      } catch (e) {
        this.#len = start;
        throw e;
      }
    }
    this.#reserve(i, 1);
    this.#buf[i++] = 0x5d;
    this.#len = i;
  }

  /**
   * `,` and `fields` as a JSON object at `i`, as `JSON.stringify` writes it: strings and
   * non-negative integers directly, other values through `JSON.stringify`, properties whose value
   * it leaves out (undefined, functions, symbols) left out.
   */
  #object(at: number, fields: Record<string, unknown>): number {
    this.#reserve(at, 2);
    this.#buf[at] = 0x2c;
    this.#buf[at + 1] = 0x7b; // '{'
    let i = at + 2;
    let first = true;
    for (const key in fields) {
      if (!Object.hasOwn(fields, key)) continue;
      const v = fields[key];
      let json: string | undefined;
      if (typeof v === 'string') json = undefined;
      else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) json = undefined;
      else {
        json = JSON.stringify(v) as string | undefined;
        if (json === undefined) continue;
      }
      this.#reserve(i, 2 + textRoom(key) + (json === undefined ? (typeof v === 'string' ? textRoom(v) : 16) : json.length * 3));
      const b = this.#buf;
      if (!first) b[i++] = 0x2c;
      first = false;
      i = this.#text(i, key);
      b[i++] = 0x3a; // ':'
      if (json !== undefined) i += b.write(json, i, 'utf8');
      else if (typeof v === 'string') i = this.#text(i, v);
      else i = writeDecimal(b, i, v as number);
    }
    this.#reserve(i, 1);
    this.#buf[i] = 0x7d; // '}'
    return i + 1;
  }

  /** Room for `n` more bytes after offset `i` (the buffer doubles, keeping what is written). */
  #reserve(i: number, n: number): void {
    if (i + n <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, i + n));
    this.#buf.copy(grown, 0, 0, i);
    this.#buf = grown;
  }

  /** Write `s` as a JSON string (or `null`) at `i`, with room for {@link textRoom} reserved; the offset after it. */
  #text(i: number, s: string | null): number {
    const b = this.#buf;
    if (s === null) {
      b[i] = 0x6e; // n
      b[i + 1] = 0x75; // u
      b[i + 2] = 0x6c; // l
      b[i + 3] = 0x6c; // l
      return i + 4;
    }
    // Ids, task names, queues and argument previews are almost always printable ASCII (UUIDs,
    // `[A-Za-z0-9_.:-]`, the JSON of the arguments, whose quotes and backslashes are escaped here):
    // copied as they are, checked on the way; anything else (control characters, non-ASCII) is
    // written again from the start through JSON.stringify.
    b[i] = 0x22;
    let k = i + 1;
    for (let j = 0; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c === 0x22 || c === 0x5c) b[k++] = 0x5c; // \" and \\ (room: textRoom allows 6 bytes per unit)
      else if (c < 0x20 || c > 0x7e) return i + b.write(JSON.stringify(s), i, 'utf8');
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

/** The digits of the last event time written: events come by the hundred per millisecond. */
const lastTime = { at: -1, digits: new Uint8Array(16), length: 0 };

/** Write the epoch-ms `at` (a non-negative safe integer) at `i`; the offset after it. */
function writeTime(b: Uint8Array, i: number, at: number): number {
  const t = lastTime;
  if (at !== t.at) {
    t.length = writeDecimal(t.digits, 0, at);
    t.at = at;
  }
  const d = t.digits;
  for (let k = 0; k < t.length; k++) b[i + k] = d[k] as number;
  return i + t.length;
}

/** Most bytes `s` takes as a JSON string: an escape is at most 6 bytes per UTF-16 unit (UTF-8 at most 3). */
function textRoom(s: string | null): number {
  return s === null ? 4 : s.length * 6 + 2;
}

/** An event type's batch and the type as JSON bytes. */
interface TypeSlot {
  batch: Batch;
  json: Uint8Array;
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
  readonly #batches = new Map<EventType, TypeSlot>();
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
    let slot = this.#batches.get(type);
    if (slot === undefined) {
      const subject = eventSubject(this.app, type);
      let batch = this.#bySubject.get(subject);
      if (batch === undefined) {
        batch = new Batch(subject);
        this.#bySubject.set(subject, batch);
      }
      slot = { batch, json: Buffer.from(JSON.stringify(type)) };
      this.#batches.set(type, slot);
    }
    try {
      slot.batch.add(slot.json, Date.now(), id, task, fields);
    } catch {
      return; // fields JSON cannot hold (a BigInt or a cycle in progress meta): this event is dropped, not the batch
    }
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
