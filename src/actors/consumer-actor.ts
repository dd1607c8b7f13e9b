import type { Executor } from '../execution/executor.ts';
import type { SlotPool } from '../execution/slot-pool.ts';
import type { QueueSubscription, Transport } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { ActorBehavior, ActorContext } from './kernel/index.ts';

/** Messages a queue consumer understands. */
export type ConsumerMsg =
  /** Fault injection: crash this actor. */
  | { type: 'crash'; error: Error }
  /** Warm shutdown: stop intake and close the subscription; `done` is called when closed. */
  | { type: 'drain'; done: () => void }
  /**
   * The queues sharing the slots changed (one was added or the others were cancelled): give back the
   * slots held by open pull requests (close and reopen the subscription) and reopen with the intake
   * that fits, so a new queue gets its share at once, not after a pull expires.
   */
  | { type: 'rebalance' };

/** Settings of a queue consumer. */
export interface ConsumerSettings {
  queue: string;
  transport: Transport;
  slots: SlotPool;
  executor: Executor;
  logger: Logger;
  /** Largest single pull request. */
  maxBatch: number;
  /** Pull requests outstanding at once. */
  maxOutstanding: number;
  /**
   * Other queues share the slots: pulls then ask with `no_wait` (they never hold slots they cannot
   * fill), and an idle queue waits with a pull of one.
   */
  shared: () => boolean;
  /**
   * Priority bands of the queue, highest first (`[q--hi, q, q--lo]`); each is a queue of its own
   * on the broker. Without it the queue is consumed as one.
   */
  bands?: string[];
  /** Epoch ms until which the queue is paused (no fetching); 0 = not paused. */
  pausedUntil?: () => number;
}

/** Longest sleep of a paused consumer before it looks again (a pause can end early). */
const PAUSE_CHECK_MS = 250;

/** Resolve after `ms`, or at once when `signal` aborts. */
function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Wait while the queue is paused (or until `signal` aborts). */
async function whilePaused(s: ConsumerSettings, signal: AbortSignal): Promise<void> {
  for (let until = s.pausedUntil?.() ?? 0; until > Date.now() && !signal.aborted; until = s.pausedUntil?.() ?? 0) {
    await abortableDelay(Math.min(PAUSE_CHECK_MS, until - Date.now()), signal);
  }
}

/** Every this many rounds the lowest band is asked first, so a busy high band cannot starve it. */
const STARVATION_GUARD = 8;
/** How long an idle banded queue waits on one band before it asks all bands again. */
const BANDED_IDLE_WAIT_MS = 1000;

/** How long an idle queue that shares the slots waits with its pull of one before it asks again. */
const SHARED_IDLE_WAIT_MS = 1000;
/** Pause after a failed pull before the next one (the connection is down or the consumer is gone). */
const PULL_ERROR_PAUSE_MS = 250;

/**
 * One queue's intake, as an actor: a bounded loop that reserves free slots first and only then
 * asks the broker for that many messages. Crash = the loop stops, the subscription closes (messages
 * delivered to it later go back to the broker at once); tasks already running finish and ack.
 */
