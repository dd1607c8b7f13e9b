import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { DeliveryInfo, IncomingMessage, PullOptions, QueueSubscription } from '../transport.ts';
import { parseAckDelivery } from './ack-subject.ts';
import { FrameBatch, frameBytes, protocolSink } from './frames.ts';
import { H, HEADER_NAMES } from '../../protocol/headers.ts';

/** Options of {@link PullSubscription}. */
export interface PullSubscriptionOptions {
  stream: string;
  consumer: string;
  queue: string;
  /** How long the server holds an unfilled pull request. @defaultValue 10_000 */
  expiresMs?: number;
  /** Messages arrive on `<inboxPrefix>.pull.<id>.<n>` instead of `_CEL_PULL.<id>.<n>`. @defaultValue none */
  inboxPrefix?: string | undefined;
  /** Called when the consumer disappeared on the server (409 Consumer Deleted). */
  onConsumerGone?: () => void;
  onWarning?: (msg: string) => void;
}

interface PullRequest {
  id: number;
  batch: number;
  delivered: number;
  deadline: number;
  resolve(delivered: number): void;
}

const enc = new TextEncoder();
/** Header blocks are decoded with this (half the cost of `Buffer#toString('utf8')` for a short block). */
const headerDecoder = new TextDecoder();
const ACK = enc.encode('+ACK');
const NAK = enc.encode('-NAK');
const TERM = enc.encode('+TERM');
const WPI = enc.encode('+WPI');

/**
 * Credit-based JetStream pull consumer on one persistent wildcard inbox. Each `pull(n)` is one pull
 * request `{batch: n, expires}` with reply `<inbox>.<requestId>`. Statuses (408 timeout, 409) arrive
 * on that reply subject and end their request; delivered messages keep their stream subject and are
 * counted against the oldest open request (the server fills waiting requests in order; a 408's
 * `Nats-Pending-Messages` corrects the count). The worker never holds more messages than it asked
 * for, and asks only for free slots: no message waits in a client buffer while its AckWait runs.
 */
export class PullSubscription implements QueueSubscription {
  readonly #nc: NatsConnection;
  readonly #o: Required<Omit<PullSubscriptionOptions, 'onConsumerGone' | 'onWarning' | 'inboxPrefix'>> & PullSubscriptionOptions;
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #requests = new Map<number, PullRequest>();
  readonly #sweep: NodeJS.Timeout;
  readonly #nextSubject: string;
  #seq = 0;
  #closed = false;

  constructor(nc: NatsConnection, options: PullSubscriptionOptions, private readonly onMessage: (m: IncomingMessage) => void) {
    this.#nc = nc;
    this.#o = { expiresMs: 10_000, ...options };
    this.#inbox = `${options.inboxPrefix ? `${options.inboxPrefix}.pull` : '_CEL_PULL'}.${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    this.#nextSubject = `$JS.API.CONSUMER.MSG.NEXT.${options.stream}.${options.consumer}`;
    this.#sub = nc.subscribe(`${this.#inbox}.*`, { callback: (_e, m) => this.#onMsg(m) });
    this.#sweep = setInterval(() => this.#onSweep(), 1000);
    this.#sweep.unref();
  }

