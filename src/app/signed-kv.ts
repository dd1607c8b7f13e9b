import type { KeyValueStore, KvEntry, KvPutOptions } from '../transport/transport.ts';
import type { MessageSecurity } from './message-security.ts';

/**
 * A control bucket (`<app>-control`, `<app>-revoked`) whose values are signed (ADR 0010): `put`
 * seals the value, reads and watches open it and leave out entries that are unsigned or badly
 * signed (counted as `celeriac.security.rejected{kind=kv}`). Deletes carry no value and cannot be
 * signed: NATS permissions must keep them to admins (docs/guide/security.md).
 */
export function signedKv(kv: KeyValueStore, security: MessageSecurity, onReject: (key: string) => void): KeyValueStore {
  const open = (e: KvEntry): KvEntry | null => {
    if (e.operation !== 'PUT') return e;
    const value = security.openKv(kv.bucket, e.key, e.value);
    if (value === null) {
      onReject(e.key);
      return null;
    }
    return { key: e.key, value, revision: e.revision, operation: e.operation };
  };
  return {
    bucket: kv.bucket,
    async get(key) {
      const e = await kv.get(key);
      return e ? open(e) : null;
    },
    put(key: string, value: Uint8Array, options?: KvPutOptions) {
      return kv.put(key, security.sealKv(kv.bucket, key, value), options);
    },
    delete: (key) => kv.delete(key),
    watchKey(key, onEntry) {
      return kv.watchKey(key, (e) => {
        const o = open(e);
        if (o) onEntry(o);
      });
    },
    async entries(limit) {
      const out: KvEntry[] = [];
      for (const e of await kv.entries(limit)) {
        const o = open(e);
        if (o) out.push(o);
      }
      return out;
    },
    watchAll(onEntry) {
      return kv.watchAll((e) => {
        const o = open(e);
        if (o) onEntry(o);
      });
    },
  };
}
