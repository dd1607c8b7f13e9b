/**
 * The result record of one attempt of a task: what the executor and its settler write for every
 * state (STARTED, PROGRESS, RETRY, SUCCESS, FAILURE, ...), stamped with the worker and the attempt.
 * @module
 */
import type { SerializedError } from '../errors.ts';
import type { TaskMessage } from '../protocol/envelope.ts';
import type { AnyTaskState, ResultRecord } from '../results/states.ts';
import type { IncomingMessage } from '../transport/transport.ts';

/** What a record says besides its status (`done`: stamp `dateDone`, for a terminal state). */
export interface AttemptRecordParts {
  result?: unknown;
  error?: SerializedError;
  meta?: Record<string, unknown>;
  done?: boolean;
}

/** Build the result record of this attempt (delivery `msg`) of `task`, run by `worker`. */
export function attemptRecord(worker: string, task: TaskMessage, msg: IncomingMessage, status: AnyTaskState, p: AttemptRecordParts): ResultRecord {
  return {
    status,
    taskId: task.id,
    name: task.task,
    result: p.result ?? null,
    error: p.error ?? null,
    traceback: p.error?.stack ?? null,
    dateDone: p.done ? new Date().toISOString() : null,
    meta: p.meta ?? null,
    children: [],
    worker,
    attempts: msg.delivery.deliveryCount,
    attempt: { sequence: msg.delivery.sequence, delivery: msg.delivery.deliveryCount },
  };
}
