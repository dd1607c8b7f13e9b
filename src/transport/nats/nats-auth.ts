import { readFileSync } from 'node:fs';
import {
  type Authenticator,
  type ConnectionOptions,
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from '@nats-io/transport-node';
import { BrokerAuthError, BrokerPermissionError, InvalidArgumentError } from '../../errors.ts';

/**
 * TLS of the NATS connection. `true` (or `{}`) asks for TLS with the system's trusted CAs; files
 * add a private CA and, for mutual TLS, a client certificate and key.
 */
export interface NatsTlsOptions {
  /** PEM file of the CA(s) that signed the server certificate. @defaultValue the system's trusted CAs */
  caFile?: string;
  /** PEM client certificate (mutual TLS); needs `keyFile`. @defaultValue none */
  certFile?: string;
  /** PEM private key of `certFile`. @defaultValue none */
  keyFile?: string;
  /** TLS before the NATS `INFO` (the server must set `handshake_first`). @defaultValue false */
  handshakeFirst?: boolean;
}

/**
 * Authentication and TLS of the connection to NATS (`createApp({ nats })`; docs/guide/security.md).
 * At most one credential kind: a token, a user and password, an NKey seed, or a credentials file.
 * User and password may also come in the URL (`nats://user:pass@host:4222`). Secrets never appear in
 * logs or error messages.
 */
export interface NatsSecurityOptions {
  /** Token (server `authorization { token }`). @defaultValue none */
  token?: string;
  /** User name; needs `pass`. @defaultValue none */
  user?: string;
  /** Password of `user`. @defaultValue none */
  pass?: string;
  /** NKey user seed (`SU...`). Prefer `nkeySeedFile`. @defaultValue none */
  nkeySeed?: string;
  /** File holding the NKey user seed (re-read at each reconnect). @defaultValue none */
  nkeySeedFile?: string;
  /** Credentials file (user JWT + seed, operator mode; re-read at each reconnect). @defaultValue none */
  credsFile?: string;
  /** TLS (`true` for the system CAs, or files). @defaultValue off (unless the URL or server requires it) */
  tls?: boolean | NatsTlsOptions;
  /**
   * Prefix of every reply subject this client subscribes to (requests, PubAcks, pulls, delayed-task
   * follower), instead of `_INBOX`, `_CEL_PA`, `_CEL_PULL` and `_CEL_DLY`. Give each role its own
   * (e.g. `_INBOX_worker`) so one role cannot read another's replies. @defaultValue none
   */
  inboxPrefix?: string;
}

/** {@link NatsSecurityOptions} validated; `auth` names the credential kind. */
export interface ResolvedNatsSecurityOptions {
  auth: 'none' | 'token' | 'user' | 'nkey' | 'creds';
  token?: string;
  user?: string;
  pass?: string;
  nkeySeed?: string;
  nkeySeedFile?: string;
  credsFile?: string;
  tls?: NatsTlsOptions;
  inboxPrefix?: string;
}

const TLS_KEYS = new Set(['caFile', 'certFile', 'keyFile', 'handshakeFirst']);
const KEYS = new Set(['token', 'user', 'pass', 'nkeySeed', 'nkeySeedFile', 'credsFile', 'tls', 'inboxPrefix']);

function str(v: unknown, what: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new InvalidArgumentError(`${what} must be a non-empty string`);
  return v;
}

/**
 * Validate the security options (no file is read here).
 * @throws InvalidArgumentError naming the option: an unknown key, two credential kinds, `pass`
 * without `user`, `certFile` without `keyFile`, a bad inbox prefix.
 */
export function resolveNatsSecurityOptions(o: NatsSecurityOptions | undefined, what = 'options.nats'): ResolvedNatsSecurityOptions {
  if (o === undefined) return { auth: 'none' };
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError(`${what} must be an object`);
  for (const k of Object.keys(o)) if (!KEYS.has(k)) throw new InvalidArgumentError(`${what}.${k} is not an option (${[...KEYS].join(', ')})`);
  const r: ResolvedNatsSecurityOptions = { auth: 'none' };
  const token = str(o.token, `${what}.token`);
  const user = str(o.user, `${what}.user`);
  const pass = str(o.pass, `${what}.pass`);
  const nkeySeed = str(o.nkeySeed, `${what}.nkeySeed`);
  const nkeySeedFile = str(o.nkeySeedFile, `${what}.nkeySeedFile`);
  const credsFile = str(o.credsFile, `${what}.credsFile`);
  if (pass !== undefined && user === undefined) throw new InvalidArgumentError(`${what}.pass needs ${what}.user`);
  if (nkeySeed !== undefined && nkeySeedFile !== undefined) throw new InvalidArgumentError(`${what}: give nkeySeed or nkeySeedFile, not both`);
  if (nkeySeed !== undefined && !/^SU[A-Z2-7]{56}$/.test(nkeySeed)) throw new InvalidArgumentError(`${what}.nkeySeed must be an NKey user seed (SU followed by 56 base32 characters)`);
  const kinds = [token && 'token', user && 'user', (nkeySeed ?? nkeySeedFile) && 'nkey', credsFile && 'creds'].filter(Boolean) as Array<ResolvedNatsSecurityOptions['auth']>;
  if (kinds.length > 1) throw new InvalidArgumentError(`${what}: give one credential kind, got ${kinds.join(' + ')}`);
  Object.assign(r, { auth: kinds[0] ?? 'none', token, user, pass, nkeySeed, nkeySeedFile, credsFile });
  if (o.tls !== undefined && o.tls !== false) {
    if (o.tls === true) r.tls = {};
    else if (typeof o.tls !== 'object' || o.tls === null) throw new InvalidArgumentError(`${what}.tls must be a boolean or { caFile, certFile, keyFile, handshakeFirst }`);
    else {
      for (const k of Object.keys(o.tls)) if (!TLS_KEYS.has(k)) throw new InvalidArgumentError(`${what}.tls.${k} is not an option (${[...TLS_KEYS].join(', ')})`);
      const t: NatsTlsOptions = {};
      for (const k of ['caFile', 'certFile', 'keyFile'] as const) {
        const v = str(o.tls[k], `${what}.tls.${k}`);
        if (v !== undefined) t[k] = v;
      }
      if ((t.certFile === undefined) !== (t.keyFile === undefined)) throw new InvalidArgumentError(`${what}.tls: certFile and keyFile go together (mutual TLS)`);
      if (o.tls.handshakeFirst !== undefined) {
        if (typeof o.tls.handshakeFirst !== 'boolean') throw new InvalidArgumentError(`${what}.tls.handshakeFirst must be a boolean`);
        t.handshakeFirst = o.tls.handshakeFirst;
      }
      r.tls = t;
    }
  }
  const inboxPrefix = str(o.inboxPrefix, `${what}.inboxPrefix`);
  if (inboxPrefix !== undefined) {
    if (!/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/.test(inboxPrefix)) throw new InvalidArgumentError(`${what}.inboxPrefix must be dot-separated tokens without wildcards, got ${JSON.stringify(inboxPrefix)}`);
    r.inboxPrefix = inboxPrefix;
  }
  for (const k of Object.keys(r) as Array<keyof ResolvedNatsSecurityOptions>) if (r[k] === undefined) delete r[k];
  return r;
}

function readSecret(file: string, what: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new BrokerAuthError(`${what} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** The part of nats.js `connect()` options these settings make: authenticator, TLS, inbox prefix. */
export function connectSecurity(s: ResolvedNatsSecurityOptions): Pick<ConnectionOptions, 'authenticator' | 'tls' | 'inboxPrefix'> {
  const out: Pick<ConnectionOptions, 'authenticator' | 'tls' | 'inboxPrefix'> = {};
  let auth: Authenticator | undefined;
  const enc = new TextEncoder();
  if (s.auth === 'token') auth = tokenAuthenticator(s.token as string);
  else if (s.auth === 'user') auth = usernamePasswordAuthenticator(s.user as string, s.pass);
  else if (s.auth === 'nkey') {
    const file = s.nkeySeedFile;
    const seed = s.nkeySeed;
    auth = nkeyAuthenticator(file ? () => enc.encode(new TextDecoder().decode(readSecret(file, 'nkeySeedFile')).trim()) : enc.encode(seed as string));
  } else if (s.auth === 'creds') {
    const file = s.credsFile as string;
    auth = credsAuthenticator(() => readSecret(file, 'credsFile'));
  }
  if (auth) out.authenticator = auth;
  if (s.tls) out.tls = { ...s.tls };
  if (s.inboxPrefix) out.inboxPrefix = s.inboxPrefix;
  return out;
}

/**
 * A connect failure of nats.js as a Celeriac error that says what to check, or the error itself.
 * Messages name files and the credential kind, never a secret.
 */
export function connectError(err: unknown, s: ResolvedNatsSecurityOptions, servers: string): unknown {
  const e = err as Error & { code?: string };
  const msg = String(e?.message ?? err);
  const name = e?.name ?? '';
  const kind = {
    none: 'no credentials were given (set CELERIAC_NATS_USER/PASSWORD, CELERIAC_NATS_TOKEN, CELERIAC_NATS_NKEY_SEED_FILE or CELERIAC_NATS_CREDS, or options.nats)',
    token: 'the token (CELERIAC_NATS_TOKEN / options.nats.token) was refused',
    user: `user "${s.user ?? ''}" or its password was refused`,
    nkey: 'the NKey seed was refused (is its public key a user of the server?)',
    creds: `the credentials file ${s.credsFile ?? ''} was refused (expired JWT, or an account the server does not trust?)`,
  }[s.auth];
  if (typeof (err as { code?: unknown })?.code === 'string' && (err as { code: string }).code.startsWith('E_BROKER_')) return err;
  if (name === 'AuthorizationError' || name === 'UserAuthenticationExpiredError' || /authorization violation|authentication/i.test(msg)) {
    return new BrokerAuthError(`NATS at ${servers} refused the connection: ${kind}`, { cause: err });
  }
  if (/unable to parse credentials/i.test(msg)) {
    return new BrokerAuthError(`credsFile ${s.credsFile ?? ''} is not a NATS credentials file (it must hold a "BEGIN NATS USER JWT" and a "BEGIN USER NKEY SEED" block)`, { cause: err });
  }
  if (/invalid (seed|prefix)|nkey|decode/i.test(msg) && s.auth === 'nkey') {
    return new BrokerAuthError(`the NKey seed is not a valid user seed (${s.nkeySeedFile ? `nkeySeedFile ${s.nkeySeedFile}` : 'options.nats.nkeySeed'})`, { cause: err });
  }
  if (/tls|ssl|certificate|self.signed|handshake|EPROTO|ERR_OSSL/i.test(msg + ' ' + (e?.code ?? '') + ' ' + String((e?.cause as Error | undefined)?.message ?? ''))) {
    return new BrokerAuthError(`TLS with NATS at ${servers} failed: ${msg} (check options.nats.tls / CELERIAC_NATS_TLS_CA, _CERT, _KEY and that the server has TLS on)`, { cause: err });
  }
  if (s.tls && name === 'TimeoutError') {
    return new BrokerAuthError(
      `TLS with NATS at ${servers}: no answer after the handshake${s.tls.certFile ? '' : ' (a server that verifies client certificates drops clients without one: give tls.certFile and tls.keyFile, or CELERIAC_NATS_TLS_CERT and _KEY)'}`,
      { cause: err },
    );
  }
  return err;
}

/** A JetStream API or publish refusal for lack of permission, as a {@link BrokerPermissionError}, or undefined. */
export function permissionError(err: unknown, doing: string): BrokerPermissionError | undefined {
  let e = err as (Error & { operation?: string; subject?: string }) | undefined;
  // nats.js wraps a refused request in a RequestError whose cause is the PermissionViolationError.
  for (let i = 0; e && i < 3 && e.name !== 'PermissionViolationError'; i++) e = e.cause as typeof e;
  if (!e || (e.name !== 'PermissionViolationError' && !/permissions violation/i.test(String(e.message ?? '')))) return undefined;
  const subject = e.subject ?? String(e.message).match(/to "([^"]+)"/)?.[1] ?? '?';
  return new BrokerPermissionError(
    `${doing}: this NATS user may not ${e.operation === 'subscription' ? 'subscribe to' : 'publish to'} "${subject}" (see the role permissions in docs/guide/security.md; streams and buckets can be created once by an admin with \`celeriac provision\`)`,
    { cause: err },
  );
}
