import { type SerializedError, isRevisionMismatchError } from '../errors.ts';
import { type Codec, decodeSniffed } from '../protocol/codec.ts';
import type { ChordMembership } from '../protocol/workflow-json.ts';
import type { KeyValueStore } from '../transport/transport.ts';

/** Outcome of one chord header member, as the body receives it. */
export type MemberOutcome = { ok: true; value: unknown; taskId: string } | { ok: false; error: SerializedError; taskId: string };

/**
 * What the member that recorded an outcome must do: `fire` the body with every member's outcome
 * in header order (it completed the join), `fail` the chord (its failure was the first, and the
 * chord is not `allowPartial`), or nothing. A redelivered member gets its decision again (each
 * record remembers who closed it), so a worker that died between the join and the publish is
 * replaced by the redelivery.
 */
export type JoinDecision =
  | { action: 'none' }
  | { action: 'fire'; outcomes: MemberOutcome[] }
  | { action: 'fail'; index: number; taskId: string; error: SerializedError };

type Failure = { index: number; taskId: string; error: SerializedError };

/** A slot of a record: an inline outcome, `1` = recorded (outcome stored under its own key, or a shard), or null. */
type Slot = MemberOutcome | 1 | null;

interface JoinRecord {
  size: number;
  count: number;
  /** Bitmap of recorded slots, base64. */
  bits: string;
  status: 'open' | 'complete' | 'failed';
  closer: number | null;
  failed?: Failure;
  outcomes: Slot[];
  /** Encoded bytes of the inline outcomes. */
  inlineBytes: number;
}

/** What an update tells one of its items (a snapshot: the record is updated in place later). */
interface Verdict {
  closer: boolean;
  status: JoinRecord['status'];
  failed?: Failure;
  outcomes?: Slot[];
}

interface Item {
  slot: number;
  /** Outcome to keep inline (null: only the bit, e.g. a shard in the top record). */
  inline: MemberOutcome | null;
  bytes: number;
  /** Stored under `storeKey` already (too big to inline). */
  stored: boolean;
  storeKey: string;
  /** Set when this item fails the record. */
  failure: Failure | null;
  resolve: (v: Verdict) => void;
  reject: (err: unknown) => void;
}

const MAX_ROUNDS = 1000;
/** Open records whose last written state is remembered (each at most a shard: ~1,024 slots, ≤ 128 KiB inline). */
const MAX_CACHED = 128;
const READ_BATCH = 256;
/** Outcomes up to this size are kept in the shard record itself. */
const INLINE_MAX_BYTES = 2048;
/** Inline outcomes of a shard stop at this total, so a record stays well under the server's payload limit. */
const INLINE_BUDGET_BYTES = 128 * 1024;
/** Members per shard (about): the shards of one chord are updated in parallel. */
const SHARD_MEMBERS = 1024;
const MAX_SHARDS = 64;

/** Shards of a chord of `size` members. */
export function shardCount(size: number): number {
  return Math.max(1, Math.min(MAX_SHARDS, Math.ceil(size / SHARD_MEMBERS)));
}

/**
 * The join of chord headers, in a KV bucket (`<app>-chords`). Member `i` of a chord with `S`
 * shards is slot `⌊i/S⌋` of shard record `<chordId>.s<i mod S>`; a shard that completes (or fails)
 * sets its bit in the top record `<chordId>`, and the member that completes the top record fires
 * the body. Every record is updated with revision checks and remembers which slot closed it. Small
 * outcomes live in the shard records, so the closer reads S records, not 1,000 keys; a large one
 * (over 2 KiB, or past a shard's 128 KiB budget) is stored under `<chordId>.<index>` first. Items
 * for the same record arriving while its update is in flight are applied together in the next
 * update, and this process's last write is remembered, so most updates are one write.
 */
export class ChordJoins {
  readonly #pending = new Map<string, Item[]>();
  readonly #running = new Set<string>();
  readonly #last = new Map<string, { state: JoinRecord; revision: number }>();

  constructor(
    readonly kv: KeyValueStore,
    private readonly codec: Codec,
  ) {}

