import type { Transport } from '../transport/transport.ts';

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

/**
 * Publishes events on core NATS subjects (`<app>.events.>`, fire-and-forget: nobody listening costs
 * nothing but the publish). Events are buffered for at most 100 ms (or 512 events) and go out
 * together, one message per subject holding a JSON array, so a busy worker adds a few messages
 * every 100 ms rather than three per task. Switchable at run time (`enabled`).
 */
export class EventEmitter {
  enabled: boolean;
  readonly #buffer = new Map<string, EventTuple[]>();
  #count = 0;
  #scheduled = false;
  readonly #enc = new TextEncoder();
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

  readonly #subjects = new Map<EventType, string>();

  /** Queue an event (dropped when events are off). */
  emit(type: EventType, id: string | null = null, task: string | null = null, fields?: Record<string, unknown>): void {
    if (!this.enabled) return;
    let subject = this.#subjects.get(type);
    if (subject === undefined) {
      subject = eventSubject(this.app, type);
      this.#subjects.set(type, subject);
    }
    let list = this.#buffer.get(subject);
    if (!list) {
      list = [];
      this.#buffer.set(subject, list);
    }
    list.push(fields ? [type, Date.now(), id, task, fields] : [type, Date.now(), id, task]);
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
    for (const [subject, events] of this.#buffer) {
      try {
        this.transport.notify(subject, this.#headers, this.#enc.encode(JSON.stringify(events)));
      } catch {
        /* events are best effort: a closed connection drops them */
      }
    }
    this.#buffer.clear();
    this.#count = 0;
  }
}
