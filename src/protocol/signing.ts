/**
 * Signed and encrypted messages (docs/protocol.md, "Signed and encrypted messages"; ADR 0010): the
 * canonical forms of a task message, a control request and a control-bucket value, their Ed25519
 * signatures, and AES-256-GCM body encryption. Pure functions over bytes and `node:crypto`; no I/O.
 * @module
 */
import { type KeyObject, createCipheriv, createDecipheriv, randomBytes, sign, verify } from 'node:crypto';
import { H } from './headers.ts';

/** Why a message was refused (the `reason` attribute of `celeriac.security.rejected`). */
export type SecurityRejectReason = 'unsigned' | 'bad_signature' | 'unknown_key' | 'expired' | 'replayed' | 'decrypt_failed';

/** A signing key: its id travels in the `celeriac-key` header. */
export interface SigningKey {
  readonly id: string;
  readonly privateKey: KeyObject;
}

/** A symmetric key for body encryption: its id travels in the `celeriac-enc` header. */
export interface EncryptionKey {
  readonly id: string;
  /** 32-byte secret key. */
  readonly key: KeyObject;
}

/** A signature check that failed. */
export interface Rejection {
  readonly ok: false;
  readonly reason: SecurityRejectReason;
  readonly message: string;
}

/** A signature that verified: who signed, when, with which nonce. */
export interface Verified {
  readonly ok: true;
  readonly keyId: string;
  readonly issuedAt: number;
  readonly nonce: string;
}

/** Header lookup (transports hand headers over as a function). */
export type Lookup = (name: string) => string | undefined;

/**
 * Headers covered by a task signature, in canonical order (present ones only). `content-type` is
 * the value the decoder uses (`content-type`, else `Content-Type`).
 */
export const SIGNED_TASK_HEADERS: readonly string[] = [
  H.keyId, H.issuedAt, H.nonce, H.encryption,
  H.task, H.id, H.rootId, H.parentId, H.group, H.retries, H.eta, H.expires, H.timelimit, H.origin, H.lang,
  H.replyTo, H.ignoreResult, H.idempotencyKey, H.priority, H.contentType, H.msgId,
];

/** Signature header prefix: the canonical-form version. */
export const SIGNATURE_PREFIX = 'v1:';
const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const enc = new TextEncoder();

/** True for a usable key id (`[A-Za-z0-9_.-]{1,64}`). */
export function isKeyId(v: unknown): v is string {
  return typeof v === 'string' && KEY_ID.test(v);
}

