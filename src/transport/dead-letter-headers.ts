import { InvalidArgumentError } from '../errors.ts';

/** Default `limit` of `DeadLetterStore.list`. */
export const DEFAULT_DEAD_LETTER_LIST_LIMIT = 1000;

/** Default `limit` of `KeyValueStore.entries`. */
export const DEFAULT_KV_ENTRIES_LIMIT = 10_000;

/** Default bound of the dead-letter stream (oldest entries are dropped beyond it). */
export const DEFAULT_MAX_DEAD_LETTERS = 1_000_000;

/** How long a dead letter's `dedupeId` is remembered by the memory transport (JetStream's default window). */
export const DEAD_LETTER_DEDUPE_WINDOW_MS = 120_000;

const HEADER_NAME = /^[!-9;-~]+$/;

/**
 * Headers stored with a dead letter: the given ones, minus `Nats-*` headers the server would act on,
 * plus `Nats-Msg-Id: dedupeId`. CR and LF in values (error messages, stacks) become spaces, since a
 * header block cannot carry them.
 * @throws InvalidArgumentError for an empty `dedupeId` or a header name that is not a token.
 */
export function deadLetterHeaders(headers: Record<string, string>, dedupeId: string): Record<string, string> {
  if (typeof dedupeId !== 'string' || !/^\S+$/.test(dedupeId)) {
    throw new InvalidArgumentError(`dedupeId must be a non-empty string without whitespace, got ${JSON.stringify(dedupeId)}`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!HEADER_NAME.test(k)) throw new InvalidArgumentError(`dead-letter header name ${JSON.stringify(k)} must be printable ASCII without ':' or spaces`);
    if (/^nats-/i.test(k)) continue;
    out[k] = String(v).replace(/[\r\n]+/g, ' ');
  }
  out['Nats-Msg-Id'] = dedupeId;
  return out;
}

/**
 * A `limit` option: `fallback` when undefined.
 * @throws InvalidArgumentError unless a positive integer.
 */
export function resolveLimit(limit: number | undefined, fallback: number, what: string): number {
  if (limit === undefined) return fallback;
  if (!Number.isSafeInteger(limit) || limit <= 0) throw new InvalidArgumentError(`${what} must be a positive integer, got ${String(limit)}`);
  return limit;
}
