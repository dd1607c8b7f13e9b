import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isClosedError, isInvalidArgumentError, isMailboxFullError } from '../../../src/errors.ts';
import { Mailbox } from '../../../src/actors/kernel/index.ts';
import { flush, track } from './helpers.ts';

describe('Mailbox', { timeout: 2000 }, () => {
  test('capacity must be a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new Mailbox(bad), isInvalidArgumentError, `capacity ${bad}`);
    }
    assert.equal(new Mailbox(3).capacity, 3);
  });

  test('keeps FIFO order across ring-buffer wrap-around', async () => {
    const box = new Mailbox<number>(3);
    const out: number[] = [];
    let next = 0;
    for (let round = 0; round < 10; round++) {
      while (box.tryPost(next)) next++;
      assert.equal(box.size, 3);
      out.push((await box.take()) as number, (await box.take()) as number);
    }
    out.push(...box.drain());
    assert.deepEqual(out, Array.from({ length: next }, (_, i) => i));
  });

  test('is bounded: tryPost returns false and post throws MailboxFullError when full', () => {
    const box = new Mailbox<string>(2, 'printer');
    assert.equal(box.tryPost('a'), true);
    box.post('b');
    assert.equal(box.tryPost('c'), false);
    assert.throws(
      () => box.post('c'),
      (err: unknown) => {
        assert.ok(isMailboxFullError(err));
        assert.equal(err.code, 'E_MAILBOX_FULL');
        assert.equal(err.actor, 'printer');
        assert.equal(err.capacity, 2);
        return true;
      },
    );
    assert.equal(box.size, 2);
    assert.deepEqual(box.drain(), ['a', 'b']);
  });

  test('send waits for room until take frees a slot, and keeps its place in order', async () => {
    const box = new Mailbox<string>(1);
    await box.send('a');
    const pending = track(box.send('b'));
    await flush();
    assert.equal(pending.settled, false, 'send must wait while the mailbox is full');
    assert.equal(box.tryPost('x'), false, 'a waiting sender keeps the freed slot');
    assert.equal(await box.take(), 'a');
    await pending.promise;
    assert.equal(box.size, 1);
    assert.equal(await box.take(), 'b');
  });

  test('take waits for a message', async () => {
    const box = new Mailbox<string>(4);
    const taken = track(box.take());
    await flush();
    assert.equal(taken.settled, false);
    box.post('hello');
    assert.equal(await taken.promise, 'hello');
  });

  test('close wakes waiting takers with undefined and rejects waiting senders with ClosedError', async () => {
    const empty = new Mailbox<string>(1);
    const taker = empty.take();
    const full = new Mailbox<string>(1);
    full.post('queued');
    const sender = full.send('late');
    empty.close();
    full.close();
    assert.equal(await taker, undefined);
    await assert.rejects(sender, isClosedError);
    assert.equal(await full.take(), 'queued', 'messages queued before close stay takeable');
    assert.equal(await full.take(), undefined);
  });

  test('a closed mailbox refuses new messages', async () => {
    const box = new Mailbox<number>(2);
    box.close();
    assert.equal(box.closed, true);
    assert.equal(box.tryPost(1), false);
    assert.throws(() => box.post(1), isClosedError);
    await assert.rejects(box.send(1), isClosedError);
  });

  test('drain removes everything, including messages of waiting senders', async () => {
    const box = new Mailbox<number>(2);
    box.post(1);
    box.post(2);
    const s3 = box.send(3);
    const s4 = box.send(4);
    assert.deepEqual(box.drain(), [1, 2, 3, 4]);
    await Promise.all([s3, s4]);
    assert.equal(box.size, 0);
  });

  test('aborting a waiting send withdraws its message; aborting whenReadable rejects', async () => {
    const box = new Mailbox<number>(1);
    box.post(1);
    const ac = new AbortController();
    const sent = box.send(2, ac.signal);
    ac.abort(new Error('gave up'));
    await assert.rejects(sent, /gave up/);
    assert.deepEqual(box.drain(), [1]);

    const ac2 = new AbortController();
    const readable = box.whenReadable(ac2.signal);
    ac2.abort(new Error('stop waiting'));
    await assert.rejects(readable, /stop waiting/);
  });
});