export function consumerActor(s: ConsumerSettings): () => ActorBehavior<ConsumerMsg> {
  return () => {
    let subs: QueueSubscription[] = [];
    let stopIntake = new AbortController();
    let drained = false;
    const closeAll = async () => {
      const all = subs;
      subs = [];
      await Promise.all(all.map((x) => x.close()));
    };
    const open = async (ctx: ActorContext<ConsumerMsg>) => {
      const onMessage = (m: Parameters<Parameters<typeof s.transport.subscribe>[1]>[0]) => s.executor.handle(m);
      const signal = AbortSignal.any([ctx.signal, stopIntake.signal]);
      if (s.bands && s.bands.length > 1) {
        for (const band of s.bands) subs.push(await s.transport.subscribe(band, onMessage));
        void bandedIntake([...subs], signal).catch((err) => ctx.fail(err));
      } else {
        subs.push(await s.transport.subscribe(s.queue, onMessage));
        const loop = s.shared() ? sharedIntake : intake;
        void loop(subs[0] as QueueSubscription, signal).catch((err) => ctx.fail(err));
      }
    };
    let context: ActorContext<ConsumerMsg> | undefined;
    return {
      async start(ctx: ActorContext<ConsumerMsg>) {
        context = ctx;
        await open(ctx);
      },
      async receive(msg) {
        if (msg.type === 'crash') throw msg.error;
        if (msg.type === 'drain') {
          drained = true;
          stopIntake.abort();
          await closeAll();
          msg.done();
        } else if (msg.type === 'rebalance' && !drained && context) {
          stopIntake.abort();
          await closeAll();
          stopIntake = new AbortController();
          await open(context);
        }
      },
      async stop() {
        await closeAll();
      },
    };
  };

  /**
   * Priority bands: for the slots reserved, ask the bands highest first with `no_wait` (each answers
   * at once with what it has), so a high-priority task is taken in the next round even behind a
   * backlog of lower ones. Every {@link STARVATION_GUARD}th round the order is reversed. When no band
   * has anything, wait on the middle band for at most a second, then ask all again.
   */
  async function bandedIntake(bands: QueueSubscription[], signal: AbortSignal): Promise<void> {
    let round = 0;
    while (!signal.aborted) {
      await whilePaused(s, signal);
      const want = s.shared() ? Math.min(s.maxBatch, Math.max(1, Math.ceil(s.slots.capacity / 2))) : s.maxBatch;
      const n = await s.slots.acquire(want, signal, 1);
      if (n === 0) break;
      if (signal.aborted) {
        s.slots.release(n);
        break;
      }
      round++;
      const order = round % STARVATION_GUARD === 0 ? [...bands].reverse() : bands;
      let left = n;
      for (const b of order) {
        if (left === 0 || signal.aborted) break;
        left -= await b.pull(left, { noWait: true }).catch(() => 0);
      }
      if (left === n && !signal.aborted) {
        const middle = bands[Math.floor(bands.length / 2)] as QueueSubscription;
        left -= await middle.pull(left, { expiresMs: BANDED_IDLE_WAIT_MS }).catch(() => 0);
      }
      s.slots.release(left);
    }
  }

  /**
   * A queue that shares the slots with other queues: a pull that waits would keep the slots it
   * cannot fill until it expires, and starve the other queues (a worker on three queues took ~20 s
   * to start a task on its third). So each pull asks with `no_wait` for what the queue has now,
   * and a queue that had nothing waits with a pull of one (at most {@link SHARED_IDLE_WAIT_MS}),
   * holding one slot while it waits. The slot pool serves waiting queues in turn.
   */
  async function sharedIntake(sub: QueueSubscription, signal: AbortSignal): Promise<void> {
    let idle = false;
    while (!signal.aborted) {
      await whilePaused(s, signal);
      if (signal.aborted) break;
      const n = await s.slots.acquire(idle ? 1 : s.maxBatch, signal, 1);
      if (n === 0) break;
      if (signal.aborted) {
        s.slots.release(n);
        break;
      }
      let failed = false;
      const delivered: number = await sub.pull(n, idle ? { expiresMs: SHARED_IDLE_WAIT_MS } : { noWait: true }).catch(() => {
        failed = true;
        return 0;
      });
      s.slots.release(n - delivered);
      idle = delivered === 0;
      if (failed) await abortableDelay(PULL_ERROR_PAUSE_MS, signal);
    }
  }

  async function intake(sub: QueueSubscription, signal: AbortSignal): Promise<void> {
    let outstanding = 0;
    let idle = false;
    let wake: (() => void) | undefined;
    const minFree = () => (outstanding > 0 ? Math.ceil(s.slots.capacity / 4) : 1);
    signal.addEventListener('abort', () => wake?.(), { once: true });
    while (!signal.aborted) {
      if (outstanding >= s.maxOutstanding || (idle && outstanding > 0)) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      await whilePaused(s, signal);
      if (signal.aborted) break;
      const want = s.maxBatch;
      // While a request is still open, wait for a worthwhile batch of free slots instead of sending
      // one pull request per freed slot. Read at every wake-up: once the last open request is
      // filled, a single free slot is worth a request (else it would idle, with tasks waiting in
      // the stream, until a quarter of the slots came free).
      let n = await s.slots.acquire(want, signal, minFree);
      if (n === 0) break;
      if (n < want && outstanding === 0 && !signal.aborted) {
        // No request is open: the slots of a batch that just ran come free together, in this
        // turn's microtasks. Ask for all of them in one request at the end of the turn, not for
        // the first one alone.
        await new Promise<void>((r) => setImmediate(r));
        n += s.slots.take(want - n);
      }
      if (signal.aborted) {
        s.slots.release(n);
        break;
      }
      outstanding++;
      sub.pull(n).then(
        (delivered) => {
          outstanding--;
          idle = delivered === 0;
          s.slots.release(n - delivered);
          if (outstanding === 0) s.slots.recheck();
          const w = wake;
          wake = undefined;
          w?.();
        },
        () => {
          outstanding--;
          s.slots.release(n);
          wake?.();
        },
      );
    }
  }
}
