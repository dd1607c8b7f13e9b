import type { CeleriacEvent } from '../../execution/event-emitter.ts';
import { type AnyTaskState, updatableStateProblem } from '../../results/states.ts';

/**
 * State shown for a task: the result states (custom ones a task set with `ctx.updateState`
 * included), plus `REJECTED` (the task threw `Reject`, or its message was undecodable).
 */
export type TaskRowState = AnyTaskState | 'REJECTED';

/** What the dashboard knows of a task from the events it saw. */
export interface TaskRow {
  id: string;
  name: string | null;
  state: TaskRowState;
  queue: string | null;
  /** Worker of the latest event. */
  worker: string | null;
  /** Epoch ms (event times, the worker's clock). */
  receivedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** `task-succeeded` minus `task-started` of the same run, when both were seen. */
  runtimeMs: number | null;
  retries: number;
  /** `Name: message` of the last failure, retry or rejection. */
  error: string | null;
  /** The arguments as JSON, cut at 200 characters (from `task-received`). */
  args: string | null;
  /** Trace id (from `task-received`, when the message carried `traceparent`). */
  traceId: string | null;
  /** Time of the latest event applied. */
  updatedAt: number;
}

/** One event of a task's history. */
export interface TaskHistoryEntry {
  type: string;
  at: number;
  worker: string;
}

/** Filters of {@link TaskTable.search}. */
export interface TaskQuery {
  /** Substring of the id or the name (case-insensitive). */
  q?: string;
  /** Exact task name. */
  name?: string;
  /** Exact state. */
  state?: string;
  /** @defaultValue 100 */
  limit?: number;
}

const STATE_OF: Record<string, TaskRowState> = {
  'task-sent': 'PENDING',
  'task-received': 'RECEIVED',
  'task-started': 'STARTED',
  'task-progress': 'PROGRESS',
  'task-succeeded': 'SUCCESS',
  'task-failed': 'FAILURE',
  'task-retried': 'RETRY',
  'task-revoked': 'REVOKED',
  'task-rejected': 'REJECTED',
};

const HISTORY = 16;

interface Slot {
  row: TaskRow;
  history: TaskHistoryEntry[];
}

/**
 * The recent tasks, fed by the app's events (as Flower keeps them): at most `capacity` tasks, the
 * least recently updated evicted first. A Map keeps insertion order, so an update moves its task to
 * the end and eviction takes the first key. Events of one task apply in time order: an event older
 * than the task's latest is kept in the history but does not change the state.
 */
export class TaskTable {
  readonly #slots = new Map<string, Slot>();
  readonly #capacity: number;
  #evicted = 0;

  constructor(capacity = 10_000) {
    this.#capacity = capacity;
  }

  /** Tasks held. */
  get size(): number {
    return this.#slots.size;
  }

  /** Tasks evicted so far to stay within the capacity. */
  get evicted(): number {
    return this.#evicted;
  }

  /** Apply a task event; returns the task's row after it, or null for an event that is not about a task. */
  apply(e: CeleriacEvent): TaskRow | null {
    let state = STATE_OF[e.type];
    if (state === undefined || typeof e.id !== 'string') return null;
    // ctx.updateState(state, meta) names its state in the task-progress event.
    if (e.type === 'task-progress' && typeof e.state === 'string' && updatableStateProblem(e.state) === null) state = e.state;
    let slot = this.#slots.get(e.id);
    if (slot) this.#slots.delete(e.id);
    else {
      slot = {
        row: { id: e.id, name: null, state, queue: null, worker: null, receivedAt: null, startedAt: null, finishedAt: null, runtimeMs: null, retries: 0, error: null, args: null, traceId: null, updatedAt: 0 },
        history: [],
      };
      if (this.#slots.size >= this.#capacity) {
        const oldest = this.#slots.keys().next();
        if (!oldest.done) {
          this.#slots.delete(oldest.value);
          this.#evicted++;
        }
      }
    }
    this.#slots.set(e.id, slot);
    slot.history.push({ type: e.type, at: e.at, worker: e.worker });
    if (slot.history.length > HISTORY) slot.history.shift();
    const r = slot.row;
    if (typeof e.task === 'string') r.name = e.task;
    if (typeof e.queue === 'string') r.queue = e.queue;
    if (typeof e.retries === 'number') r.retries = Math.max(r.retries, e.retries);
    if (typeof e.args === 'string') r.args = e.args;
    if (typeof e.trace === 'string' && /^[0-9a-f]{32}$/.test(e.trace)) r.traceId = e.trace;
    if (e.at < r.updatedAt) return { ...r };
    r.updatedAt = e.at;
    r.state = state;
    r.worker = e.worker;
    switch (e.type) {
      case 'task-received':
        r.receivedAt = e.at;
        r.startedAt = r.finishedAt = r.runtimeMs = null;
        break;
      case 'task-started':
        r.startedAt = e.at;
        break;
      case 'task-succeeded':
        r.finishedAt = e.at;
        r.runtimeMs = r.startedAt !== null && e.at >= r.startedAt ? e.at - r.startedAt : null;
        r.error = null;
        break;
      case 'task-failed':
      case 'task-revoked':
      case 'task-rejected':
        r.finishedAt = e.at;
        if (typeof e.error === 'string') r.error = e.error;
        else if (typeof e.reason === 'string') r.error = e.reason;
        break;
      case 'task-retried':
        if (typeof e.error === 'string') r.error = e.error;
        break;
    }
    return { ...r };
  }

  /** A task's row and its latest events, or undefined when it is not held. */
  get(id: string): (TaskRow & { history: TaskHistoryEntry[] }) | undefined {
    const slot = this.#slots.get(id);
    return slot ? { ...slot.row, history: [...slot.history] } : undefined;
  }

  /** Tasks matching the filters, most recently updated first. */
  search(query: TaskQuery = {}): TaskRow[] {
    const limit = query.limit ?? 100;
    const q = query.q?.trim().toLowerCase() || undefined;
    const out: TaskRow[] = [];
    const rows = [...this.#slots.values()];
    for (let i = rows.length - 1; i >= 0 && out.length < limit; i--) {
      const r = (rows[i] as Slot).row;
      if (query.name && r.name !== query.name) continue;
      if (query.state && r.state !== query.state) continue;
      if (q && !r.id.toLowerCase().includes(q) && !(r.name ?? '').toLowerCase().includes(q)) continue;
      out.push({ ...r });
    }
    return out;
  }

  /** Task names seen (for the filter), sorted. */
  names(): string[] {
    const s = new Set<string>();
    for (const { row } of this.#slots.values()) if (row.name) s.add(row.name);
    return [...s].sort();
  }
}
