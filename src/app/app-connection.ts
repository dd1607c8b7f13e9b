/**
 * The broker side of an app, opened lazily: the transport (created on first use, closed once), the
 * KV buckets on the results' transport (signed where the app signs control values), and the stores
 * built on them — result backend, result router (and the results routed through it), revocations,
 * attempt ledger, chord joins, the dead-letter stream.
 * @module
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { ClosedError } from '../errors.ts';
import { type Codec, decodeSniffed } from '../protocol/codec.ts';
import { attemptsBucketName, blobsBucketName, resultsBucketName, revokedBucketName } from '../protocol/names.ts';
import { AttemptLedger } from '../results/attempt-ledger.ts';
import { ChordJoins } from '../results/chord-join.ts';
import { KvResultBackend, type ResultBackend } from '../results/result-backend.ts';
import { RECORD_ROOM_BYTES } from '../results/result-ref.ts';
import { MAX_ROUTED_RECORD_BYTES, ResultRouter } from '../results/result-router.ts';
import { Revocations } from '../results/revocations.ts';
import type { ResultRecord } from '../results/states.ts';
import { MemoryTransport } from '../transport/memory/memory-transport.ts';
import type { DeadLetterStore, KeyValueStore, Transport } from '../transport/transport.ts';
import type { ResolvedAppOptions } from './app-options.ts';
import { createTransport } from './app-transport.ts';
import type { MessageSecurity } from './message-security.ts';
import { signedKv } from './signed-kv.ts';

/** The body of a routed-result notice (the record is too big to route). */
const EMPTY = new Uint8Array(0);

/** What the connection reads from its app, at each use (`configure()` may replace them until the first). */
export interface AppConnectionHost {
  readonly options: Readonly<ResolvedAppOptions>;
  readonly codec: Codec;
  /** Signing of the app's messages, or null (ADR 0010). */
  readonly security: MessageSecurity | null;
}

/** The lazily opened broker connection of an app and the stores on it. */
export class AppConnection {
  readonly #h: AppConnectionHost;
  readonly #warn: (msg: string) => void;
  /** Producer identity (`pid@host`). */
  readonly origin = `${process.pid}@${hostname()}`;
  #transport: Transport | undefined;
  #backend: Promise<ResultBackend> | undefined;
  #closed = false;
  readonly #closing = new AbortController();

  constructor(host: AppConnectionHost, warn: (msg: string) => void) {
    // Every result handle waiting on it listens: thousands of get() at once are normal, not a leak.
    setMaxListeners(0, this.#closing.signal);
    this.#h = host;
    this.#warn = warn;
  }

  get #name(): string {
    return this.#h.options.name;
  }

  /** True once the transport or the result backend was asked for (the options can no longer change). */
  get inUse(): boolean {
    return this.#transport !== undefined || this.#backend !== undefined;
  }

