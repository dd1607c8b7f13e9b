import { randomUUID } from 'node:crypto';
import { isRevisionMismatchError } from '../errors.ts';
import { type Codec, decodeSniffed } from '../protocol/codec.ts';
import type { BlobStore, KeyValueStore } from '../transport/transport.ts';
import { type LargeResultOptions, type ResultRef, oversized, readBlobValue, resolveArgMarkers } from './result-ref.ts';
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
  /** Remove the stored result (and its large value, if it has one). */
  forget(taskId: string): Promise<void>;
  /**
   * A `SUCCESS` record whose value is too large to store inline, with the value moved to the blob
   * bucket and a `resultRef` in its place (ADR 0012); any other record as it is. A write that then
   * loses to another attempt deletes the blob again.
   * @throws ResultTooLargeError when the encoded value is over `maxResultBytes`.
   */
  externalize(record: ResultRecord): Promise<ResultRecord>;
  /** The record with its large value read back from the blob bucket (records without `resultRef` as they are). */
  resolve(record: ResultRecord): Promise<ResultRecord>;
  /** A task's arguments with the large values that a workflow passed by reference read back. */
  resolveArgs(args: unknown[]): Promise<unknown[]>;
}

const MAX_FENCE_ATTEMPTS = 8;

/**
 * {@link ResultBackend} over a {@link KeyValueStore} (JetStream KV bucket `<app>-results`, or memory).
 * Every write names the revision it expects; a terminal record is never overwritten.
 */
export class KvResultBackend implements ResultBackend {
  #blobs: Promise<BlobStore> | undefined;
  constructor(
    readonly kv: KeyValueStore,
    private readonly codec: Codec,
    /** Large results go to a blob bucket; without it every result is stored inline. */
    private readonly large?: LargeResultOptions,
  ) {}

  #blobStore(): Promise<BlobStore> {
    if (!this.large) return Promise.reject(new Error('this result backend has no blob bucket for large results'));
    this.#blobs ??= this.large.blobs().catch((err: unknown) => {
      this.#blobs = undefined;
      throw err;
    });
    return this.#blobs;
  }

  async externalize(record: ResultRecord): Promise<ResultRecord> {
    if (!this.large || record.status !== 'SUCCESS' || record.resultRef) return record;
    const bytes = oversized(record.name ?? record.taskId, record.result, (v) => this.codec.encode(v), this.large);
    if (!bytes) return record;
    const blobs = await this.#blobStore();
    const a = record.attempt;
    const name = `${record.taskId}/${a ? `${a.sequence}.${a.delivery}` : randomUUID()}`;
    const info = await blobs.put(name, bytes);
    const resultRef: ResultRef = { bucket: blobs.bucket, name, size: info.size, digest: info.digest, contentType: this.codec.contentType };
    return Object.assign({}, record, { result: null, resultRef });
  }

  async resolve(record: ResultRecord): Promise<ResultRecord> {
    if (!record.resultRef) return record;
    return Object.assign({}, record, { result: await readBlobValue(await this.#blobStore(), record.resultRef) });
  }

  resolveArgs(args: unknown[]): Promise<unknown[]> {
    return resolveArgMarkers(args, () => this.#blobStore());
  }

  /** A large value whose record was not stored (another attempt's is): nothing will read it. */
  #orphaned(record: ResultRecord): void {
    const ref = record.resultRef;
    if (ref) void this.#blobStore().then((b) => b.delete(ref.name), () => undefined).catch(() => undefined);
  }

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
        const bytes = this.codec.encode(attempt && record.attempt === undefined ? Object.assign({}, record, { attempt }) : record);
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
                if (existing.resultRef?.name !== record.resultRef?.name) this.#orphaned(record);
                return closed;
              }
              if (existing?.attempt && attempt && isLaterAttempt(existing.attempt, attempt)) {
                closed = 'superseded';
                this.#orphaned(record);
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
    const ref = this.large ? (await this.get(taskId))?.resultRef : undefined;
    await this.kv.delete(taskId);
    if (ref) await (await this.#blobStore()).delete(ref.name);
  }
}