function withBody(text: string, body: Uint8Array): Buffer {
  const head = enc.encode(text);
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

/**
 * The bytes a task signature covers: `celeriac-task-v1\n`, `queue:<queue>\n`, then `name:value\n`
 * for each present header of {@link SIGNED_TASK_HEADERS} in that order, a blank line, the body.
 */
export function canonicalTask(queue: string, get: Lookup, body: Uint8Array): Buffer {
  let text = `celeriac-task-v1\nqueue:${queue}\n`;
  for (const name of SIGNED_TASK_HEADERS) {
    const v = name === H.contentType ? (get(name) ?? get('Content-Type')) : get(name);
    if (v !== undefined) text += `${name}:${v}\n`;
  }
  return withBody(`${text}\n`, body);
}

/** The bytes a control-request signature covers: `celeriac-control-v1\n`, `subject:`, key, issued-at, nonce lines, a blank line, the body. */
export function canonicalControl(subject: string, get: Lookup, body: Uint8Array): Buffer {
  return withBody(`celeriac-control-v1\nsubject:${subject}\n${H.keyId}:${get(H.keyId) ?? ''}\n${H.issuedAt}:${get(H.issuedAt) ?? ''}\n${H.nonce}:${get(H.nonce) ?? ''}\n\n`, body);
}

/** A fresh nonce: 16 random bytes, base64url (22 characters). */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

function signatureOf(data: Buffer, key: SigningKey): string {
  return SIGNATURE_PREFIX + sign(null, data, key.privateKey).toString('base64');
}

/**
 * Sign a task message in place: sets `celeriac-key`, `celeriac-issued`, `celeriac-nonce` and
 * `celeriac-sig` (replacing earlier ones: a worker re-signs what it re-publishes). Returns `headers`.
 */
export function signTask(queue: string, headers: Record<string, string>, body: Uint8Array, key: SigningKey, now = Date.now()): Record<string, string> {
  headers[H.keyId] = key.id;
  headers[H.issuedAt] = String(now);
  headers[H.nonce] = newNonce();
  delete headers[H.signature];
  headers[H.signature] = signatureOf(canonicalTask(queue, (n) => headers[n], body), key);
  return headers;
}

/** Headers of a signed control request on `subject`. */
export function signControl(subject: string, body: Uint8Array, key: SigningKey, now = Date.now()): Record<string, string> {
  const h: Record<string, string> = { [H.keyId]: key.id, [H.issuedAt]: String(now), [H.nonce]: newNonce() };
  h[H.signature] = signatureOf(canonicalControl(subject, (n) => h[n], body), key);
  return h;
}

function reject(reason: SecurityRejectReason, message: string): Rejection {
  return { ok: false, reason, message };
}

/** Check the signature headers over `canonical` (built lazily: nothing is hashed for an unsigned message). */
function verifyWith(get: Lookup, keys: ReadonlyMap<string, KeyObject>, canonical: () => Buffer): Verified | Rejection {
  const sig = get(H.signature);
  const keyId = get(H.keyId);
  if (sig === undefined || keyId === undefined) return reject('unsigned', 'the message carries no signature (celeriac-sig / celeriac-key headers)');
  const key = isKeyId(keyId) ? keys.get(keyId) : undefined;
  if (!key) return reject('unknown_key', `signed with key ${JSON.stringify(keyId.slice(0, 64))}, which is not among the verify keys`);
  const issuedRaw = get(H.issuedAt) ?? '';
  const issuedAt = /^\d{1,15}$/.test(issuedRaw) ? Number(issuedRaw) : Number.NaN;
  const nonce = get(H.nonce) ?? '';
  if (!sig.startsWith(SIGNATURE_PREFIX) || Number.isNaN(issuedAt) || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) {
    return reject('bad_signature', 'malformed signature, issued-at or nonce header');
  }
  const raw = Buffer.from(sig.slice(SIGNATURE_PREFIX.length), 'base64');
  let good = false;
  try {
    good = raw.length === 64 && verify(null, canonical(), key, raw);
  } catch {
    good = false;
  }
  if (!good) return reject('bad_signature', `the signature does not match the message (key ${keyId})`);
  return { ok: true, keyId, issuedAt, nonce };
}

/**
 * Verify a task message's signature (not its age or nonce: see {@link ageProblem} and the nonce
 * cache). A signed header whose value holds a line break is refused: lines could be re-split.
 */
export function verifyTask(queue: string, get: Lookup, body: Uint8Array, keys: ReadonlyMap<string, KeyObject>): Verified | Rejection {
  const v = verifyWith(get, keys, () => canonicalTask(queue, get, body));
  if (!v.ok) return v;
  for (const name of SIGNED_TASK_HEADERS) if (get(name)?.includes('\n')) return reject('bad_signature', `header ${name} holds a line break`);
  return v;
}

/** Verify a control request's signature. */
export function verifyControl(subject: string, get: Lookup, body: Uint8Array, keys: ReadonlyMap<string, KeyObject>): Verified | Rejection {
  return verifyWith(get, keys, () => canonicalControl(subject, get, body));
}

/**
 * Why a message is too old or from the future, or null when it is fresh. `storedAt` is when the
 * broker stored it (for a task: the stream's timestamp, so a long backlog does not age it); a task
 * with an `eta` may be stored up to `maxAgeMs` after its eta (the scheduler moves it then).
 */
export function ageProblem(issuedAt: number, eta: number | null, storedAt: number, maxAgeMs: number, skewMs: number): string | null {
  if (issuedAt > storedAt + skewMs) return `signed ${issuedAt - storedAt} ms after the broker stored it (allowed clock skew ${skewMs} ms)`;
  const base = eta !== null && eta > issuedAt ? eta : issuedAt;
  if (storedAt - base > maxAgeMs) return `stored ${storedAt - base} ms after it was signed${base === eta ? ' (counted from its eta)' : ''}; the limit is ${maxAgeMs} ms`;
  return null;
}

/** Bytes an encrypted body adds to the encoded one: the 12-byte IV and the 16-byte GCM tag. */
export const ENCRYPTION_OVERHEAD_BYTES = 28;

/**
 * Encrypt a body with AES-256-GCM: `iv (12) ‖ ciphertext ‖ tag (16)`, the task id as additional
 * authenticated data.
 */
export function encryptBody(body: Uint8Array, key: EncryptionKey, taskId: string): Uint8Array {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key.key, iv);
  c.setAAD(enc.encode(taskId));
  const head = c.update(body);
  const tail = c.final();
  return Buffer.concat([iv, head, tail, c.getAuthTag()]);
}