  pull(n: number, options?: PullOptions): Promise<number> {
    if (this.#closed || n <= 0) return Promise.resolve(0);
    const noWait = options?.noWait === true;
    return new Promise((resolve) => {
      const id = ++this.#seq;
      // The server ends the request after `expires`; the local deadline adds slack for requests lost
      // in a reconnect (the server forgets them and sends no 408).
      const expiresMs = options?.expiresMs ?? this.#o.expiresMs;
      const req: PullRequest = { id, batch: n, delivered: 0, deadline: Date.now() + expiresMs + 5_000, resolve };
      this.#requests.set(id, req);
      // The acks waiting for the end of this turn go now, with the pull: the ack that freed a slot
      // and the pull for that slot leave in one socket write (a worker with few slots pulls once
      // per task), and the pull is not delayed.
      flushSoon();
      try {
        // no_wait: the server delivers what it has and ends the request with a 404 status.
        const body = noWait ? { batch: n, no_wait: true } : { batch: n, expires: expiresMs * 1_000_000 };
        this.#nc.publish(this.#nextSubject, enc.encode(JSON.stringify(body)), {
          reply: `${this.#inbox}.${id}`,
        });
      } catch {
        this.#end(req);
      }
    });
  }

  /** Forget every outstanding request (after a reconnect the server no longer has them). */
  resetRequests(): void {
    for (const r of [...this.#requests.values()]) this.#end(r);
  }

  /** The server says `r` got `actual` messages: move any difference to the next open request. */
  #reconcile(r: PullRequest, actual: number): void {
    let extra = r.delivered - actual;
    if (extra <= 0) return;
    r.delivered = actual;
    for (const o of this.#requests.values()) {
      if (o === r) continue;
      const room = o.batch - o.delivered;
      const k = Math.min(room, extra);
      o.delivered += k;
      extra -= k;
      if (o.delivered >= o.batch) this.#end(o);
      if (extra === 0) break;
    }
  }

  #end(r: PullRequest): void {
    if (this.#requests.delete(r.id)) r.resolve(r.delivered);
  }

  #onSweep(): void {
    const now = Date.now();
    for (const r of this.#requests.values()) if (now >= r.deadline) this.#end(r);
  }

  #onMsg(m: Msg): void {
    const isDelivery = m.reply?.startsWith('$JS.ACK.') === true;
    const h = isDelivery ? undefined : m.headers;
    if (h && h.code > 0) {
      // Status message on the request's own reply subject: 100 heartbeat, 404/408 over, 409 conflict.
      if (h.code === 100) return;
      const req = this.#requests.get(Number(m.subject.slice(this.#inbox.length + 1)));
      if (h.code === 409 && /consumer deleted/i.test(h.description)) this.#o.onConsumerGone?.();
      else if (h.code === 409) this.#o.onWarning?.(`pull request ended: 409 ${h.description}`);
      if (req) {
        const pending = Number(h.get('Nats-Pending-Messages'));
        if (h.has('Nats-Pending-Messages') && Number.isInteger(pending)) this.#reconcile(req, req.batch - pending);
        this.#end(req);
      }
      return;
    }
    if (!m.reply) return;
    // Delivered messages keep their own subject, so they are attributed to the oldest open request:
    // the server fills waiting pull requests in order.
    let req: PullRequest | undefined;
    for (const r of this.#requests.values()) {
      if (r.delivered < r.batch) {
        req = r;
        break;
      }
    }
    if (!req || this.#closed) {
      // A message for a request we already gave up on: hand it back at once rather than exceed credit.
      this.#nc.publish(m.reply, NAK);
      return;
    }
    req.delivered++;
    if (req.delivered >= req.batch) this.#end(req);
    this.onMessage(new NatsIncomingMessage(this.#nc, this.#o.queue, m));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    this.resetRequests();
    if (!this.#nc.isClosed()) this.#sub.unsubscribe();
  }
}

/** A delivered JetStream message. Acks are fire-and-forget `+ACK` publishes (see ADR 0001). */
export class NatsIncomingMessage implements IncomingMessage {
  #delivery: DeliveryInfo | undefined;
  #settled = false;
  constructor(
    private readonly nc: NatsConnection,
    readonly queue: string,
    private readonly m: Msg,
  ) {}
  /** Parsed from the ack subject on first use. */
  get delivery(): DeliveryInfo {
    this.#delivery ??= parseAckDelivery(this.m.reply as string);
    return this.#delivery;
  }
  get body(): Uint8Array {
    return this.m.data;
  }
  #headers: HeaderPairs | undefined;
  #pairs(): HeaderPairs {
    if (this.#headers === undefined) {
      this.#headers = new HeaderPairs();
      readHeaderPairs(this.m, this.#headers);
    }
    return this.#headers;
  }
  header(name: string): string | undefined {
    return this.#pairs().get(name);
  }
  headerNames(): Iterable<string> {
    return this.#pairs().names;
  }
  releaseHeaders(): void {
    this.#headers = undefined;
  }
  #send(payload: Uint8Array): void {
    if (this.#settled) return;
    this.#settled = true;
    sendSoon(this.nc, this.m.reply as string, payload);
  }
  ack(): void {
    this.#send(ACK);
  }
  nak(delayMs?: number): void {
    this.#send(delayMs && delayMs > 0 ? enc.encode(`-NAK ${JSON.stringify({ delay: Math.round(delayMs * 1_000_000) })}`) : NAK);
  }
  term(): void {
    // Plain +TERM: a reason is ignored by nats-server < 2.10.4 (the message would be redelivered).
    this.#send(TERM);
  }
  working(): void {
    if (!this.#settled && !this.nc.isClosed()) this.nc.publish(this.m.reply as string, WPI);
  }
}

/**
 * Status code of a reply (`NATS/1.0 404 No Messages` → 404), 0 when it has none, read from the raw
 * header block without building nats.js' header object.
 */
export function statusCode(m: Msg): number {
  const raw = m as unknown as { _msg?: { hdr?: number }; _rdata?: Uint8Array };
  const len = raw._msg?.hdr ?? -1;
  const data = raw._rdata;
  if (len <= 0) return 0;
  if (!(data instanceof Uint8Array) || data.length < len) return m.headers?.code ?? 0;
  // "NATS/1.0" then an optional " <code> <description>" on the first line.
  const end = Math.min(len, 64);
  const line = Buffer.from(data.buffer, data.byteOffset, end).toString('latin1').split('\r\n', 1)[0] ?? '';
  const code = Number(line.split(' ', 2)[1]);
  return Number.isInteger(code) ? code : 0;
}

/**
 * Headers whose values repeat across messages (task name, producer, content type, flags): shared
 * strings, so the decoded task a running task keeps holds no copies of its own. (The parsed headers
 * themselves are dropped while the task runs: `releaseHeaders`.)
 */
const INTERNED_VALUES: ReadonlySet<string> = new Set([H.task, H.origin, H.lang, H.contentType, H.ignoreResult, H.retries, H.priority, H.timelimit, H.keyId, H.encryption]);
/** Bounded: a producer naming many distinct values only empties the cache now and then. */
const VALUE_CACHE_MAX = 1024;
const valueCache = new Map<string, string>();
function internValue(v: string): string {
  const hit = valueCache.get(v);
  if (hit !== undefined) return hit;
  if (v.length > 200) return v;
  if (valueCache.size >= VALUE_CACHE_MAX) valueCache.clear();
  valueCache.set(v, v);
  return v;
}

/**
 * The protocol's header names, recognised in the raw block without slicing them: the map is keyed
 * by these constant strings (their hash is computed once), and a known name whose value repeats
 * (the task name, the producer, the content type) reuses the last value it had.
 */
const KNOWN_NAMES: readonly string[] = [...HEADER_NAMES];
/** Indexes into {@link KNOWN_NAMES} by name length. */
const KNOWN_BY_LENGTH: (number[] | undefined)[] = [];
KNOWN_NAMES.forEach((name, k) => (KNOWN_BY_LENGTH[name.length] ??= []).push(k));
const KNOWN_INTERNED: readonly boolean[] = KNOWN_NAMES.map((name) => INTERNED_VALUES.has(name));
/** Last value of each interned known name (one string each: bounded). */
const lastKnownValue: (string | undefined)[] = KNOWN_NAMES.map(() => undefined);

/** Index of the known name `s` holds from `from` to `to`, or -1. */
function knownName(s: string, from: number, to: number): number {
  const candidates = KNOWN_BY_LENGTH[to - from];
  if (candidates === undefined) return -1;
  for (let c = 0; c < candidates.length; c++) {
    const k = candidates[c] as number;
    if (s.startsWith(KNOWN_NAMES[k] as string, from)) return k;
  }
  return -1;
}

/**
 * Header map of a delivered message (first value per name). Parses the raw header block when the
 * client exposes it: `MsgHdrs` builds canonical keys and copies its key list on every call, which
 * is most of the per-message client cost for a task with a handful of headers.
 */
export function readHeaders(m: Msg): Map<string, string> {
  const h = new HeaderPairs();
  readHeaderPairs(m, h);
  const out = new Map<string, string>();
  for (let k = 0; k < h.names.length; k++) out.set(h.names[k] as string, h.values[k] as string);
  return out;
}

/** Headers past which {@link HeaderPairs} keeps an index: a hostile block may carry thousands. */
const INDEX_FROM = 16;

/**
 * A message's headers as two parallel arrays (first value per name, in block order). A task has a
 * handful of headers, each looked up once: a scan of a few constant strings costs less than
 * building a `Map` for them. Past {@link INDEX_FROM} headers, lookups go through a `Map`, so a
 * block of many headers costs linear time, not quadratic.
 */
export class HeaderPairs {
  readonly names: string[] = [];
  readonly values: string[] = [];
  #index: Map<string, number> | undefined;
  get(name: string): string | undefined {
    const k = this.#find(name);
    return k < 0 ? undefined : this.values[k];
  }
  /** Add a header; a name already present keeps its first value. */
  add(name: string, value: string): void {
    if (this.#find(name) >= 0) return;
    if (this.#index !== undefined) this.#index.set(name, this.names.length);
    else if (this.names.length >= INDEX_FROM) {
      this.#index = new Map(this.names.map((n, k) => [n, k]));
      this.#index.set(name, this.names.length);
    }
    this.names.push(name);
    this.values.push(value);
  }
  #find(name: string): number {
    return this.#index !== undefined ? (this.#index.get(name) ?? -1) : this.names.indexOf(name);
  }
}

/** Fill `out` (empty) with the headers of `m`, as {@link readHeaders} reads them. */
export function readHeaderPairs(m: Msg, out: HeaderPairs): void {
  const raw = m as unknown as { _msg?: { hdr?: number }; _rdata?: Uint8Array };
  const len = raw._msg?.hdr ?? -1;
  const data = raw._rdata;
  if (len > 0 && data instanceof Uint8Array && data.length >= len) {
    const s = headerDecoder.decode(data.subarray(0, len));
    let i = s.indexOf('\r\n');
    if (i < 0 || !s.startsWith('NATS/')) return fromMsgHdrs(m, out);
    i += 2;
    while (i < s.length) {
      const end = s.indexOf('\r\n', i);
      const stop = end < 0 ? s.length : end;
      if (stop === i) break;
      const colon = s.indexOf(':', i);
      if (colon > i && colon < stop) {
        const known = knownName(s, i, colon);
        const k = known >= 0 ? (KNOWN_NAMES[known] as string) : s.slice(i, colon);
        // The value as `trim()` gives it, sliced once in the usual case (`: value`, printable
        // ASCII at both ends); anything else is trimmed as before.
        let from = colon + 1;
        while (from < stop && s.charCodeAt(from) === 0x20) from++;
        const plain = from === stop || (isPlain(s.charCodeAt(from)) && isPlain(s.charCodeAt(stop - 1)));
        let v: string;
        if (known >= 0 && KNOWN_INTERNED[known] === true) {
          const last = lastKnownValue[known];
          if (plain && last !== undefined && last.length === stop - from && s.startsWith(last, from)) v = last;
          else {
            v = internValue(plain ? s.slice(from, stop) : s.slice(from, stop).trim());
            if (v.length <= 200) lastKnownValue[known] = v;
          }
        } else v = plain ? s.slice(from, stop) : s.slice(from, stop).trim();
        out.add(k, v); // the first value of a repeated name is kept
      }
      i = stop + 2;
    }
    return;
  }
  fromMsgHdrs(m, out);
}

/** A printable ASCII character other than space: never removed by `trim()`. */
function isPlain(c: number): boolean {
  return c > 0x20 && c < 0x7f;
}

function fromMsgHdrs(m: Msg, out: HeaderPairs): void {
  const h = m.headers;
  if (h) for (const [k, v] of h) if (v[0] !== undefined) out.add(k, v[0]);
}

// Acks of one event-loop turn leave in one socket write: tasks finish in different microtasks, and
// the client flushes its buffer in a microtask queued by the first write, so writing each ack at
// once costs a syscall per ack. A pull request sends the waiting acks with it.
type QueuedAck = [NatsConnection, string, Uint8Array];
let batch: QueuedAck[] = [];
function sendSoon(nc: NatsConnection, subject: string, payload: Uint8Array): void {
  if (batch.length === 0) setImmediate(flushSoon);
  batch.push([nc, subject, payload]);
}
function flushSoon(): void {
  if (batch.length === 0) return;
  const b = batch;
  batch = [];
  // One connection in practice (a worker's): the turn's acks as PUB frames in one buffer.
  const nc = (b[0] as QueuedAck)[0];
  const sink = b.every((e) => e[0] === nc) && !nc.isClosed() ? protocolSink(nc) : null;
  if (sink && !sink.noMorePublishing) {
    let size = 0;
    for (const [, subject, payload] of b) size += frameBytes(subject, null, undefined, payload);
    const frames = new FrameBatch(sink, size);
    for (const [, subject, payload] of b) {
      if (frames.add(subject, null, 0, undefined, payload)) continue;
      frames.flush();
      sendOne(nc, subject, payload); // not a subject the server made: let the client judge it
    }
    frames.flush();
    return;
  }
  for (const [c, subject, payload] of b) sendOne(c, subject, payload);
}

function sendOne(nc: NatsConnection, subject: string, payload: Uint8Array): void {
  if (nc.isClosed()) return;
  try {
    nc.publish(subject, payload);
  } catch {
    // An ack that cannot go (the connection is closing): the broker redelivers after AckWait,
    // and the rest of the batch must still go.
  }
}