  /** The broker (created on first use, connected lazily by its operations). */
  transport(): Transport {
    if (this.#closed) throw new ClosedError(`app "${this.#name}" is closed: it cannot publish or read results any more; create a new app with createApp() for that`);
    this.#transport ??= createTransport(this.#h.options, this.origin, this.#warn);
    return this.#transport;
  }

  #stores = new Map<string, Promise<KeyValueStore>>();
  /** A KV bucket on the results' transport (opened once). */
  kv(bucket: string, ttlMs: number): Promise<KeyValueStore> {
    let p = this.#stores.get(bucket);
    if (!p) {
      p = (async () => {
        const t = this.#h.options.resultBackend === 'memory' ? this.#memoryResults() : this.transport();
        await t.connect();
        const kv = await t.openKv(bucket, { ttlMs });
        // Revocations, rate limits and the events switch are signed when the app signs (ADR 0010).
        const sec = this.#h.security;
        if (sec?.requireSignedControl && (bucket === revokedBucketName(this.#name) || bucket === `${this.#name}-control`)) {
          return signedKv(kv, sec, (key) => this.#warn(`refused an unsigned or badly signed value of ${bucket}/${key}`));
        }
        return kv;
      })().catch((err) => {
        this.#stores.delete(bucket);
        throw err;
      });
      this.#stores.set(bucket, p);
    }
    return p;
  }

  #memoryResultsTransport: Transport | undefined;
  #memoryResults(): Transport {
    this.#memoryResultsTransport ??= new MemoryTransport('memory://results');
    return this.#memoryResultsTransport;
  }

  /** The result backend (opened on first use). */
  resultBackend(): Promise<ResultBackend> {
    this.#backend ??= (async () => {
      const kv = await this.kv(resultsBucketName(this.#name), this.#h.options.resultExpiresMs);
      const { maxPayloadBytes, maxResultBytes, resultExpiresMs } = this.#h.options;
      const t = this.#h.options.resultBackend === 'memory' ? this.#memoryResults() : this.transport();
      return new KvResultBackend(kv, this.#h.codec, {
        blobs: () => t.openBlobs(blobsBucketName(this.#name), { ttlMs: resultExpiresMs }),
        // What a record may hold inline: the payload limit (and the server's), less room for its other fields.
        inlineBytes: Math.max(1024, Math.min(maxPayloadBytes, t.maxBodyBytes(1024)) - RECORD_ROOM_BYTES),
        maxResultBytes,
      });
    })().catch((err) => {
      this.#backend = undefined;
      throw err;
    });
    return this.#backend;
  }

  #router: ResultRouter | undefined;
  /** The router of results sent to this client's reply subject (created on first use). */
  router(): ResultRouter {
    this.#router ??= new ResultRouter(this.transport(), this.#name, (b) => decodeSniffed(b));
    return this.#router;
  }

  /** The router if one was created, without creating it. */
  get openRouter(): ResultRouter | undefined {
    return this.#router;
  }

  /** Expect routed results for these ids (only when results travel through the broker). */
  trackRouted(ids: readonly string[]): void {
    if (this.#h.options.resultBackend !== 'broker') return;
    const r = this.router();
    for (const id of ids) r.track(id);
  }

  /** Send a terminal record to a client's reply subject. */
  notifyResult(replyTo: string, taskId: string, record: ResultRecord): void {
    const bytes = this.#h.codec.encode(record);
    // A big record is announced, not sent: the client reads it from the bucket if it wants it.
    this.transport().notify(replyTo, { id: taskId }, bytes.length > MAX_ROUTED_RECORD_BYTES ? EMPTY : bytes);
  }

  #revocations: Promise<Revocations> | undefined;
  /** The revoked-ids set (bucket `<app>-revoked`). */
  revocations(): Promise<Revocations> {
    this.#revocations ??= this.kv(revokedBucketName(this.#name), this.#h.options.revokeExpiresMs).then((kv) => new Revocations(kv));
    this.#revocations.catch(() => (this.#revocations = undefined));
    return this.#revocations;
  }

  #ledger: Promise<AttemptLedger> | undefined;
  /** Crash attribution (bucket `<app>-attempts`). */
  attemptLedger(): Promise<AttemptLedger> {
    this.#ledger ??= this.kv(attemptsBucketName(this.#name), Math.max(this.#h.options.resultExpiresMs, 86_400_000)).then((kv) => new AttemptLedger(kv));
    this.#ledger.catch(() => (this.#ledger = undefined));
    return this.#ledger;
  }

  #joins: Promise<ChordJoins> | undefined;
  /** Chord joins (bucket `<app>-chords`, kept as long as results). */
  chordJoins(): Promise<ChordJoins> {
    this.#joins ??= this.kv(`${this.#name}-chords`, this.#h.options.resultExpiresMs).then((kv) => new ChordJoins(kv, this.#h.codec));
    this.#joins.catch(() => (this.#joins = undefined));
    return this.#joins;
  }

  /** The dead-letter stream of the broker. */
  async deadLetterStore(): Promise<DeadLetterStore> {
    const t = this.transport();
    await t.connect();
    return t.deadLetters();
  }

  /** Aborts when {@link close} is called: result handles still waiting then throw `ClosedError`. */
  get closedSignal(): AbortSignal {
    return this.#closing.signal;
  }

  /** Close the router and the broker connection; later uses of the transport throw. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    this.#router?.close();
    await this.#transport?.close();
  }
}
