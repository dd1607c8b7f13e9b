import { H } from '../protocol/headers.ts';
import type { DelayedEntry } from './transport.ts';

/** Default `limit` of `DelayedStore.list`. */
export const DEFAULT_DELAYED_LIST_LIMIT = 1000;

/** How long the memory transport remembers a delayed task's `Nats-Msg-Id` (JetStream's default window). */
export const DELAYED_DEDUPE_WINDOW_MS = 120_000;

/**
 * The index entry of a stored delayed task from its sequence, queue and headers: `eta` is the `eta`
 * header parsed as a date (0, due at once, when missing or unreadable), `taskId` the `id` header or `''`.
 */
export function delayedEntry(seq: number, queue: string, header: (name: string) => string | undefined): DelayedEntry {
  const raw = header(H.eta);
  const eta = raw === undefined ? Number.NaN : Date.parse(raw);
  return { seq, queue: flat(queue), eta: Number.isFinite(eta) ? eta : 0, taskId: flat(header(H.id) ?? '') };
}

/**
 * A copy of `s` that does not share memory with the string it was sliced from: an index of 100,000
 * entries would otherwise keep every message's whole header block alive (about 250 bytes each).
 */
function flat(s: string): string {
  return s.length === 0 ? s : Buffer.from(s, 'utf8').toString('utf8');
}
