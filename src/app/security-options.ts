/**
 * Options of message signing and encryption (`createApp({ security })`, ADR 0010).
 * @module
 */
import { type KeyObject, createPrivateKey, createPublicKey, createSecretKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.ts';
import type { EncryptionKey, SigningKey } from '../protocol/signing.ts';
import { isKeyId } from '../protocol/signing.ts';
import { validateToken } from '../protocol/names.ts';
import { type Duration, parseDuration } from '../util/duration.ts';

/** An Ed25519 key: a `KeyObject`, a PEM string, or the path of a PEM file. */
export type KeyInput = KeyObject | string;

/** A 32-byte AES key: a secret `KeyObject`, 32 bytes, base64 of 32 bytes, or the path of a file holding that base64. */
export type SecretKeyInput = KeyObject | Uint8Array | string;

/**
 * Message signing and encryption (docs/guide/message-signing.md). Producers need `signingKey`;
 * workers need `verifyKeys` (or the `signingKey`, whose public half then verifies) and also
 * `signingKey`, since they re-sign what they publish (retries, chain steps, delayed copies).
 */
export interface SecurityOptions {
  /** Ed25519 private key that signs task messages, control requests and control-bucket values. @defaultValue none (this process cannot publish to signed queues) */
  signingKey?: KeyInput;
  /** Id of `signingKey`, sent in the `celeriac-key` header (`[A-Za-z0-9_.-]{1,64}`). @defaultValue `'default'` */
  keyId?: string;
  /**
   * Public keys accepted, by key id: several during a rotation (the old key verifies while the new
   * one signs). @defaultValue `{ [keyId]: public half of signingKey }`
   */
  verifyKeys?: Record<string, KeyInput>;
  /** Queues whose tasks are signed and verified (`'all'`, or names; priority bands follow their queue). @defaultValue `'all'` */
  queues?: readonly string[] | 'all';
  /** AES-256-GCM key that encrypts task bodies on signed queues. @defaultValue none (bodies in clear) */
  encryptionKey?: SecretKeyInput;
  /** Id of `encryptionKey`, sent in the `celeriac-enc` header. @defaultValue `'default'` */
  encryptionKeyId?: string;
  /** AES keys accepted for decryption, by id (rotation). @defaultValue `{ [encryptionKeyId]: encryptionKey }` */
  decryptionKeys?: Record<string, SecretKeyInput>;
  /**
   * A task stored by the broker more than this long after it was signed (or after its eta) is
   * refused as expired; a control request received this long after it was signed too. @defaultValue `'5m'`
   */
  maxAge?: Duration;
  /** Clock difference tolerated between producers and the broker (a message signed "in the future"). @defaultValue `'30s'` */
  clockSkew?: Duration;
  /** Workers refuse unsigned or badly signed control requests and control-bucket values. @defaultValue true */
  requireSignedControl?: boolean;
  /** Most nonces a process remembers to refuse replays (about 100 bytes each). @defaultValue 200_000 */
  nonceCacheSize?: number;
}

/** {@link SecurityOptions} with keys parsed and durations in ms. */
export interface ResolvedSecurityOptions {
  signing: SigningKey | null;
  verifyKeys: ReadonlyMap<string, KeyObject>;
  queues: ReadonlySet<string> | 'all';
  encryption: EncryptionKey | null;
  decryptionKeys: ReadonlyMap<string, KeyObject>;
  maxAgeMs: number;
  clockSkewMs: number;
  requireSignedControl: boolean;
  nonceCacheSize: number;
}

/** Defaults of {@link SecurityOptions}. */
export const DEFAULT_SECURITY_OPTIONS = {
  keyId: 'default',
  queues: 'all',
  encryptionKeyId: 'default',
  maxAge: '5m',
  clockSkew: '30s',
  requireSignedControl: true,
  nonceCacheSize: 200_000,
} as const;

const PEM = /^-----BEGIN /;

function pemText(v: string, what: string): string {
  if (PEM.test(v.trim())) return v;
  try {
    return readFileSync(v, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`${what} must be a KeyObject, a PEM string or the path of a PEM file; could not read ${JSON.stringify(v)}: ${(err as Error).message}`);
  }
}

function privateKey(v: unknown, what: string): KeyObject {
  let k: KeyObject;
  try {
    if (typeof v === 'string') k = createPrivateKey(pemText(v, what));
    else if (isKeyObject(v)) k = v;
    else throw new InvalidArgumentError(`${what} must be a KeyObject, a PEM string or a file path`);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new InvalidArgumentError(`${what} is not a valid private key: ${(err as Error).message}`);
  }
  if (k.type !== 'private' || k.asymmetricKeyType !== 'ed25519') throw new InvalidArgumentError(`${what} must be an Ed25519 private key (got ${k.type} ${k.asymmetricKeyType ?? ''})`);
  return k;
}

function publicKey(v: unknown, what: string): KeyObject {
  let k: KeyObject;
  try {
    if (typeof v === 'string') k = createPublicKey(pemText(v, what));
    else if (isKeyObject(v)) k = v.type === 'private' ? createPublicKey(v) : v;
    else throw new InvalidArgumentError(`${what} must be a KeyObject, a PEM string or a file path`);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new InvalidArgumentError(`${what} is not a valid public key: ${(err as Error).message}`);
  }
  if (k.type !== 'public' || k.asymmetricKeyType !== 'ed25519') throw new InvalidArgumentError(`${what} must be an Ed25519 public key`);
  return k;
}

function secretKey(v: unknown, what: string): KeyObject {
  let bytes: Uint8Array;
  if (isKeyObject(v)) {
    if (v.type !== 'secret' || v.symmetricKeySize !== 32) throw new InvalidArgumentError(`${what} must be a 32-byte secret key`);
    return v;
  }
  if (v instanceof Uint8Array) bytes = v;
  else if (typeof v === 'string') {
    let text = v.trim();
    if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
      try {
        text = readFileSync(v, 'utf8').trim();
      } catch (err) {
        throw new InvalidArgumentError(`${what} must be base64 of 32 bytes or the path of a file holding it; could not read ${JSON.stringify(v)}: ${(err as Error).message}`);
      }
    }
    bytes = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
  } else throw new InvalidArgumentError(`${what} must be a KeyObject, 32 bytes, base64 of 32 bytes or a file path`);
  if (bytes.length !== 32) throw new InvalidArgumentError(`${what} must be 32 bytes (AES-256), got ${bytes.length}`);
  return createSecretKey(Buffer.from(bytes));
}

