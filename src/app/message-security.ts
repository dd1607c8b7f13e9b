/**
 * An app's message security (ADR 0010): signs (and encrypts) what it publishes, and checks what its
 * workers receive before anything is decoded: signature, age against the broker's store time,
 * nonce, decryption. One per app; the nonce caches are shared by the app's workers in this process.
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { InvalidArgumentError } from '../errors.ts';
import type { EncodedTask } from '../protocol/envelope.ts';
import { H } from '../protocol/headers.ts';
import { NonceCache } from '../protocol/nonce-cache.ts';
import {
  type Lookup,
  type Rejection,
  type SecurityRejectReason,
  type Verified,
  ageProblem,
  decryptBody,
  encryptBody,
  openKvValue,
  sealKvValue,
  signControl,
  signTask,
  verifyControl,
  verifyTask,
} from '../protocol/signing.ts';
import { recordSecurityRejection } from '../telemetry/metrics.ts';
import type { IncomingMessage } from '../transport/transport.ts';
import { baseQueue } from './app-options.ts';
import type { ResolvedSecurityOptions } from './security-options.ts';
import { copyRecord } from '../util/copy-record.ts';

/** What kind of message was refused. */
export type SecuredKind = 'task' | 'control' | 'kv';

/** A task message that passed the checks: its body in clear. */
export interface Authenticated {
  readonly ok: true;
  readonly body: Uint8Array;
}

/** Refusals counted since start, by reason (all kinds). */
export type RejectionCounts = Record<SecurityRejectReason, number>;

/**
 * Signing and verification of one app's messages. Built from `createApp({ security })`.
 */
export class MessageSecurity {
  readonly #o: ResolvedSecurityOptions;
  readonly #tasks: NonceCache;
  readonly #control: NonceCache;
  /** Refusals by reason, since start (all kinds). */
  readonly rejected: RejectionCounts = { unsigned: 0, bad_signature: 0, unknown_key: 0, expired: 0, replayed: 0, decrypt_failed: 0 };

  /** Built by `createApp({ security })`; read it from `app.security`. @internal */
  constructor(options: ResolvedSecurityOptions) {
    this.#o = options;
    this.#tasks = new NonceCache(options.nonceCacheSize);
    this.#control = new NonceCache(Math.min(options.nonceCacheSize, 50_000));
  }

  /** The resolved options. */
  get options(): ResolvedSecurityOptions {
    return this.#o;
  }

  /** Key ids, queues and limits in force, for logs (no key material). */
  describe(): Record<string, unknown> {
    const o = this.#o;
    return {
      key: o.signing?.id ?? null,
      verifyKeys: [...o.verifyKeys.keys()].join(','),
      queues: o.queues === 'all' ? 'all' : [...o.queues].join(','),
      encryption: o.encryption?.id ?? null,
      maxAgeMs: o.maxAgeMs,
      signedControl: o.requireSignedControl,
    };
  }

  /** True when this process holds a signing key. */
  get canSign(): boolean {
    return this.#o.signing !== null;
  }

  /** True when tasks of `queue` (or its priority band) are signed and verified. */
  covers(queue: string): boolean {
    return this.#o.queues === 'all' || this.#o.queues.has(baseQueue(queue));
  }

