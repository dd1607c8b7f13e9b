import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';

const NS = 1_000_000;
/** Messages asked for per pull request of a scan. */
const SCAN_BATCH = 1000;

/** One message read by {@link scanStream}. */
export interface ScannedMessage {
  seq: number;
  subject: string;
  headers: Record<string, string>;
  data: Uint8Array;
  /** When the stream stored it (epoch ms). */
  timeMs: number;
}

/** Options of {@link scanStream}. */
export interface ScanOptions {
  /** Subject filter (wildcards allowed). */
  filter: string;
  /** `all`: every message, oldest first; `last_per_subject`: the last message of each subject. */
  deliver: 'all' | 'last_per_subject';
  /** Stop after this many kept messages. */
  limit: number;
  /** Keep only messages for which this returns true. @defaultValue keep all */
  keep?: (m: ScannedMessage) => boolean;
  /** Give up on a pull that brings nothing for this long. @defaultValue 5_000 */
  expiresMs?: number;
  /** Read headers only (`data` is then empty, or the body on a server that ignores the option). @defaultValue false */
  headersOnly?: boolean;
}

/**
 * Read messages of a stream in sequence order through a short-lived ephemeral consumer (ack none,
 * memory storage, removed when done and by the server after 30 s of inactivity if this process dies):
 * no durable state is left behind. Reads no more than the consumer had pending when it was created.
 */
export async function scanStream(js: JetStreamClient, jsm: JetStreamManager, stream: string, o: ScanOptions): Promise<ScannedMessage[]> {
  // The scan ends at the stream's last message as of now: a stream written to while it is read (a
  // KV bucket whose keys are rewritten every heartbeat) must not keep the scan chasing its tail.
  const lastSeq = (await jsm.streams.info(stream)).state.last_seq;
  const name = `cel_scan_${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const ci = await jsm.consumers.add(stream, {
    name,
    filter_subject: o.filter,
    deliver_policy: o.deliver === 'all' ? DeliverPolicy.All : DeliverPolicy.LastPerSubject,
    ack_policy: AckPolicy.None,
    ...(o.headersOnly ? { headers_only: true } : {}),
    inactive_threshold: 30_000 * NS,
    mem_storage: true,
    num_replicas: 1,
  });
  const out: ScannedMessage[] = [];
  try {
    let pending = ci.num_pending;
    // At most what was pending when the consumer was created (later writes are not read).
    let budget = pending;
    let seen = 0;
    if (pending === 0) return out;
    const consumer = await js.consumers.get(stream, name);
    while (pending > 0 && budget > 0 && seen < lastSeq && out.length < o.limit) {
      const want = Math.min(pending, budget, SCAN_BATCH, o.keep ? SCAN_BATCH : o.limit - out.length);
      const batch = await consumer.fetch({ max_messages: want, expires: o.expiresMs ?? 5_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        budget--;
        seen = m.seq;
        pending = m.info.pending;
        const s: ScannedMessage = {
          seq: m.seq,
          subject: m.subject,
          headers: headerRecord(m.headers),
          data: m.data,
          timeMs: Math.floor(m.info.timestampNanos / NS),
        };
        if (s.seq <= lastSeq && (!o.keep || o.keep(s))) out.push(s);
        if (out.length >= o.limit || pending === 0 || budget === 0 || s.seq >= lastSeq) break;
      }
      batch.stop();
      if (got === 0) break;
    }
    return out;
  } finally {
    await jsm.consumers.delete(stream, name).catch(() => undefined);
  }
}

/** Headers as a plain record of the first value of each name. */
export function headerRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (h) for (const [k, v] of h) if (v[0] !== undefined && !(k in out)) out[k] = v[0];
  return out;
}
