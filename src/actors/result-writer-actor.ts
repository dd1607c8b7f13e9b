import type { ResultWriteHandle, WriteOutcome } from '../results/result-backend.ts';
import type { ResultRecord } from '../results/states.ts';
import type { Logger } from '../util/logger.ts';
import type { ActorBehavior } from './kernel/index.ts';

/** One write for the result writer: the execution's fenced handle, the record, and its outcome. */
export interface ResultWriteMsg {
  handle: ResultWriteHandle;
  record: ResultRecord;
  resolve(outcome: WriteOutcome): void;
  reject(err: unknown): void;
}

/** Settings of the result writer. */
export interface ResultWriterSettings {
  /** Writes in flight at once (each waits for its broker acknowledgement). */
  maxInFlight: number;
  logger: Logger;
}

/**
 * The result writer actor: takes writes from its bounded mailbox in order and keeps at most
 * `maxInFlight` of them waiting for the broker. Senders wait when the mailbox is full
 * (backpressure reaches the executor, which then holds its task slot longer). A failed write
 * rejects its sender, who hands the task back to the queue instead of acking it.
 */
export function resultWriterActor(s: ResultWriterSettings): () => ActorBehavior<ResultWriteMsg> {
  return () => {
    let inFlight = 0;
    let room: (() => void) | undefined;
    const settle = () => {
      inFlight--;
      const r = room;
      room = undefined;
      r?.();
    };
    return {
      async receive(msg) {
        while (inFlight >= s.maxInFlight) await new Promise<void>((r) => (room = r));
        inFlight++;
        msg.handle.write(msg.record).then(
          (outcome) => {
            settle();
            msg.resolve(outcome);
          },
          (err) => {
            settle();
            msg.reject(err);
          },
        );
      },
    };
  };
}
