import type { EncodedTask } from '../../src/protocol/envelope.ts';
import type { IncomingMessage } from '../../src/transport/transport.ts';

/**
 * An incoming message for executor-level unit tests: delivery `deliveryCount` of stream message
 * `sequence` carrying the encoded task `t`; `settled` lists the ack verbs the executor sent.
 */
export function fakeMessage(t: EncodedTask, sequence: number, deliveryCount: number): IncomingMessage & { settled: string[] } {
  const settled: string[] = [];
  return {
    settled,
    queue: 'default',
    body: t.body,
    delivery: { stream: 'default', sequence, deliveryCount, redelivered: deliveryCount > 1 },
    header: (n) => t.headers[n],
    headerNames: () => Object.keys(t.headers),
    ack: () => void settled.push('ack'),
    nak: () => void settled.push('nak'),
    term: () => void settled.push('term'),
    working: () => undefined,
  };
}
