import type { Msg, MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { ClosedError, PublishError, QueueFullError, RevisionMismatchError, TimeoutError } from '../../errors.ts';
import { digits } from './ack-subject.ts';
import { FrameBatch, type ProtocolSink, frameBytes, protocolSink } from './frames.ts';
import { headerBytes } from '../../protocol/limits.ts';

/** Options of {@link LeanPublisher}. */
export interface LeanPublisherOptions {
  /** Resend a message whose PubAck has not arrived after this long (same `Nats-Msg-Id`, so deduplicated). @defaultValue 2_000 */
  resendAfterMs?: number;
  /** Give up (reject) after this long without a PubAck. @defaultValue 30_000 */
  timeoutMs?: number;
  /** Maximum PubAcks outstanding; `publish()` waits for room beyond it (backpressure). @defaultValue 4096 */
  window?: number;
  /**
   * Keep re-sending a message answered with 503 (no responders: no stream, or a clustered stream
   * between leaders) for this long before rejecting it. @defaultValue 10_000
   */
  noRespondersRetryMs?: number;
  /** PubAcks arrive on `<inboxPrefix>.pa.<id>.<n>` instead of `_CEL_PA.<id>.<n>`. @defaultValue none */
  inboxPrefix?: string | undefined;
}

/** A JetStream PubAck. */
export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

interface Pending {
  subject: string;
  data: Uint8Array;
  headers: EncodedHeaders | undefined;
  firstSent: number;
  lastSent: number;
  /** Raw requests get the reply message as it is; publishes get it parsed as a PubAck. */
  raw: boolean;
  resolve(a: PubAck | Msg): void;
  reject(e: unknown): void;
}

const dec = new TextDecoder();
const EMPTY = new Uint8Array(0);

/**
 * The number at the end of a PubAck's subject (`<inbox>.<id>`, the id from `from` on), read from the
 * subject's bytes when the client keeps them (nats.js 3.x: `_msg.subject`), so no string is decoded
 * per PubAck; from `m.subject` otherwise. NaN when it holds anything but digits.
 */
export function replyId(m: Msg, from: number): number {
  const raw = (m as unknown as { _msg?: { subject?: unknown } })._msg?.subject;
  if (!(raw instanceof Uint8Array)) return digits(m.subject, from, m.subject.length);
  if (raw.length - from > 15 || raw.length <= from) return Number.NaN;
  let v = 0;
  for (let i = from; i < raw.length; i++) {
    const d = (raw[i] as number) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    v = v * 10 + d;
  }
  return v;
}

/**
 * The JetStream publish path Celeriac owns (docs/adr/0001): core `PUB` with `reply=<inbox>.<seq>`, one
 * wildcard subscription for every PubAck, a `Map` of resolvers and one sweep timer instead of a
 * request, timer and error objects per message. Messages without a PubAck are resent with the same
 * headers (the `Nats-Msg-Id` makes that idempotent), so a server restart loses nothing that was
 * acknowledged and delays what was not.
 */
export class LeanPublisher {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  /** `<inbox>.` as bytes: the reply subject of every frame, before its id. */
  readonly #replyPrefix: Uint8Array;
  /** Where whole frames are written, when the client offers it (else `nc.publish()` per message). */
  readonly #sink: ProtocolSink | null;
  readonly #pending = new Map<number, Pending>();
  readonly #resendAfterMs: number;
  readonly #timeoutMs: number;
  readonly #noRespondersRetryMs: number;
  readonly #window: number;
  readonly #roomWaiters: Array<() => void> = [];
  readonly #sweep: NodeJS.Timeout;
  #seq = 0;
  #closed = false;

  constructor(nc: NatsConnection, options: LeanPublisherOptions = {}) {
    this.#nc = nc;
    this.#resendAfterMs = options.resendAfterMs ?? 2_000;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#noRespondersRetryMs = options.noRespondersRetryMs ?? 10_000;
    this.#window = options.window ?? 4096;
    this.#inbox = `${options.inboxPrefix ? `${options.inboxPrefix}.pa` : '_CEL_PA'}.${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    this.#replyPrefix = new TextEncoder().encode(`${this.#inbox}.`);
    this.#sink = protocolSink(nc);
    nc.subscribe(`${this.#inbox}.*`, {
      callback: (_err, m) => {
        const id = replyId(m, this.#inbox.length + 1);
        const p = this.#pending.get(id);
        if (!p) return;
        // 503: nobody stores the subject right now. In a cluster that is a stream electing a new
        // leader after a node loss: keep the message and re-send it for a while (docs/guide/deployment.md).
        if (m.headers?.code === 503 && Date.now() - p.firstSent < Math.min(this.#timeoutMs, this.#noRespondersRetryMs)) return;
        this.#pending.delete(id);
        this.#wake();
        if (p.raw) {
          p.resolve(m);
          return;
        }
        const h = m.headers;
        if (h && h.code >= 300) {
          if (h.code === 503) p.reject(new PublishError(`no JetStream stream stores subject "${p.subject}" (503 no responders); is the worker/app provisioned?`));
          else p.reject(new PublishError(`publish to "${p.subject}" failed: ${h.code} ${h.description}`));
          return;
        }
        settleFromAck(p, m.data);
      },
    });
    this.#sweep = setInterval(() => this.#onSweep(), Math.min(500, this.#resendAfterMs));
    this.#sweep.unref();
  }

  /** Number of PubAcks outstanding. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Publish and resolve with the PubAck. Waits for room when the window is full.
   * @throws QueueFullError, RevisionMismatchError, PublishError, TimeoutError
   */
  publish(subject: string, data: Uint8Array, headers?: Record<string, string>, headerSize?: number): Promise<PubAck> {
    return this.#send(subject, data, headers, false, headerSize) as Promise<PubAck>;
  }

  /**
   * An idempotent request (e.g. a JetStream direct get) on the same pipeline: resolves with the reply
   * message as it is, status replies included; re-sent like a publish when no reply comes.
   */
  request(subject: string, data: Uint8Array = EMPTY): Promise<Msg> {
    return this.#send(subject, data, undefined, true) as Promise<Msg>;
  }

  #send(subject: string, data: Uint8Array, headers: Record<string, string> | undefined, raw: boolean, headerSize?: number): Promise<PubAck | Msg> {
    if (this.#closed) return Promise.reject(new ClosedError('publisher is closed'));
    // Synchronous up to the socket write unless the window is full (then wait for room).
    if (this.#pending.size >= this.#window) return this.#sendWhenRoom(subject, data, headers, raw, headerSize);
    const h = headers ? (encodedHeaders(headers, headerSize) as unknown as EncodedHeaders) : undefined;
    return new Promise<PubAck | Msg>((resolve, reject) => {
      const id = ++this.#seq;
      const now = Date.now();
      this.#pending.set(id, { subject, data, headers: h, firstSent: now, lastSent: now, raw, resolve, reject });
      if (this.#outbox.length === 0) setImmediate(this.#flushOutbox);
      this.#outbox.push(id);
    });
  }

  /**
   * Publishes of one event-loop turn leave in one socket write. They come from different microtasks
   * (each PubAck that frees room resumes a producer), and the client flushes its buffer in a
   * microtask queued by the first write, so handing each to the client at once costs about a
   * syscall per message (18 % of a producer's CPU in `npm run bench -- throughput`).
   */
  readonly #outbox: number[] = [];
  readonly #flushOutbox = (): void => {
    const ids = this.#outbox.splice(0);
    const sink = this.#sink;
    if (sink && !this.#nc.isClosed() && !sink.noMorePublishing) this.#writeFrames(sink, ids);
    else for (const id of ids) this.#publishOne(id);
  };

  /**
   * The turn's publishes as protocol frames written into shared buffers (a {@link FrameBatch}) and
   * handed to the client a chunk at a time: `nc.publish()` per message builds its `HPUB` line as a
   * string, encodes it, checks both subjects with a regular expression and queues four buffers that
   * are copied again before the write (~1 KB of garbage and 1–1.5 µs per publish). A message
   * this path does not take (a subject outside printable ASCII, a payload over the server's limit,
   * a server without headers) goes through `nc.publish()` in its place, which checks and reports it.
   */
  #writeFrames(sink: ProtocolSink, ids: readonly number[]): void {
    const maxPayload = sink.info?.max_payload ?? Number.POSITIVE_INFINITY;
    const noHeaders = sink.info?.headers === false;
    const reply = this.#replyPrefix;
    let size = 0;
    for (const id of ids) {
      const p = this.#pending.get(id);
      if (p) size += frameBytes(p.subject, reply, p.headers?.bytes, p.data);
    }
    const frames = new FrameBatch(sink, size);
    for (const id of ids) {
      const p = this.#pending.get(id);
      if (!p) continue; // settled meanwhile (closed, failed subject)
      const h = p.headers?.bytes;
      const framed = (h ? h.length : 0) + p.data.length <= maxPayload && !(h && noHeaders) && frames.add(p.subject, reply, id, h, p.data);
      if (framed) continue;
      frames.flush(); // keep the order of the turn's messages
      this.#publishOne(id);
    }
    frames.flush();
  }

  /** One publish through the client; a refusal rejects that message. */
  #publishOne(id: number): void {
    const p = this.#pending.get(id);
    if (!p) return; // settled meanwhile (closed, failed subject)
    try {
      this.#nc.publish(p.subject, p.data, { reply: `${this.#inbox}.${id}`, headers: p.headers as MsgHdrs | undefined });
    } catch (err) {
      this.#pending.delete(id);
      this.#wake();
      p.reject(new PublishError(`publish to "${p.subject}" failed: ${(err as Error).message}`, { cause: err }));
    }
  }

  async #sendWhenRoom(subject: string, data: Uint8Array, headers: Record<string, string> | undefined, raw: boolean, headerSize?: number): Promise<PubAck | Msg> {
    while (this.#pending.size >= this.#window) {
      await new Promise<void>((r) => this.#roomWaiters.push(r));
      if (this.#closed) throw new ClosedError('publisher is closed');
    }
    return this.#send(subject, data, headers, raw, headerSize);
  }

  #wake(): void {
    const w = this.#roomWaiters.shift();
    if (w) w();
  }

  #onSweep(): void {
    const now = Date.now();
    for (const [id, p] of this.#pending) {
      if (now - p.firstSent >= this.#timeoutMs) {
        this.#pending.delete(id);
        this.#wake();
        p.reject(new TimeoutError(`no PubAck for "${p.subject}" within ${this.#timeoutMs} ms; the broker may be down`));
      } else if (now - p.lastSent >= this.#resendAfterMs && !this.#nc.isClosed()) {
        p.lastSent = now;
        try {
          this.#nc.publish(p.subject, p.data, { reply: `${this.#inbox}.${id}`, headers: p.headers as MsgHdrs | undefined });
        } catch {
          /* reconnecting: the next sweep tries again */
        }
      }
    }
  }

  /**
   * Reject the messages outstanding on `subject` with `err`: the server refused to let this user
   * publish there (a permission violation, reported by the connection, not as a PubAck).
   */
  failSubject(subject: string, err: Error): void {
    for (const [id, p] of this.#pending) {
      if (p.subject !== subject) continue;
      this.#pending.delete(id);
      this.#wake();
      p.reject(err);
    }
  }

  /** Reject everything outstanding and stop. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const p of this.#pending.values()) p.reject(new ClosedError('publisher closed before the PubAck arrived'));
    this.#pending.clear();
    for (const w of this.#roomWaiters.splice(0)) w();
  }
}

/** Header blocks are written into slabs of this size, one after the other (never rewritten). */
const SLAB_BYTES = 64 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/**
 * Headers for `nc.publish()`, encoded once: the client only calls `encode()` on them. Names and
 * values are validated by the callers (docs/protocol.md §2.1); a re-send reuses the same bytes.
 * ASCII headers (all of Celeriac's own) are copied character by character into a shared slab, so
 * a publish allocates one view and no string: building the block as a string and encoding it cost
 * ~1 KB of garbage per publish (an eighth of a bulk producer's allocations). A slab is dropped when
 * its last view is (after the PubAcks). Anything else goes through `Buffer.from`.
 * @param size - their size as `headerBytes` counts it, when the caller has it (a hint:
 * a wrong one costs a slower path, never wrong bytes)
 */
export function encodedHeaders(headers: Record<string, string>, size?: number): MsgHdrs {
  const len = 12 + (size ?? headerBytes(headers)); // "NATS/1.0" and the closing "\r\n\r\n"
  if (len > SLAB_BYTES >> 3) return encodedHeadersSlow(headers);
  if (slabUsed + len > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const b = slab;
  const start = slabUsed;
  // "NATS/1.0"
  b[start] = 78;
  b[start + 1] = 65;
  b[start + 2] = 84;
  b[start + 3] = 83;
  b[start + 4] = 47;
  b[start + 5] = 49;
  b[start + 6] = 46;
  b[start + 7] = 48;
  let i = start + 8;
  for (const k in headers) {
    b[i++] = 13;
    b[i++] = 10;
    i = copyAscii(b, i, k);
    if (i < 0) return encodedHeadersSlow(headers);
    b[i++] = 58;
    b[i++] = 32;
    i = copyAscii(b, i, headers[k] as string);
    if (i < 0) return encodedHeadersSlow(headers);
  }
  b[i++] = 13;
  b[i++] = 10;
  b[i++] = 13;
  b[i++] = 10;
  // A hint smaller than the headers ran past the slab (writes there are dropped): start again.
  if (i > b.length) return encodedHeadersSlow(headers);
  slabUsed = i;
  return new EncodedHeaders(b.subarray(start, i)) as unknown as MsgHdrs;
}

/** Copy `s` into `b` from `at`, one byte per character: the offset after it, or -1 at a non-ASCII character. */
function copyAscii(b: Uint8Array, at: number, s: string): number {
  let i = at;
  for (let j = 0; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c > 127) return -1;
    b[i++] = c;
  }
  return i;
}

/** Any header block, as UTF-8 (`Buffer.from` slices Node's shared pool for short strings). */
function encodedHeadersSlow(headers: Record<string, string>): MsgHdrs {
  let s = 'NATS/1.0';
  for (const k in headers) s += `\r\n${k}: ${headers[k] as string}`;
  return new EncodedHeaders(Buffer.from(s + '\r\n\r\n', 'utf8')) as unknown as MsgHdrs;
}

/** Header bytes the client writes as they are (a class: no closure per message). */
class EncodedHeaders {
  constructor(readonly bytes: Uint8Array) {}
  encode(): Uint8Array {
    return this.bytes;
  }
}

const ACK_HEAD = new TextEncoder().encode('{"stream":"');
const ACK_SEQ = new TextEncoder().encode('"seq":');

/**
 * The common PubAck, `{"stream":"<name>","seq":<n>}` (nats-server 2.9 writes a space after the
 * comma: `{"stream":"<name>", "seq":<n>}`), read from its bytes without a string or a JSON object
 * (~0.5 µs and three allocations less per publish); null for any other form (a duplicate, a
 * domain, an error), which JSON.parse reads.
 */
export function plainPubAck(d: Uint8Array): PubAck | null {
  const head = ACK_HEAD.length;
  if (d.length < head + ACK_SEQ.length + 4) return null;
  for (let i = 0; i < head; i++) if (d[i] !== ACK_HEAD[i]) return null;
  let i = head;
  while (i < d.length && d[i] !== 34 && d[i] !== 92) i++; // the closing quote (no escapes)
  const streamEnd = i;
  if (d[i + 1] !== 44) return null; // the quote, then ','
  i += 2;
  while (d[i] === 32) i++;
  for (let j = 0; j < ACK_SEQ.length; j++, i++) if (d[i] !== ACK_SEQ[j]) return null;
  const seqFrom = i;
  let seq = 0;
  for (; i < d.length - 1; i++) {
    const c = (d[i] as number) - 48;
    if (c < 0 || c > 9) return null;
    seq = seq * 10 + c;
  }
  if (i === seqFrom || d[i] !== 125 || i !== d.length - 1) return null; // digits, then the closing brace, then the end
  return { stream: streamName(d, head, streamEnd), seq, duplicate: false };
}

/** The last stream name read from a PubAck: acks name the same few streams over and over. */
let lastStream = { bytes: new Uint8Array(0), name: '' };

function streamName(d: Uint8Array, from: number, to: number): string {
  const last = lastStream.bytes;
  if (last.length === to - from) {
    let same = true;
    for (let i = 0; i < last.length; i++) {
      if (last[i] !== d[from + i]) {
        same = false;
        break;
      }
    }
    if (same) return lastStream.name;
  }
  const bytes = d.slice(from, to);
  lastStream = { bytes, name: dec.decode(bytes) };
  return lastStream.name;
}

function settleFromAck(p: Pending, data: Uint8Array): void {
  const plain = plainPubAck(data);
  if (plain) {
    p.resolve(plain);
    return;
  }
  let ack: { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; err_code?: number; description?: string } };
  try {
    ack = JSON.parse(dec.decode(data));
  } catch {
    p.reject(new PublishError(`unreadable PubAck for "${p.subject}"`));
    return;
  }
  if (ack.error) {
    const e = ack.error;
    const desc = e.description ?? 'unknown error';
    if (e.err_code === 10071) {
      // JSStreamWrongLastSequenceErrF
      p.reject(new RevisionMismatchError(p.subject, desc));
    } else if (e.err_code === 10077 || /maximum (messages|bytes)/i.test(desc)) {
      p.reject(new QueueFullError(`the stream refused the message on "${p.subject}": ${desc}; the queue is full, retry later or raise its limits`));
    } else {
      p.reject(new PublishError(`JetStream refused the message on "${p.subject}": ${desc} (err_code ${e.err_code ?? '?'})`));
    }
    return;
  }
  p.resolve({ stream: ack.stream ?? '', seq: ack.seq ?? 0, duplicate: ack.duplicate === true });
}