  /**
   * Record a member's outcome (idempotent: a redelivered member changes nothing) and say what the
   * caller must do.
   */
  async record(m: ChordMembership, outcome: MemberOutcome): Promise<JoinDecision> {
    const S = shardCount(m.size);
    const k = m.index % S;
    const j = Math.floor(m.index / S);
    const failure = !outcome.ok && !m.allowPartial ? { index: m.index, taskId: outcome.taskId, error: outcome.error } : null;
    const bytes = this.codec.encode(outcome).length;
    const storeKey = `${m.id}.${m.index}`;
    let stored = false;
    if (bytes > INLINE_MAX_BYTES) {
      await this.kv.put(storeKey, this.codec.encode(outcome));
      stored = true;
    }
    const shard = await this.#update(`${m.id}.s${k}`, Math.ceil((m.size - k) / S), { slot: j, inline: outcome, bytes, stored, storeKey, failure });
    if (!shard.closer || shard.status === 'open') return { action: 'none' };
    const top = await this.#update(m.id, S, { slot: k, inline: null, bytes: 0, stored: true, storeKey: '', failure: shard.status === 'failed' ? (shard.failed ?? null) : null });
    if (!top.closer) return { action: 'none' };
    if (top.status === 'failed' && top.failed) return { action: 'fail', ...top.failed };
    if (top.status !== 'complete') return { action: 'none' };
    return { action: 'fire', outcomes: await this.#assemble(m, S, k, shard.outcomes ?? []) };
  }

  /** Every member's outcome in header order: the shard records, then outcomes stored on their own. */
  async #assemble(m: ChordMembership, S: number, mine: number, mySlots: Slot[]): Promise<MemberOutcome[]> {
    const shards = await Promise.all(
      Array.from({ length: S }, async (_, k) => {
        if (k === mine) return mySlots;
        const e = await this.kv.get(`${m.id}.s${k}`);
        if (!e || e.operation !== 'PUT' || e.value.length === 0) throw new Error(`chord ${m.id}: join shard ${k} is missing (expired?)`);
        return (decodeSniffed(e.value) as JoinRecord).outcomes;
      }),
    );
    const out = new Array<MemberOutcome>(m.size);
    const missing: number[] = [];
    for (let i = 0; i < m.size; i++) {
      const slot = shards[i % S]?.[Math.floor(i / S)];
      if (slot && slot !== 1) out[i] = slot;
      else missing.push(i);
    }
    for (let start = 0; start < missing.length; start += READ_BATCH) {
      await Promise.all(
        missing.slice(start, start + READ_BATCH).map(async (i) => {
          const e = await this.kv.get(`${m.id}.${i}`);
          if (!e || e.operation !== 'PUT' || e.value.length === 0) throw new Error(`chord ${m.id}: the outcome of header member ${i} is missing (expired?)`);
          out[i] = decodeSniffed(e.value) as MemberOutcome;
        }),
      );
    }
    return out;
  }

  #update(key: string, size: number, item: Omit<Item, 'resolve' | 'reject'>): Promise<Verdict> {
    return new Promise<Verdict>((resolve, reject) => {
      let list = this.#pending.get(key);
      if (!list) {
        list = [];
        this.#pending.set(key, list);
      }
      list.push(Object.assign({}, item, { resolve, reject }));
      void this.#drain(key, size);
    });
  }

  async #drain(key: string, size: number): Promise<void> {
    if (this.#running.has(key)) return;
    this.#running.add(key);
    try {
      for (;;) {
        const batch = this.#pending.get(key);
        if (!batch || batch.length === 0) break;
        this.#pending.delete(key);
        try {
          await this.#apply(key, size, batch);
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.#running.delete(key);
      this.#pending.delete(key);
    }
  }

  async #apply(key: string, size: number, batch: Item[]): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const cached = round === 0 ? this.#last.get(key) : undefined;
      const e = cached ? null : await this.kv.get(key);
      const revision = cached ? cached.revision : (e?.revision ?? 0);
      // The cached record is updated in place: a failed write drops it from the cache.
      const state: JoinRecord = cached
        ? cached.state
        : e && e.operation === 'PUT' && e.value.length > 0
          ? (decodeSniffed(e.value) as JoinRecord)
          : { size, count: 0, bits: Buffer.alloc(Math.ceil(size / 8)).toString('base64'), status: 'open', closer: null, outcomes: new Array<Slot>(size).fill(null), inlineBytes: 0 };
      const bits = Buffer.from(state.bits, 'base64');
      let changed = false;
      for (const p of batch) {
        const i = p.slot;
        const mask = 1 << (i % 8);
        const byte = bits[i >> 3] ?? 0;
        if (byte & mask) continue; // recorded before (a redelivery)
        if (p.inline && !p.stored && state.inlineBytes + p.bytes > INLINE_BUDGET_BYTES) {
          await this.kv.put(p.storeKey, this.codec.encode(p.inline));
          p.stored = true;
        }
        bits[i >> 3] = byte | mask;
        state.count++;
        state.outcomes[i] = p.inline && !p.stored ? p.inline : 1;
        if (p.inline && !p.stored) state.inlineBytes += p.bytes;
        changed = true;
        if (p.failure && state.status === 'open') {
          state.status = 'failed';
          state.closer = i;
          state.failed = p.failure;
        } else if (state.count >= state.size && state.status === 'open') {
          state.status = 'complete';
          state.closer = i;
        }
      }
      if (changed) {
        state.bits = bits.toString('base64');
        try {
          const rev = await this.kv.put(key, this.codec.encode(state), { expectRevision: revision });
          this.#remember(key, state, rev);
        } catch (err) {
          this.#last.delete(key);
          if (!isRevisionMismatchError(err)) throw err;
          if (!cached) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 + round)));
          continue;
        }
      }
      for (const p of batch) {
        const closer = state.closer === p.slot;
        p.resolve({ closer, status: state.status, ...(state.failed ? { failed: state.failed } : {}), ...(closer ? { outcomes: [...state.outcomes] } : {}) });
      }
      return;
    }
    throw new Error(`chord join record ${key}: not updated after ${MAX_ROUNDS} conflicting writes`);
  }

  #remember(key: string, state: JoinRecord, revision: number): void {
    this.#last.delete(key);
    if (state.status !== 'open') return;
    this.#last.set(key, { state, revision });
    if (this.#last.size > MAX_CACHED) this.#last.delete(this.#last.keys().next().value as string);
  }
}
