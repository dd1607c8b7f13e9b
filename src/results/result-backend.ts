import { isRevisionMismatchError } from '../errors.ts';
import { type Codec, decodeSniffed } from '../protocol/codec.ts';
import type { KeyValueStore } from '../transport/transport.ts';
import { type AttemptRef, type ResultRecord, isLaterAttempt, isTerminalState } from './states.ts';

/**
 * What became of a fenced write: `written`; `terminal` when a terminal result is already stored
 * (the first terminal result wins); `superseded` when a later attempt of the task (a redelivery
 * after this one was presumed dead) has written since: this attempt is stale and must neither
 * write nor ack.
 */
export type WriteOutcome = 'written' | 'terminal' | 'superseded';

/** Per-execution write handle: remembers the revision it last wrote, for fenced writes. */
export interface ResultWriteHandle {
  /** Write a state (fenced by revision and attempt token). */
  write(record: ResultRecord): Promise<WriteOutcome>;
}

/** A stored record with its revision. */
export interface StoredResult {
  record: ResultRecord;
  revision: number;
}

/** Where results live. */
export interface ResultBackend {
  /** The stored record, or null (PENDING / unknown / expired). */
  get(taskId: string): Promise<ResultRecord | null>;
  /** The stored record with its revision (for a fenced write that follows), or null. */
  getEntry(taskId: string): Promise<StoredResult | null>;
  /**
   * A fenced writer for one execution of `taskId`. `attempt` is the execution's token (its writes
   * lose to any later attempt's); `knownRevision` the revision last read (0 = none), saving the
   * first write a conflict round trip.
   */
  writer(taskId: string, attempt?: AttemptRef | null, knownRevision?: number): ResultWriteHandle;
  /** Call `onRecord` for every stored update of `taskId`; returns an unsubscribe function. */
  watch(taskId: string, onRecord: (r: ResultRecord | null) => void): () => void;
  /** Remove the stored result. */
  forget(taskId: string): Promise<void>;
}

const MAX_FENCE_ATTEMPTS = 8;

/**
 * {@link ResultBackend} over a {@link KeyValueStore} (JetStream KV bucket `<app>-results`, or memory).
 * Every write names the revision it expects; a terminal record is never overwritten.
 */
export class KvResultBackend implements ResultBackend {
  constructor(
    readonly kv: KeyValueStore,
    private readonly codec: Codec,
  ) {}

  #decode(value: Uint8Array): ResultRecord | null {
    if (value.length === 0) return null;
    return decodeSniffed(value) as ResultRecord;
  }

  async get(taskId: string): Promise<ResultRecord | null> {
    return (await this.getEntry(taskId))?.record ?? null;
  }

  async getEntry(taskId: string): Promise<StoredResult | null> {
    const e = await this.kv.get(taskId);
    if (!e || e.operation !== 'PUT') return null;
    const record = this.#decode(e.value);
    return record ? { record, revision: e.revision } : null;
  }

  writer(taskId: string, attempt: AttemptRef | null = null, knownRevision?: number): ResultWriteHandle {
    let rev: number | undefined = knownRevision;
    let closed: WriteOutcome | undefined;
    return {
      write: async (record) => {
        if (closed) return closed;
        const bytes = this.codec.encode(attempt && record.attempt === undefined ? { ...record, attempt } : record);
        for (let i = 0; i < MAX_FENCE_ATTEMPTS; i++) {
          try {
            rev = await this.kv.put(taskId, bytes, { expectRevision: rev ?? 0 });
            if (isTerminalState(record.status)) closed = 'terminal';
            return 'written';
          } catch (err) {
            if (!isRevisionMismatchError(err)) throw err;
            const cur = await this.kv.get(taskId);
            if (cur && cur.operation === 'PUT') {
              const existing = this.#decode(cur.value);
              if (existing && isTerminalState(existing.status)) {
                closed = 'terminal';
                return closed;
              }
              if (existing?.attempt && attempt && isLaterAttempt(existing.attempt, attempt)) {
                closed = 'superseded';
                return closed;
              }
            }
            rev = cur?.revision ?? 0;
          }
        }
        throw new Error(`result for ${taskId}: gave up after ${MAX_FENCE_ATTEMPTS} conflicting writes`);
      },
    };
  }

  watch(taskId: string, onRecord: (r: ResultRecord | null) => void): () => void {
    return this.kv.watchKey(taskId, (e) => {
      try {
        onRecord(e.operation === 'PUT' ? this.#decode(e.value) : null);
      } catch {
        /* an undecodable record is ignored by watchers; get() reports it */
      }
    });
  }

  async forget(taskId: string): Promise<void> {
    await this.kv.delete(taskId);
  }
}
