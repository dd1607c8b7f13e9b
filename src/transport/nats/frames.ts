import type { NatsConnection } from '@nats-io/transport-node';
import { writeDecimal } from '../../util/decimal-bytes.ts';

/**
 * The client's protocol handler, seen as the one call the publish path needs: write bytes that are
 * already NATS protocol (`HPUB …\r\n<headers><body>\r\n`) to the connection's outbound buffer,
 * which the client flushes (or keeps across a reconnect) exactly as it does its own `PUB`s.
 */
export interface ProtocolSink {
  sendCommand(cmd: Uint8Array): void;
  readonly noMorePublishing?: boolean;
  readonly info?: { readonly max_payload?: number; readonly headers?: boolean } | undefined;
  outMsgs?: number;
  outBytes?: number;
}

/**
 * The connection's protocol handler when it has the shape this module writes to (nats.js 3.x keeps it
 * on `nc.protocol`; it is not part of the typed API), else null: the caller then publishes through
 * `nc.publish()`, message by message.
 */
export function protocolSink(nc: NatsConnection): ProtocolSink | null {
  const p = (nc as unknown as { protocol?: unknown }).protocol as Partial<ProtocolSink> | undefined;
  return p && typeof p.sendCommand === 'function' ? (p as ProtocolSink) : null;
}

/** Frames are handed to the client in chunks of at most this many bytes (or one frame, when larger). */
export const FRAME_CHUNK_BYTES = 256 * 1024;

/**
 * One event-loop turn's frames for one connection: written into chunks of at most
 * {@link FRAME_CHUNK_BYTES} (a turn of large messages never becomes one giant allocation; the client
 * writes each chunk to the socket as its buffer fills, as with its own publishes) and counted in the
 * client's statistics as its own publishes are.
 */
export class FrameBatch {
  readonly #sink: ProtocolSink;
  #buf: Uint8Array;
  #from = 0;
  #at = 0;
  #msgs = 0;
  /** Bytes the caller said the turn may still need (sizes a new chunk no larger than necessary). */
  #left: number;

  /** @param upTo the turn's frames' size as estimated by {@link frameBytes}, summed. */
  constructor(sink: ProtocolSink, upTo: number) {
    this.#sink = sink;
    this.#left = upTo;
    this.#buf = new Uint8Array(Math.min(upTo, FRAME_CHUNK_BYTES));
  }

  /**
   * Append one frame ({@link writeFrame}); false, with nothing written, when the subject cannot be
   * written as it is (the caller publishes that message through the client, after {@link flush}).
   */
  add(subject: string, reply: Uint8Array | null, replyId: number, headers: Uint8Array | undefined, body: Uint8Array): boolean {
    const need = frameBytes(subject, reply, headers, body);
    this.#left -= need;
    if (this.#at + need > this.#buf.length) {
      this.flush();
      this.#buf = new Uint8Array(Math.max(need, Math.min(this.#left + need, FRAME_CHUNK_BYTES)));
      this.#from = 0;
      this.#at = 0;
    }
    const end = writeFrame(this.#buf, this.#at, subject, reply, replyId, headers, body);
    if (end < 0) return false;
    this.#at = end;
    this.#msgs++;
    return true;
  }

  /** Hand what is written so far to the client. */
  flush(): void {
    if (this.#at === this.#from) return;
    const frames = this.#buf.subarray(this.#from, this.#at);
    this.#sink.sendCommand(frames);
    if (typeof this.#sink.outMsgs === 'number') this.#sink.outMsgs += this.#msgs;
    if (typeof this.#sink.outBytes === 'number') this.#sink.outBytes += frames.length;
    this.#from = this.#at;
    this.#msgs = 0;
  }
}

/** The most bytes {@link writeFrame} writes for these parts (for a subject of ASCII characters). */
export function frameBytes(subject: string, reply: Uint8Array | null, headers: Uint8Array | undefined, body: Uint8Array): number {
  return FRAME_OVERHEAD + subject.length + (reply ? reply.length : 0) + (headers ? headers.length : 0) + body.length;
}

/** Bytes a frame adds around subject, reply, headers and body: `HPUB`, spaces, three numbers, two CRLFs. */
export const FRAME_OVERHEAD = 4 + 4 + 3 * 16 + 4;

/**
 * Write `HPUB <subject> <reply><replyId> <hlen> <hlen+blen>\r\n<headers><body>\r\n` (or `PUB …`
 * without headers) into `b` at `at`; `reply` is a prefix (ending in `.`) the decimal `replyId` is
 * appended to, or null for a message without a reply subject (an ack). Returns the offset after
 * the frame, or -1 when the subject is empty or not plain printable ASCII (nothing else may reach
 * the wire unchecked: a space or CR in it, or no subject at all, would turn the rest of the line
 * into other arguments).
 * `b` must have room for {@link FRAME_OVERHEAD} + subject + reply + headers + body bytes.
 */
export function writeFrame(b: Uint8Array, at: number, subject: string, reply: Uint8Array | null, replyId: number, headers: Uint8Array | undefined, body: Uint8Array): number {
  if (subject.length === 0) return -1;
  let i = at;
  if (headers) b[i++] = 72; // H
  b[i++] = 80; // P
  b[i++] = 85; // U
  b[i++] = 66; // B
  b[i++] = 32;
  for (let j = 0; j < subject.length; j++) {
    const c = subject.charCodeAt(j);
    if (c <= 32 || c >= 127) return -1;
    b[i++] = c;
  }
  b[i++] = 32;
  if (reply) {
    b.set(reply, i);
    i = writeDecimal(b, i + reply.length, replyId);
    b[i++] = 32;
  }
  const hlen = headers ? headers.length : 0;
  if (headers) {
    i = writeDecimal(b, i, hlen);
    b[i++] = 32;
  }
  i = writeDecimal(b, i, hlen + body.length);
  b[i++] = 13;
  b[i++] = 10;
  if (headers) {
    b.set(headers, i);
    i += hlen;
  }
  b.set(body, i);
  i += body.length;
  b[i++] = 13;
  b[i++] = 10;
  return i;
}