  #signer(what: string) {
    const s = this.#o.signing;
    if (!s) throw new InvalidArgumentError(`${what} needs options.security.signingKey: this app signs its messages and has only verify keys`);
    return s;
  }

  /**
   * Sign (and, with an encryption key, encrypt) a task bound for `queue`; a copy, the input is left
   * as it was. A body already encrypted (a worker re-publishing a retry) is only re-signed.
   * Called by the app's publisher; not for applications.
   * @throws InvalidArgumentError without a signing key
   * @internal
   */
  signTask(queue: string, task: EncodedTask): EncodedTask {
    if (!this.covers(queue)) return task;
    const key = this.#signer(`publishing to queue "${queue}"`);
    const headers = copyRecord(task.headers);
    let body = task.body;
    if (this.#o.encryption && headers[H.encryption] === undefined) {
      body = encryptBody(body, this.#o.encryption, headers[H.id] ?? task.id);
      headers[H.encryption] = this.#o.encryption.id;
    }
    signTask(queue, headers, body, key);
    return { id: task.id, headers, body };
  }

  /**
   * Check a delivered task before it is decoded: signature, age (against the broker's store time),
   * nonce, decryption. A queue this app does not sign passes as it is.
   * Called by the worker's consumer; not for applications.
   * @internal
   */
  authenticateTask(msg: IncomingMessage): Authenticated | Rejection {
    if (!this.covers(msg.queue)) return { ok: true, body: msg.body };
    const get = (n: string) => msg.header(n);
    const v = verifyTask(msg.queue, get, msg.body, this.#o.verifyKeys);
    if (!v.ok) return this.#reject('task', v);
    const stored = msg.delivery.storedAt || Date.now();
    const etaRaw = get(H.eta);
    const eta = etaRaw ? Date.parse(etaRaw) : Number.NaN;
    const late = ageProblem(v.issuedAt, Number.isNaN(eta) ? null : eta, stored, this.#o.maxAgeMs, this.#o.clockSkewMs);
    if (late) return this.#reject('task', { ok: false, reason: 'expired', message: late });
    const until = Math.max(v.issuedAt, Number.isNaN(eta) ? 0 : eta) + this.#o.maxAgeMs + this.#o.clockSkewMs;
    // Redeliveries of an accepted message carry its nonce again; only a first delivery is new.
    if (msg.delivery.deliveryCount === 1 && !this.#tasks.add(v.nonce, until, msg.queue, stored)) {
      return this.#reject('task', { ok: false, reason: 'replayed', message: `nonce ${v.nonce} was accepted before` });
    }
    const encId = get(H.encryption);
    if (encId === undefined) return { ok: true, body: msg.body };
    const key = this.#o.decryptionKeys.get(encId);
    if (!key) return this.#reject('task', { ok: false, reason: 'decrypt_failed', message: `body encrypted with key ${JSON.stringify(encId.slice(0, 64))}, which is not among the decryption keys` });
    try {
      return { ok: true, body: decryptBody(msg.body, key, get(H.id) ?? '') };
    } catch (err) {
      return this.#reject('task', { ok: false, reason: 'decrypt_failed', message: `body does not decrypt with key ${encId}: ${(err as Error).message}` });
    }
  }

  /**
   * The plain body of a stored message (a dead letter, for `celeriac dlq show`): decrypted when it
   * says it is encrypted. @throws Error for an unknown key or bytes that do not decrypt
   */
  decryptStored(headers: Readonly<Record<string, string>>, body: Uint8Array): Uint8Array {
    const id = headers[H.encryption];
    if (id === undefined) return body;
    const key = this.#o.decryptionKeys.get(id);
    if (!key) throw new Error(`encrypted with key ${JSON.stringify(id)}, which is not among the decryption keys`);
    return decryptBody(body, key, headers[H.id] ?? '');
  }

  /** Headers of a signed control request (none without a signing key: the request goes unsigned). */
  signControl(subject: string, body: Uint8Array): Record<string, string> {
    return this.#o.signing ? signControl(subject, body, this.#o.signing) : {};
  }

  /** True when workers refuse unsigned control requests and control-bucket values. */
  get requireSignedControl(): boolean {
    return this.#o.requireSignedControl;
  }

  /**
   * Check a control request: signature, age against this clock, nonce.
   * Called by the worker's control responder; not for applications.
   * @internal
   */
  verifyControl(subject: string, get: Lookup, body: Uint8Array): Verified | Rejection {
    const v = verifyControl(subject, get, body, this.#o.verifyKeys);
    if (!v.ok) return this.#reject('control', v);
    const now = Date.now();
    const late = ageProblem(v.issuedAt, null, now, this.#o.maxAgeMs, this.#o.clockSkewMs);
    if (late) return this.#reject('control', { ok: false, reason: 'expired', message: late });
    if (!this.#control.add(v.nonce, v.issuedAt + this.#o.maxAgeMs + this.#o.clockSkewMs, '', now)) {
      return this.#reject('control', { ok: false, reason: 'replayed', message: `nonce ${v.nonce} was used before` });
    }
    return v;
  }

  /** Seal a control-bucket value (unchanged without a signing key). */
  sealKv(bucket: string, key: string, value: Uint8Array): Uint8Array {
    return sealKvValue(bucket, key, value, this.#signer(`writing ${bucket}/${key}`));
  }

  /** Open a sealed control-bucket value; null (counted) when it is unsigned or badly signed. */
  openKv(bucket: string, key: string, stored: Uint8Array): Uint8Array | null {
    const r = openKvValue(bucket, key, stored, this.#o.verifyKeys);
    if (r.ok) return r.value;
    this.#reject('kv', r);
    return null;
  }

  /** Nonces held (tasks, control). */
  get nonces(): { tasks: number; control: number; evictedLive: number } {
    return { tasks: this.#tasks.size, control: this.#control.size, evictedLive: this.#tasks.evictedLive + this.#control.evictedLive };
  }

  #reject(kind: SecuredKind, r: Rejection): Rejection {
    this.rejected[r.reason]++;
    recordSecurityRejection(kind, r.reason);
    return r;
  }

  /** The verify keys by id (for tools that check a message by hand). */
  get verifyKeys(): ReadonlyMap<string, KeyObject> {
    return this.#o.verifyKeys;
  }
}
