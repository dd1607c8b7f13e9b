/** Facts encoded in a JetStream ack subject. */
export interface AckSubjectInfo {
  stream: string;
  consumer: string;
  deliveryCount: number;
  streamSequence: number;
  consumerSequence: number;
  timestampNs: string;
  pending: number;
}

/**
 * Parse `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>` (9 tokens, 2.9) or the
 * 2.10+ form with domain and account hash (`$JS.ACK.<domain>.<hash>.<stream>...`, 11–12 tokens).
 */
export function parseAckSubject(subject: string): AckSubjectInfo {
  const t = subject.split('.');
  const o = t.length === 9 ? 2 : 4;
  if (t.length < 9 || t[0] !== '$JS' || t[1] !== 'ACK') {
    return { stream: '', consumer: '', deliveryCount: 1, streamSequence: 0, consumerSequence: 0, timestampNs: '0', pending: 0 };
  }
  return {
    stream: t[o] as string,
    consumer: t[o + 1] as string,
    deliveryCount: Number(t[o + 2]),
    streamSequence: Number(t[o + 3]),
    consumerSequence: Number(t[o + 4]),
    timestampNs: t[o + 5] as string,
    pending: Number(t[o + 6]),
  };
}
