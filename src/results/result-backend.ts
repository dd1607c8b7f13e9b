import { isRevisionMismatchError } from '../errors.ts';
import { type Codec, decodeSniffed } from '../protocol/codec.ts';
import type { KeyValueStore } from '../transport/transport.ts';
import { type ResultRecord, isTerminalState } from './states.ts';

/** Per-execution write handle: remembers the revision it last wrote, for fenced writes. */
export interface ResultWriteHandle {
  /**
   * Write a state. Returns false when a terminal result is already stored (this write is dropped:
   * the first terminal result wins).
   */
  write(record: ResultRecord): Promise<boolean>;
}

/** Where results live. */
export interface ResultBackend {
  /** The stored record, or null (PENDING / unknown / expired). */
  get(taskId: string): Promise<ResultRecord | null>;
  /** A fenced writer for one execution of `taskId`. */
  writer(taskId: string): ResultWriteHandle;
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
    const e = await this.kv.get(taskId);
    if (!e || e.operation !== 'PUT') return null;
    return this.#decode(e.value);
  }

  writer(taskId: string): ResultWriteHandle {
    let rev: number | undefined;
    let closed = false;
    return {
      write: async (record) => {
        if (closed) return false;
        const bytes = this.codec.encode(record);
        for (let i = 0; i < MAX_FENCE_ATTEMPTS; i++) {
          try {
            rev = await this.kv.put(taskId, bytes, { expectRevision: rev ?? 0 });
            if (isTerminalState(record.status)) closed = true;
            return true;
          } catch (err) {
            if (!isRevisionMismatchError(err)) throw err;
            const cur = await this.kv.get(taskId);
            if (cur && cur.operation === 'PUT') {
              const existing = this.#decode(cur.value);
              if (existing && isTerminalState(existing.status)) {
                closed = true;
                return false;
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
