import type { AppOptions } from '../app/app-options.ts';
import type { SecurityOptions } from '../app/security-options.ts';
import type { NatsSecurityOptions, NatsTlsOptions } from '../transport/nats/nats-auth.ts';

/**
 * App options from the environment — the one place Celeriac reads it (besides OTEL_* read by the
 * OpenTelemetry SDK). Read lazily by the CLI, never at import time.
 *
 * | Variable | Option |
 * |---|---|
 * | `CELERIAC_BROKER_URL` | `broker` |
 * | `CELERIAC_SERIALIZER` | `serializer` |
 * | `CELERIAC_RESULT_EXPIRES` | `resultExpires` (`'1d'`, ms) |
 * | `CELERIAC_ACK_WAIT` | `ackWait` |
 * | `CELERIAC_DEFAULT_QUEUE` | `defaultQueue` |
 * | `CELERIAC_STREAM_REPLICAS` | `streamReplicas` |
 * | `CELERIAC_NATS_TOKEN` | `nats.token` |
 * | `CELERIAC_NATS_USER`, `CELERIAC_NATS_PASSWORD` | `nats.user`, `nats.pass` |
 * | `CELERIAC_NATS_NKEY_SEED_FILE` | `nats.nkeySeedFile` |
 * | `CELERIAC_NATS_CREDS` | `nats.credsFile` |
 * | `CELERIAC_NATS_TLS` (`1`/`true`) | `nats.tls: true` |
 * | `CELERIAC_NATS_TLS_CA`, `_CERT`, `_KEY` | `nats.tls.caFile`, `certFile`, `keyFile` |
 * | `CELERIAC_NATS_TLS_FIRST` (`1`/`true`) | `nats.tls.handshakeFirst` |
 * | `CELERIAC_NATS_INBOX_PREFIX` | `nats.inboxPrefix` |
 * | `CELERIAC_SIGNING_KEY`, `CELERIAC_SIGNING_KEY_ID` | `security.signingKey` (a PEM file), `security.keyId` |
 * | `CELERIAC_VERIFY_KEYS` (`id=file[,id=file]`) | `security.verifyKeys` |
 * | `CELERIAC_ENCRYPTION_KEY`, `CELERIAC_ENCRYPTION_KEY_ID` | `security.encryptionKey` (a file of base64), `security.encryptionKeyId` |
 * | `CELERIAC_SIGNED_QUEUES` (comma-separated) | `security.queues` |
 *
 * When any `CELERIAC_NATS_*` variable is set, they replace the app's `nats` option as a whole; the
 * same holds for the signing variables and `security`.
 */
export function fromEnv(env: NodeJS.ProcessEnv = process.env): AppOptions {
  const o: AppOptions = {};
  if (env.CELERIAC_BROKER_URL) o.broker = env.CELERIAC_BROKER_URL;
  if (env.CELERIAC_SERIALIZER) o.serializer = env.CELERIAC_SERIALIZER as AppOptions['serializer'];
  if (env.CELERIAC_RESULT_EXPIRES) o.resultExpires = asDuration(env.CELERIAC_RESULT_EXPIRES);
  if (env.CELERIAC_ACK_WAIT) o.ackWait = asDuration(env.CELERIAC_ACK_WAIT);
  if (env.CELERIAC_DEFAULT_QUEUE) o.defaultQueue = env.CELERIAC_DEFAULT_QUEUE;
  if (env.CELERIAC_STREAM_REPLICAS) o.streamReplicas = Number(env.CELERIAC_STREAM_REPLICAS);
  const nats = natsFromEnv(env);
  if (nats) o.nats = nats;
  const security = securityFromEnv(env);
  if (security) o.security = security;
  return o;
}

function securityFromEnv(env: NodeJS.ProcessEnv): SecurityOptions | undefined {
  const s: SecurityOptions = {};
  if (env.CELERIAC_SIGNING_KEY) s.signingKey = env.CELERIAC_SIGNING_KEY;
  if (env.CELERIAC_SIGNING_KEY_ID) s.keyId = env.CELERIAC_SIGNING_KEY_ID;
  if (env.CELERIAC_VERIFY_KEYS) {
    s.verifyKeys = Object.fromEntries(
      env.CELERIAC_VERIFY_KEYS.split(',').map((pair) => {
        const at = pair.indexOf('=');
        return at > 0 ? [pair.slice(0, at).trim(), pair.slice(at + 1).trim()] : [pair.trim(), ''];
      }),
    );
  }
  if (env.CELERIAC_ENCRYPTION_KEY) s.encryptionKey = env.CELERIAC_ENCRYPTION_KEY;
  if (env.CELERIAC_ENCRYPTION_KEY_ID) s.encryptionKeyId = env.CELERIAC_ENCRYPTION_KEY_ID;
  if (env.CELERIAC_SIGNED_QUEUES) s.queues = env.CELERIAC_SIGNED_QUEUES.split(',').map((q) => q.trim());
  return Object.keys(s).length > 0 ? s : undefined;
}

const yes = (v: string | undefined): boolean => v === '1' || v?.toLowerCase() === 'true';

function natsFromEnv(env: NodeJS.ProcessEnv): NatsSecurityOptions | undefined {
  const n: NatsSecurityOptions = {};
  if (env.CELERIAC_NATS_TOKEN) n.token = env.CELERIAC_NATS_TOKEN;
  if (env.CELERIAC_NATS_USER) n.user = env.CELERIAC_NATS_USER;
  if (env.CELERIAC_NATS_PASSWORD) n.pass = env.CELERIAC_NATS_PASSWORD;
  if (env.CELERIAC_NATS_NKEY_SEED_FILE) n.nkeySeedFile = env.CELERIAC_NATS_NKEY_SEED_FILE;
  if (env.CELERIAC_NATS_CREDS) n.credsFile = env.CELERIAC_NATS_CREDS;
  if (env.CELERIAC_NATS_INBOX_PREFIX) n.inboxPrefix = env.CELERIAC_NATS_INBOX_PREFIX;
  const tls: NatsTlsOptions = {};
  if (env.CELERIAC_NATS_TLS_CA) tls.caFile = env.CELERIAC_NATS_TLS_CA;
  if (env.CELERIAC_NATS_TLS_CERT) tls.certFile = env.CELERIAC_NATS_TLS_CERT;
  if (env.CELERIAC_NATS_TLS_KEY) tls.keyFile = env.CELERIAC_NATS_TLS_KEY;
  if (yes(env.CELERIAC_NATS_TLS_FIRST)) tls.handshakeFirst = true;
  if (Object.keys(tls).length > 0) n.tls = tls;
  else if (yes(env.CELERIAC_NATS_TLS)) n.tls = true;
  return Object.keys(n).length > 0 ? n : undefined;
}

function asDuration(v: string): string | number {
  return /^\d+$/.test(v) ? Number(v) : v;
}
