/**
 * The publisher's own protocol frames against a real nats-server: a turn's publishes leave as
 * `HPUB` frames written into shared buffers, and what the stream stores is exactly what was
 * published, in order, headers and bodies intact; a message the frame path does not take (a bad
 * subject, a payload over the server's `max_payload`) is refused on its own, with the client's
 * reason, and the rest of its turn is stored.
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type JetStreamManager, RetentionPolicy, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect, headers as natsHeaders } from '@nats-io/transport-node';
import { isPublishError } from '../../src/errors.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { protocolSink } from '../../src/transport/nats/frames.ts';
import { LeanPublisher, plainPubAck, replyId } from '../../src/transport/nats/lean-publisher.ts';

const enc = new TextEncoder();
const MAX_PAYLOAD = 8192;

let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
const conf = join(tmpdir(), `celeriac-lean-${process.pid}.conf`);

before(async () => {
  await writeFile(conf, `max_payload: ${MAX_PAYLOAD}\n`);
  server = await startNatsServer({ args: ['-c', conf] });
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});

after(async () => {
  await nc.close();
  await server.stop();
  await rm(conf, { force: true });
});

/** Count the `HPUB` frames the publisher hands the real connection while `fn` runs. */
async function countingFrames<T>(fn: () => Promise<T>): Promise<{ out: T; frames: number }> {
  const sink = protocolSink(nc) as NonNullable<ReturnType<typeof protocolSink>>;
  const send = sink.sendCommand;
  let frames = 0;
  sink.sendCommand = function (cmd: Uint8Array) {
    frames += Buffer.from(cmd).toString('latin1').split('HPUB ').length - 1;
    send.call(this, cmd);
  };
  try {
    return { out: await fn(), frames };
  } finally {
    delete (sink as { sendCommand?: unknown }).sendCommand; // the prototype's again
  }
}

async function stream(name: string): Promise<void> {
  await jsm.streams.add({ name, subjects: [`${name}.>`], retention: RetentionPolicy.Limits, allow_direct: true });
}

test('the client exposes the protocol handler the frame path writes to (else every publish would take the slow path)', () => {
  assert.ok(protocolSink(nc), 'nc.protocol.sendCommand is missing: the installed @nats-io client changed its internals');
});

test('the client keeps a message subject as bytes (PubAck ids are read from them, no string per PubAck)', async () => {
  const sub = nc.subscribe('probe.42', { max: 1 });
  nc.publish('probe.42', enc.encode('x'));
  for await (const m of sub) {
    assert.ok((m as unknown as { _msg?: { subject?: unknown } })._msg?.subject instanceof Uint8Array, 'Msg._msg.subject is gone: the installed @nats-io client changed its internals');
    assert.equal(replyId(m, 'probe.'.length), 42);
  }
});

test("the server's PubAcks are read from their bytes (JSON.parse only for duplicates, domains and errors)", async () => {
  await stream('PACK');
  for (const headers of [undefined, { 'Nats-Msg-Id': 'pa-1' }]) {
    const h = headers ? natsHeaders() : undefined;
    if (h) h.set('Nats-Msg-Id', 'pa-1');
    const reply = await nc.request('PACK.x', enc.encode('x'), { timeout: 5_000, ...(h ? { headers: h } : {}) });
    const ack = plainPubAck(reply.data);
    assert.ok(ack, `the fast path does not read this server's PubAck: ${new TextDecoder().decode(reply.data)}`);
    assert.equal(ack.stream, 'PACK');
  }
  await jsm.streams.delete('PACK');
});

test('a turn of publishes is stored in order with its headers and bodies, the odd one refused on its own', async () => {
  await stream('FR');
  const pub = new LeanPublisher(nc);
  try {
    const sent = Array.from({ length: 300 }, (_, i) => ({
      subject: `FR.q${i % 3}`,
      body: enc.encode(`body-${i}-${'é'.repeat(i % 5)}`),
      headers: { id: `task-${i}`, 'Nats-Msg-Id': `m-${i}`, ...(i % 7 === 0 ? { 'x-note': `café ${i}` } : {}) },
    }));
    // All in one turn; a subject with a space and a payload too big in the middle of it.
    const { out, frames } = await countingFrames(async () => {
      const acks = sent.map((m) => pub.publish(m.subject, m.body, m.headers));
      const bad = pub.publish('FR.bad subject', enc.encode('x'), { id: 'bad' });
      const tooBig = pub.publish('FR.big', new Uint8Array(MAX_PAYLOAD + 1), { id: 'big' });
      const more = pub.publish('FR.q0', enc.encode('after'), { id: 'after' });
      await Promise.allSettled([...acks, bad, tooBig, more]);
      return { acks, bad, tooBig, more };
    });
    assert.equal(frames, 301, 'the good messages left as frames written by the publisher');
    const { acks, bad, tooBig, more } = out;
    await assert.rejects(bad, (e: unknown) => isPublishError(e) && /FR\.bad subject/.test((e as Error).message));
    await assert.rejects(tooBig, (e: unknown) => isPublishError(e) && /max_payload/.test((e as Error).message));
    const seqs = (await Promise.all(acks)).map((a) => a.seq);
    assert.deepEqual(seqs, Array.from({ length: 300 }, (_, i) => i + 1), 'stored in the order published');
    assert.equal((await more).seq, 301);
    for (const i of [0, 1, 7, 150, 299]) {
      const m = sent[i] as (typeof sent)[number];
      const got = await jsm.streams.getMessage('FR', { seq: i + 1 });
      assert.ok(got);
      assert.equal(got.subject, m.subject);
      assert.deepEqual(Buffer.from(got.data), Buffer.from(m.body));
      for (const [k, v] of Object.entries(m.headers)) assert.equal(got.header.get(k), v, `${k} of message ${i}`);
    }
  } finally {
    pub.close();
  }
});

test('a turn larger than one chunk of frames is stored whole and in order', async () => {
  await stream('FB');
  const pub = new LeanPublisher(nc);
  try {
    // 80 messages of ~8 KB: ~640 KB in one turn, more than two chunks of 256 KiB.
    const bodies = Array.from({ length: 80 }, (_, i) => new Uint8Array(MAX_PAYLOAD - 200).fill(i));
    const { out, frames } = await countingFrames(() => Promise.all(bodies.map((b, i) => pub.publish('FB.x', b, { id: `big-${i}` }))));
    assert.equal(frames, 80);
    assert.deepEqual(
      out.map((a) => a.seq),
      bodies.map((_, i) => i + 1),
    );
    const last = await jsm.streams.getMessage('FB', { seq: 80 });
    assert.ok(last);
    assert.deepEqual(Buffer.from(last.data), Buffer.from(bodies[79] as Uint8Array));
  } finally {
    pub.close();
  }
});

test('a re-published Nats-Msg-Id is stored once (the frames carry the header the server deduplicates on)', async () => {
  await stream('FD');
  const pub = new LeanPublisher(nc);
  try {
    const a = await pub.publish('FD.x', enc.encode('1'), { 'Nats-Msg-Id': 'same' });
    const b = await pub.publish('FD.x', enc.encode('2'), { 'Nats-Msg-Id': 'same' });
    assert.equal(a.duplicate, false);
    assert.equal(b.duplicate, true);
    assert.equal(b.seq, a.seq);
  } finally {
    pub.close();
  }
});
