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
  | { type: 'drain'; done: () => void };

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
  /** Other queues share the slots: an idle queue then holds one slot, not all of them. */
  shared: () => boolean;
}

/**
 * One queue's intake, as an actor: a bounded loop that reserves free slots first and only then
 * asks the broker for that many messages. Crash = the loop stops, the subscription closes (messages
 * delivered to it later go back to the broker at once); tasks already running finish and ack.
 */
export function consumerActor(s: ConsumerSettings): () => ActorBehavior<ConsumerMsg> {
  return () => {
    let sub: QueueSubscription | undefined;
    const stopIntake = new AbortController();
    return {
      async start(ctx: ActorContext<ConsumerMsg>) {
        sub = await s.transport.subscribe(s.queue, (m) => void s.executor.handle(m));
        const active = sub;
        const signal = AbortSignal.any([ctx.signal, stopIntake.signal]);
        void intake(active, signal).catch((err) => ctx.fail(err));
      },
      async receive(msg) {
        if (msg.type === 'crash') throw msg.error;
        if (msg.type === 'drain') {
          stopIntake.abort();
          await sub?.close();
          sub = undefined;
          msg.done();
        }
      },
      async stop() {
        await sub?.close();
        sub = undefined;
      },
    };
  };

  async function intake(sub: QueueSubscription, signal: AbortSignal): Promise<void> {
    let outstanding = 0;
    let idle = false;
    let wake: (() => void) | undefined;
    signal.addEventListener('abort', () => wake?.(), { once: true });
    while (!signal.aborted) {
      if (outstanding >= s.maxOutstanding || (idle && outstanding > 0)) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      const want = idle && s.shared() ? 1 : s.maxBatch;
      // While a request is still open, wait for a worthwhile batch of free slots instead of sending
      // one pull request per freed slot.
      const min = outstanding > 0 ? Math.ceil(s.slots.capacity / 4) : 1;
      const n = await s.slots.acquire(want, signal, min);
      if (n === 0) break;
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