/** Decrypt a body made by {@link encryptBody}. @throws Error when the key or the bytes are wrong. */
export function decryptBody(body: Uint8Array, key: KeyObject, taskId: string): Uint8Array {
  if (body.length < ENCRYPTION_OVERHEAD_BYTES) throw new Error(`encrypted body of ${body.length} bytes is shorter than iv + tag`);
  const d = createDecipheriv('aes-256-gcm', key, body.subarray(0, 12));
  d.setAAD(enc.encode(taskId));
  d.setAuthTag(body.subarray(body.length - 16));
  return Buffer.concat([d.update(body.subarray(12, body.length - 16)), d.final()]);
}

/** A signed control-bucket value, as stored (JSON). */
interface SealedValue {
  'celeriac-sig': string;
  key: string;
  issued: number;
  value: string;
}

function canonicalKv(bucket: string, key: string, keyId: string, issued: number, value: Uint8Array): Buffer {
  return withBody(`celeriac-kv-v1\nbucket:${bucket}\nkey:${key}\n${H.keyId}:${keyId}\n${H.issuedAt}:${issued}\n\n`, value);
}

/**
 * Wrap a control-bucket value (revocation, rate limit, events switch) with a signature over the
 * bucket, the key and the value: `{"celeriac-sig":"v1:…","key":id,"issued":ms,"value":base64}`.
 */
export function sealKvValue(bucket: string, key: string, value: Uint8Array, signer: SigningKey, now = Date.now()): Uint8Array {
  const sealed: SealedValue = {
    'celeriac-sig': signatureOf(canonicalKv(bucket, key, signer.id, now, value), signer),
    key: signer.id,
    issued: now,
    value: Buffer.from(value).toString('base64'),
  };
  return enc.encode(JSON.stringify(sealed));
}

/** Open a sealed control-bucket value: the original bytes and when they were signed, or why not. */
export function openKvValue(bucket: string, key: string, stored: Uint8Array, keys: ReadonlyMap<string, KeyObject>): { ok: true; value: Uint8Array; issuedAt: number; keyId: string } | Rejection {
  let v: Partial<SealedValue>;
  try {
    v = JSON.parse(Buffer.from(stored).toString('utf8')) as Partial<SealedValue>;
  } catch {
    return reject('unsigned', 'the value is not a signed envelope');
  }
  if (typeof v !== 'object' || v === null || typeof v['celeriac-sig'] !== 'string' || typeof v.value !== 'string') return reject('unsigned', 'the value is not a signed envelope');
  const keyId = String(v.key);
  const issued = typeof v.issued === 'number' && Number.isSafeInteger(v.issued) ? v.issued : Number.NaN;
  const value = Buffer.from(v.value, 'base64');
  const got = new Map<string, string>([
    [H.signature, v['celeriac-sig']],
    [H.keyId, keyId],
    [H.issuedAt, Number.isNaN(issued) ? 'x' : String(issued)],
    [H.nonce, 'kv-values-carry-no-nonce'],
  ]);
  const r = verifyWith((n) => got.get(n), keys, () => canonicalKv(bucket, key, keyId, issued, value));
  return r.ok ? { ok: true, value, issuedAt: issued, keyId } : r;
}
