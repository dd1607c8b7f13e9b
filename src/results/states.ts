import type { SerializedError } from '../errors.ts';
import type { ResultRef } from './result-ref.ts';

/** Task states, as in Celery (plus `SCHEDULED` for delayed tasks, used by the scheduler). */
export type TaskState =
  | 'PENDING'
  | 'SCHEDULED'
  | 'RECEIVED'
  | 'STARTED'
  | 'PROGRESS'
  | 'RETRY'
  | 'SUCCESS'
  | 'FAILURE'
  | 'REVOKED';

/**
 * A state of your own that a task set with `ctx.updateState('UPLOADING', meta)` (Celery's custom
 * states): upper-case letters, digits and `_`, starting with a letter, at most 64 characters. Never
 * terminal; the task's final state replaces it. The `string & {}` keeps editors suggesting the
 * built-in {@link TaskState} names.
 */
export type CustomTaskState = string & {};

/** A stored state: one of {@link TaskState}, or a {@link CustomTaskState} a task set itself. */
export type AnyTaskState = TaskState | CustomTaskState;

/** States after which nothing changes: `SUCCESS`, `FAILURE`, `REVOKED`. */
export const TERMINAL_STATES: ReadonlySet<string> = new Set<TaskState>(['SUCCESS', 'FAILURE', 'REVOKED']);

/** True for `SUCCESS`, `FAILURE` and `REVOKED` (false for custom states: they are never terminal). */
export function isTerminalState(s: AnyTaskState): boolean {
  return TERMINAL_STATES.has(s);
}

/** States only the runtime sets: a task cannot `updateState` to them (return, throw or retry instead). */
const RUNTIME_STATES: ReadonlySet<string> = new Set<TaskState>(['PENDING', 'SCHEDULED', 'RECEIVED', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED']);
/** Shape of a custom state name. */
const CUSTOM_STATE = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * Why `state` cannot be set by a task with `ctx.updateState`, or null when it can: `STARTED`,
 * `PROGRESS`, or a custom state name (upper case, digits, `_`, ≤ 64 characters).
 */
export function updatableStateProblem(state: unknown): string | null {
  if (typeof state !== 'string') return `the state must be a string, got ${typeof state}`;
  if (RUNTIME_STATES.has(state)) {
    const how = state === 'SUCCESS' ? 'return a value' : state === 'FAILURE' ? 'throw an error' : state === 'RETRY' ? 'throw ctx.retry()' : 'the runtime sets it';
    return `${JSON.stringify(state)} is set by the runtime, not by a task (${how})`;
  }
  if (!CUSTOM_STATE.test(state)) return `${JSON.stringify(state.length > 80 ? `${state.slice(0, 80)}…` : state)} is not a state name: use upper-case letters, digits and _, starting with a letter, at most 64 characters (e.g. 'UPLOADING')`;
  return null;
}

/**
 * What the result store holds for a task (key = task id). Field names are the wire format
 * (docs/protocol.md, "Results").
 */
export interface ResultRecord<R = unknown> {
  /** A {@link TaskState}, or a custom state the task set with `ctx.updateState` (never terminal). */
  status: AnyTaskState;
  taskId: string;
  /** Task name, when known. */
  name: string | null;
  /** The return value (SUCCESS). */
  result: R | null;
  /** The error (FAILURE), or the reason (REVOKED). */
  error: SerializedError | null;
  /** Remote stack trace (FAILURE). */
  traceback: string | null;
  /** ISO 8601 time of the terminal state, or null. */
  dateDone: string | null;
  /** Progress or state metadata (PROGRESS, RETRY, REVOKED, a custom state). */
  meta: Record<string, unknown> | null;
  /** Ids of tasks this task published (canvas). */
  children: string[];
  /** Worker that wrote the record. */
  worker: string | null;
  /** Delivery attempt that wrote the record (1 = first). */
  attempts: number;
  /**
   * Fencing token of the execution that wrote the record (stream sequence + delivery count), or
   * null when no execution wrote it (e.g. a revoke by a client). A later attempt compares greater.
   */
  attempt?: AttemptRef | null;
  /**
   * Where the value is when it was too large to store inline (`result` is then null); readers
   * (`AsyncResult`, workflows) fetch it from the blob bucket. Absent for inline results (ADR 0012).
   */
  resultRef?: ResultRef | null;
}

/** Identity of one delivery: stream sequence, then delivery count. */
export interface AttemptRef {
  sequence: number;
  delivery: number;
}

/** True when attempt `a` is later than attempt `b` (a retry is a later sequence; a redelivery a later count). */
export function isLaterAttempt(a: AttemptRef, b: AttemptRef): boolean {
  return a.sequence > b.sequence || (a.sequence === b.sequence && a.delivery > b.delivery);
}

/** Fields of {@link newRecord}; everything but `status` and `taskId` defaults to empty. */
export type RecordFields = Pick<ResultRecord, 'status' | 'taskId'> & Partial<Omit<ResultRecord, 'status' | 'taskId'>>;

/**
 * A result record with defaults (`null` / `[]` / `0`); `dateDone` is set for terminal states and
 * `traceback` from the error's stack unless given.
 */
export function newRecord(f: RecordFields): ResultRecord {
  return {
    name: null,
    result: null,
    error: null,
    traceback: f.error?.stack ?? null,
    dateDone: isTerminalState(f.status) ? new Date().toISOString() : null,
    meta: null,
    children: [],
    worker: null,
    attempts: 0,
    ...f,
  };
}
