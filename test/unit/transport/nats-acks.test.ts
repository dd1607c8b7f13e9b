/**
 * Acks on NATS leave together at the end of the turn (one socket write), and a pull request takes
 * the waiting acks with it. An ack the client refuses (a connection draining at shutdown throws
 * from `publish` while not yet closed) must not take the other acks of the batch with it, nor
 * surface as an uncaught exception from the timer that sends them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Msg, NatsConnection, PublishOptions } from '@nats-io/transport-node';
import { NatsIncomingMessage, PullSubscription } from '../../../src/transport/nats/pull-subscription.ts';

interface Sent {
  subject: string;
  data: string;
  reply?: string;
}

/** A connection that records what is published; `refuse` makes publishes to that subject throw. */
function recordingConnection(refuse?: string): NatsConnection & { sent: Sent[] } {
  const sent: Sent[] = [];
  const nc = {
    sent,
    isClosed: () => false,
    publish(subject: string, data?: Uint8Array, options?: PublishOptions) {
      if (subject === refuse) throw new Error('connection draining');
      sent.push({ subject, data: Buffer.from(data ?? new Uint8Array()).toString(), ...(options?.reply ? { reply: options.reply } : {}) });
    },
    subscribe: () => ({ unsubscribe: () => undefined }),
  };
  return nc as unknown as NatsConnection & { sent: Sent[] };
}

const delivered = (reply: string) => ({ subject: 'shop.tasks.default', reply, data: new Uint8Array(), headers: undefined }) as unknown as Msg;
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

test('acks of one turn go together after it; one the client refuses does not stop the others', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => void uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    const nc = recordingConnection('$JS.ACK.refused');
    new NatsIncomingMessage(nc, 'default', delivered('$JS.ACK.a')).ack();
    new NatsIncomingMessage(nc, 'default', delivered('$JS.ACK.refused')).ack();
    new NatsIncomingMessage(nc, 'default', delivered('$JS.ACK.b')).nak();
    assert.deepEqual(nc.sent, [], 'nothing is written before the end of the turn');
    await nextTurn();
    await nextTurn();
    assert.deepEqual(nc.sent, [
      { subject: '$JS.ACK.a', data: '+ACK' },
      { subject: '$JS.ACK.b', data: '-NAK' },
    ]);
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});

test('a pull request sends the acks waiting for the end of the turn first, in the same write', async () => {
  const nc = recordingConnection();
  const sub = new PullSubscription(nc, { stream: 'shop-tasks', consumer: 'default', queue: 'default' }, () => undefined);
  try {
    new NatsIncomingMessage(nc, 'default', delivered('$JS.ACK.c')).ack();
    void sub.pull(1);
    assert.deepEqual(
      nc.sent.map((s) => [s.subject, s.data]),
      [
        ['$JS.ACK.c', '+ACK'],
        ['$JS.API.CONSUMER.MSG.NEXT.shop-tasks.default', JSON.stringify({ batch: 1, expires: 10_000_000_000 })],
      ],
    );
    await nextTurn();
    assert.equal(nc.sent.length, 2, 'the ack is not sent twice');
  } finally {
    await sub.close();
  }
});
