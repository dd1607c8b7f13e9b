/**
 * The headers of a delivered message, copied for the message that replaces it: a retry, a deferred
 * or not-yet-due copy, a hand-over on the last delivery, or a dead letter.
 * @module
 */
import type { IncomingMessage } from '../transport/transport.ts';

/** Every header of `msg` as `[name, value]` pairs. */
export function headerEntries(msg: IncomingMessage): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const k of msg.headerNames()) {
    const v = msg.header(k);
    if (v !== undefined) out.push([k, v]);
  }
  return out;
}

/** A copy of the headers of `msg` (a new object: the caller changes it). */
export function copyHeaders(msg: IncomingMessage): Record<string, string> {
  return Object.fromEntries(headerEntries(msg));
}
