/**
 * The executor's outcome counters: one object per executor, shared with its settler and the parts
 * that settle messages, and read by the worker's stats and heartbeats.
 * @module
 */

/** Outcome counters. */
export interface ExecutorStats {
  succeeded: number;
  failed: number;
  retried: number;
  /** Copied to the dead-letter stream. */
  deadLettered: number;
  /** Skipped: revoked, expired, `Ignore`, or already done (duplicate delivery, idempotency key). */
  skipped: number;
  /** Undecodable messages. */
  rejected: number;
  /** Refused by the signature checks (ADR 0010). */
  unauthenticated?: number;
  returned: number;
  active: number;
}

/** Counters of a new executor: all zero (`unauthenticated` appears with the first refusal). */
export function newExecutorStats(): ExecutorStats {
  return { succeeded: 0, failed: 0, retried: 0, deadLettered: 0, skipped: 0, rejected: 0, returned: 0, active: 0 };
}
