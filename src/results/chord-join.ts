import { type SerializedError, isRevisionMismatchError } from '../errors.ts';
import { type Codec, decodeSniffed } from '../protocol/codec.ts';
import type { ChordMembership } from '../protocol/workflow-json.ts';
import type { KeyValueStore } from '../transport/transport.ts';

/** Outcome of one chord header member, as the body receives it. */
export type MemberOutcome = { ok: true; value: unknown; taskId: string } | { ok: false; error: SerializedError; taskId: string };

/**
 * What the member that recorded an outcome must do: `fire` the body (it completed the join),
 * `fail` the chord (its failure was the first, and the chord is not `allowPartial`), or nothing.
 * A redelivered member gets its decision again (the join remembers who closed it), so a worker
 * that died between the join and the publish is replaced by the redelivery.
 */
export type JoinDecision = { action: 'none' } | { action: 'fire' } | { action: 'fail'; index: number; taskId: string; error: SerializedError };

interface JoinState {
  size: number;
  count: number;
  /** Bitmap of recorded members, base64. */
  bits: string;
  status: 'open' | 'complete' | 'failed';
  closer: number | null;
  failed?: { index: number; taskId: string; error: SerializedError };
}

interface Pending {
  m: ChordMembership;
  outcome: MemberOutcome;
  resolve: (d: JoinDecision) => void;
  reject: (err: unknown) => void;
}

const MAX_ROUNDS = 1000;
const READ_BATCH = 256;
const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The join of chord headers, in a KV bucket (`<app>-chords`): `<chordId>.<index>` holds each
 * member's outcome, `<chordId>` a small join record (a bitmap of the members recorded, the count,
 * the status and the member that closed it) updated with revision checks. Outcomes of the same
 * chord recorded in one process while an update is in flight are applied together in the next
 * update, so a 1,000-member header costs a few dozen updates, not 1,000 conflicting ones.
 */
export class ChordJoins {
  readonly #pending = new Map<string, Pending[]>();
  readonly #running = new Set<string>();

  constructor(
    readonly kv: KeyValueStore,
    private readonly codec: Codec,
  ) {}

  /**
   * Record a member's outcome (idempotent: a redelivered member changes nothing) and say what the
   * caller must do.
   */
  async record(m: ChordMembership, outcome: MemberOutcome): Promise<JoinDecision> {
    await this.kv.put(`${m.id}.${m.index}`, this.codec.encode(outcome));
    return new Promise<JoinDecision>((resolve, reject) => {
      let list = this.#pending.get(m.id);
      if (!list) {
        list = [];
        this.#pending.set(m.id, list);
      }
      list.push({ m, outcome, resolve, reject });
      void this.#drain(m.id);
    });
  }

  async #drain(chordId: string): Promise<void> {
    if (this.#running.has(chordId)) return;
    this.#running.add(chordId);
    try {
      for (;;) {
        const batch = this.#pending.get(chordId);
        if (!batch || batch.length === 0) break;
        this.#pending.delete(chordId);
        try {
          const decisions = await this.#apply(batch);
          batch.forEach((p, i) => p.resolve(decisions[i] as JoinDecision));
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.#running.delete(chordId);
      this.#pending.delete(chordId);
    }
  }

  async #apply(batch: Pending[]): Promise<JoinDecision[]> {
    const first = batch[0] as Pending;
    const key = first.m.id;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const e = await this.kv.get(key);
      const state: JoinState =
        e && e.operation === 'PUT' && e.value.length > 0
          ? (JSON.parse(dec.decode(e.value)) as JoinState)
          : { size: first.m.size, count: 0, bits: Buffer.alloc(Math.ceil(first.m.size / 8)).toString('base64'), status: 'open', closer: null };
      const bits = Buffer.from(state.bits, 'base64');
      let changed = false;
      for (const p of batch) {
        const i = p.m.index;
        const mask = 1 << (i % 8);
        const byte = bits[i >> 3] ?? 0;
        if (byte & mask) continue; // recorded before (a redelivery)
        bits[i >> 3] = byte | mask;
        state.count++;
        changed = true;
        if (!p.outcome.ok && !p.m.allowPartial && state.status === 'open') {
          state.status = 'failed';
          state.closer = i;
          state.failed = { index: i, taskId: p.outcome.taskId, error: p.outcome.error };
        } else if (state.count >= state.size && state.status === 'open') {
          state.status = 'complete';
          state.closer = i;
        }
      }
      if (changed) {
        state.bits = bits.toString('base64');
        try {
          await this.kv.put(key, enc.encode(JSON.stringify(state)), { expectRevision: e?.revision ?? 0 });
        } catch (err) {
          if (!isRevisionMismatchError(err)) throw err;
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 + round)));
          continue;
        }
      }
      return batch.map((p) => decide(state, p.m.index));
    }
    throw new Error(`chord ${key}: join not updated after ${MAX_ROUNDS} conflicting writes`);
  }

  /**
   * The outcomes of every member, in header order.
   * @throws Error when a member's outcome is missing (expired: older than the results' lifetime).
   */
  async outcomes(chordId: string, size: number): Promise<MemberOutcome[]> {
    const out: MemberOutcome[] = new Array(size);
    for (let start = 0; start < size; start += READ_BATCH) {
      const idx = Array.from({ length: Math.min(READ_BATCH, size - start) }, (_, k) => start + k);
      await Promise.all(
        idx.map(async (i) => {
          const e = await this.kv.get(`${chordId}.${i}`);
          if (!e || e.operation !== 'PUT' || e.value.length === 0) throw new Error(`chord ${chordId}: the outcome of header member ${i} is missing (expired?)`);
          out[i] = decodeSniffed(e.value) as MemberOutcome;
        }),
      );
    }
    return out;
  }
}

function decide(s: JoinState, index: number): JoinDecision {
  if (s.closer !== index) return { action: 'none' };
  if (s.status === 'complete') return { action: 'fire' };
  if (s.status === 'failed' && s.failed) return { action: 'fail', ...s.failed };
  return { action: 'none' };
}
