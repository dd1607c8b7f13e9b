import type { SerializedError } from '../errors.ts';

/** Why a message went to the dead-letter stream (`dlq-reason` header). */
export type DeadLetterReason =
  /** The task failed and its retry policy does not retry (or it has none). */
  | 'failed'
  /** The task threw `Reject`. */
  | 'rejected'
  /** The task failed and used up `maxRetries`. */
  | 'retries-exhausted'
  /** The message could not be decoded or broke docs/protocol.md. */
  | 'undecodable'
  /** Its execution killed (or lost) a worker `maxCrashes` times. */
  | 'crashed'
  /** The broker delivered it `maxDeliver` times without an ack (backstop for a worker killed on the last attempt). */
  | 'max-deliveries'
  /** No worker knew the task name through `maxDeliver` deliveries. */
  | 'not-registered'
  /** Refused by the signature checks: unsigned, forged, unknown key, expired, replayed, undecryptable (ADR 0010). */
  | 'unauthenticated';

/** Header names the dead-letter stream adds to the original headers. */
export const DLQ = {
  reason: 'dlq-reason',
  error: 'dlq-error',
  attempts: 'dlq-attempts',
  retries: 'dlq-retries',
  worker: 'dlq-worker',
  queue: 'dlq-queue',
  seq: 'dlq-seq',
  time: 'dlq-time',
} as const;

const MAX_ERROR_HEADER = 2048;

/** Deduplication id of the dead letter of message `seq` (the worker and the backstop agree on it). */
export function deadLetterId(taskId: string | undefined, seq: number): string {
  return `dlq:${taskId ?? 'unknown'}:${seq}`;
}

/** What the dead letter records besides the original message. */
export interface DeadLetterFacts {
  reason: DeadLetterReason;
  error: SerializedError | null;
  attempts: number;
  retries: number;
  worker: string;
  queue: string;
  seq: number;
}

/**
 * Headers of a dead letter: the original headers (minus `Nats-*` broker headers) plus `dlq-*`.
 * The error is JSON (`{name, message, code}`), truncated to 2 KiB; its stack is in the result.
 */
export function deadLetterHeaders(original: Iterable<[string, string]>, f: DeadLetterFacts): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [k, v] of original) if (!/^nats-/i.test(k) && !k.startsWith('dlq-')) h[k] = v;
  h[DLQ.reason] = f.reason;
  if (f.error) {
    let json = JSON.stringify({ name: f.error.name, message: f.error.message, code: f.error.code });
    if (json.length > MAX_ERROR_HEADER) json = JSON.stringify({ name: f.error.name, message: f.error.message.slice(0, MAX_ERROR_HEADER - 200) + '…', code: f.error.code });
    h[DLQ.error] = json;
  }
  h[DLQ.attempts] = String(f.attempts);
  h[DLQ.retries] = String(f.retries);
  h[DLQ.worker] = f.worker;
  h[DLQ.queue] = f.queue;
  h[DLQ.seq] = String(f.seq);
  h[DLQ.time] = new Date().toISOString();
  return h;
}