function isKeyObject(v: unknown): v is KeyObject {
  return typeof v === 'object' && v !== null && typeof (v as KeyObject).export === 'function' && typeof (v as KeyObject).type === 'string';
}

function keyId(v: unknown, what: string): string {
  if (!isKeyId(v)) throw new InvalidArgumentError(`${what} must be 1-64 characters of [A-Za-z0-9_.-], got ${JSON.stringify(v)}`);
  return v;
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError(`${what} must be an object of { keyId: key }`);
  return v as Record<string, unknown>;
}

/**
 * Parse keys, apply defaults and validate; `null` when `o` is undefined (signing off).
 * @throws InvalidArgumentError naming the option.
 */
export function resolveSecurityOptions(o: SecurityOptions | undefined): ResolvedSecurityOptions | null {
  if (o === undefined) return null;
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('options.security must be an object');
  const d = DEFAULT_SECURITY_OPTIONS;
  const id = keyId(o.keyId ?? d.keyId, 'options.security.keyId');
  const signing = o.signingKey === undefined ? null : { id, privateKey: privateKey(o.signingKey, 'options.security.signingKey') };
  const verifyKeys = new Map<string, KeyObject>();
  if (o.verifyKeys !== undefined) {
    for (const [k, v] of Object.entries(record(o.verifyKeys, 'options.security.verifyKeys'))) verifyKeys.set(keyId(k, `options.security.verifyKeys key ${JSON.stringify(k)}`), publicKey(v, `options.security.verifyKeys.${k}`));
  } else if (signing) verifyKeys.set(id, publicKey(signing.privateKey, 'options.security.signingKey'));
  if (!signing && verifyKeys.size === 0) throw new InvalidArgumentError('options.security needs a signingKey, verifyKeys, or both');
  const rawQueues: unknown = o.queues ?? d.queues;
  let queues: ReadonlySet<string> | 'all';
  if (rawQueues === 'all') queues = 'all';
  else if (Array.isArray(rawQueues) && rawQueues.length > 0) queues = new Set(rawQueues.map((q, i) => validateToken(q as string, `options.security.queues[${i}]`)));
  else throw new InvalidArgumentError(`options.security.queues must be 'all' or a non-empty array of queue names, got ${JSON.stringify(rawQueues)}`);
  const encId = keyId(o.encryptionKeyId ?? d.encryptionKeyId, 'options.security.encryptionKeyId');
  const encryption = o.encryptionKey === undefined ? null : { id: encId, key: secretKey(o.encryptionKey, 'options.security.encryptionKey') };
  const decryptionKeys = new Map<string, KeyObject>();
  if (o.decryptionKeys !== undefined) {
    for (const [k, v] of Object.entries(record(o.decryptionKeys, 'options.security.decryptionKeys'))) decryptionKeys.set(keyId(k, `options.security.decryptionKeys key ${JSON.stringify(k)}`), secretKey(v, `options.security.decryptionKeys.${k}`));
  } else if (encryption) decryptionKeys.set(encId, encryption.key);
  const maxAgeMs = parseDuration(o.maxAge ?? d.maxAge, 'options.security.maxAge');
  if (maxAgeMs < 1000) throw new InvalidArgumentError(`options.security.maxAge must be at least 1s, got ${maxAgeMs} ms`);
  const clockSkewMs = parseDuration(o.clockSkew ?? d.clockSkew, 'options.security.clockSkew');
  const requireSignedControl = o.requireSignedControl ?? d.requireSignedControl;
  if (typeof requireSignedControl !== 'boolean') throw new InvalidArgumentError('options.security.requireSignedControl must be a boolean');
  const nonceCacheSize = o.nonceCacheSize ?? d.nonceCacheSize;
  if (!Number.isInteger(nonceCacheSize) || nonceCacheSize < 1000) throw new InvalidArgumentError(`options.security.nonceCacheSize must be an integer of at least 1000, got ${JSON.stringify(nonceCacheSize)}`);
  return { signing, verifyKeys, queues, encryption, decryptionKeys, maxAgeMs, clockSkewMs, requireSignedControl, nonceCacheSize };
}
