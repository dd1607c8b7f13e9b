import type { Transport } from '../transport/transport.ts';

/** Task event types (Celery's names). */
export type TaskEventType = 'task-sent' | 'task-received' | 'task-started' | 'task-progress' | 'task-succeeded' | 'task-failed' | 'task-retried' | 'task-revoked' | 'task-rejected';
/** Worker event types. */
export type WorkerEventType = 'worker-online' | 'worker-heartbeat' | 'worker-offline';
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

/** Subject of an event type: `<app>.events.task.<kind>` / `<app>.events.worker.<kind>` (e.g. `shop.events.task.failed`). */
export function eventSubject(app: string, type: EventType): string {
  const [scope, kind] = type.split('-') as [string, string];
  return `${app}.events.${scope}.${kind}`;
}

/** Events buffered before a flush is forced (they are also flushed every event-loop turn). */
const MAX_BUFFER = 512;

/**
 * Publishes events on core NATS subjects (`<app>.events.>`, fire-and-forget: nobody listening costs
 * nothing but the publish). Events of one event-loop turn go out together, one message per subject
 * holding a JSON array, so a busy worker adds a few messages per turn rather than three per task.
 * Switchable at run time (`enabled`).
 */
export class EventEmitter {
  enabled: boolean;
  readonly #buffer = new Map<string, CeleriacEvent[]>();
  #count = 0;
  #scheduled = false;
  readonly #enc = new TextEncoder();

  constructor(
    private readonly transport: Pick<Transport, 'notify'>,
    private readonly app: string,
    private readonly worker: string,
    enabled = true,
  ) {
    this.enabled = enabled;
  }

  /** Queue an event (dropped when events are off). */
  emit(type: EventType, fields: Omit<CeleriacEvent, 'type' | 'at' | 'worker'> = {}): void {
    if (!this.enabled) return;
    const subject = eventSubject(this.app, type);
    let list = this.#buffer.get(subject);
    if (!list) {
      list = [];
      this.#buffer.set(subject, list);
    }
    list.push({ type, at: Date.now(), worker: this.worker, ...fields });
    if (++this.#count >= MAX_BUFFER) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Publish what is buffered. */
  flush(): void {
    this.#scheduled = false;
    if (this.#count === 0) return;
    for (const [subject, events] of this.#buffer) {
      try {
        this.transport.notify(subject, { 'content-type': 'application/json' }, this.#enc.encode(JSON.stringify(events)));
      } catch {
        /* events are best effort: a closed connection drops them */
      }
    }
    this.#buffer.clear();
    this.#count = 0;
  }
}
