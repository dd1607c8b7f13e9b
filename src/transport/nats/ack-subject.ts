/** Facts encoded in a JetStream ack subject. */
export interface AckSubjectInfo {
  stream: string;
  consumer: string;
  deliveryCount: number;
  streamSequence: number;
  consumerSequence: number;
  timestampNs: string;
  /** When the broker stored the message: epoch milliseconds (0 when unknown). */
  timestampMs: number;
  pending: number;
}

/** What an unreadable ack subject yields: a first delivery of nothing. */
const UNKNOWN: Readonly<AckSubjectInfo> = Object.freeze({ stream: '', consumer: '', deliveryCount: 1, streamSequence: 0, consumerSequence: 0, timestampNs: '0', timestampMs: 0, pending: 0 });

/** Positions of the dots of the subject being parsed (subjects have at most 12 tokens here). */
const dots = new Int32Array(16);

/**
 * The decimal number of `s` between `from` and `to`, read in place (0 when empty); `Number()` of the
 * slice when it holds anything but digits (NaN), or more than 15 (where adding digit by digit could
 * round differently).
 */
export function digits(s: string, from: number, to: number): number {
  if (to - from > 15) return Number(s.slice(from, to));
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number(s.slice(from, to));
    v = v * 10 + d;
  }
  return from < to ? v : 0;
}

/**
 * Parse `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>` (9 tokens, 2.9) or the
 * 2.10+ form with domain and account hash (`$JS.ACK.<domain>.<hash>.<stream>...`, 11–12 tokens).
 * The numbers are read in place, and only the stream, the consumer and the timestamp become
 * strings. (A worker's deliveries go through {@link parseAckDelivery}, which reads less.)
 */
export function parseAckSubject(subject: string): AckSubjectInfo {
  const n = scanDots(subject);
  if (n < 0) return { ...UNKNOWN };
  const o = n + 1 === 9 ? 2 : 4;
  const len = subject.length;
  const tsFrom = from(o + 5);
  const tsTo = to(o + 5, n, len);
  return {
    stream: subject.slice(from(o), to(o, n, len)),
    consumer: subject.slice(from(o + 1), to(o + 1, n, len)),
    deliveryCount: digits(subject, from(o + 2), to(o + 2, n, len)),
    streamSequence: digits(subject, from(o + 3), to(o + 3, n, len)),
    consumerSequence: digits(subject, from(o + 4), to(o + 4, n, len)),
    timestampNs: subject.slice(tsFrom, tsTo),
    timestampMs: tsTo - tsFrom > 6 ? digits(subject, tsFrom, tsTo - 6) : 0,
    pending: digits(subject, from(o + 6), to(o + 6, n, len)),
  };
}

/** What a delivered message's ack subject says about its delivery (the part a worker reads). */
export interface AckDelivery {
  readonly stream: string;
  readonly sequence: number;
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  /** When the broker stored the message, epoch ms (0 when unknown). */
  readonly storedAt: number;
}

/** The stream name last read: a worker's deliveries name the same few streams over and over. */
let lastStream = '';

/**
 * {@link parseAckSubject} reduced to what the worker needs for every message: the numbers, and the
 * stream name reused when it is the last one read. No string is made per message (the consumer
 * name and the nanosecond timestamp are not read), and one object.
 */
export function parseAckDelivery(subject: string): AckDelivery {
  const n = scanDots(subject);
  if (n < 0) return { stream: '', sequence: 0, deliveryCount: 1, redelivered: false, storedAt: 0 };
  const o = n + 1 === 9 ? 2 : 4;
  const len = subject.length;
  const streamFrom = from(o);
  const streamTo = to(o, n, len);
  const stream = lastStream.length === streamTo - streamFrom && subject.startsWith(lastStream, streamFrom) ? lastStream : (lastStream = subject.slice(streamFrom, streamTo));
  const deliveryCount = digits(subject, from(o + 2), to(o + 2, n, len));
  const tsFrom = from(o + 5);
  const tsTo = to(o + 5, n, len);
  return {
    stream,
    sequence: digits(subject, from(o + 3), to(o + 3, n, len)),
    deliveryCount,
    redelivered: deliveryCount > 1,
    storedAt: tsTo - tsFrom > 6 ? digits(subject, tsFrom, tsTo - 6) : 0,
  };
}

/** Record the dots of a `$JS.ACK.` subject of 9 or more tokens in {@link dots}: how many, or -1 for any other subject. */
function scanDots(subject: string): number {
  if (!subject.startsWith('$JS.ACK.')) return -1;
  let n = 0;
  for (let i = 0; i < subject.length; i++) {
    if (subject.charCodeAt(i) !== 46) continue;
    if (n === dots.length) return -1;
    dots[n++] = i;
  }
  return n + 1 < 9 ? -1 : n;
}

/** Where token `t` (≥ 1) of the parsed subject starts: just after dot `t - 1`. */
function from(t: number): number {
  return (dots[t - 1] as number) + 1;
}

/** Where token `t` ends: at dot `t`, or at the end of the subject for the last of `n + 1` tokens. */
function to(t: number, n: number, len: number): number {
  return t < n ? (dots[t] as number) : len;
}
