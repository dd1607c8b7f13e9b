import { WorkerLostError, serializeError } from '../errors.ts';
import { deadLetterHeaders, deadLetterId } from '../execution/dead-letter.ts';
import { type TaskDefinition, workerTaskDefinition } from '../execution/task-definition.ts';
import { H } from '../protocol/headers.ts';
import { isValidTaskName } from '../protocol/names.ts';
import type { ResultBackend } from '../results/result-backend.ts';
import { newRecord } from '../results/states.ts';
import type { DeadLetterStore, ExhaustedMessage, Transport } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { ActorBehavior } from './kernel/index.ts';

/** Settings of the dead-letter backstop actor. */
export interface BackstopSettings {
  transport: Pick<Transport, 'onMaxDeliveries'>;
  deadLetters: DeadLetterStore;
  backend: ResultBackend;
  /** This worker's name (recorded in the dead letter and the result). */
  worker: string;
  appName: string;
  /** The app's own definition of a task (before the process-wide registry), as the executor looks it up. */
  findDefinition?: (name: string) => TaskDefinition | undefined;
  logger: Logger;
}

/**
 * The dead-letter backstop: handles the messages the broker stopped delivering after `maxDeliver`
 * attempts (a worker died on the last one) — one worker of the app handles each (see the transport).
 */
export function deadLetterBackstopActor(s: BackstopSettings): () => ActorBehavior<never> {
  return () => {
    let off: (() => void) | undefined;
    return {
      start() {
        off = s.transport.onMaxDeliveries((m) => moveToDeadLetters(m, s));
      },
      receive() {},
      stop() {
        off?.();
      },
    };
  };
}

/** Copy an exhausted message to the dead-letter stream, record its failure, delete it from the task stream. */
export async function moveToDeadLetters(m: ExhaustedMessage, s: Omit<BackstopSettings, 'transport'>): Promise<void> {
  const id = m.headers[H.id];
  const error = serializeError(
    new WorkerLostError(
      `task ${id ?? '(no id)'} was delivered ${m.deliveries} times without finishing (its workers died, hung past the ack wait or lost their connection); moved to the dead-letter stream`,
    ),
  );
  const headers = deadLetterHeaders(Object.entries(m.headers), {
    reason: 'max-deliveries',
    error,
    attempts: m.deliveries,
    retries: Number(m.headers[H.retries] ?? 0) || 0,
    worker: s.worker,
    queue: m.queue,
    seq: m.sequence,
  });
  const name = m.headers[H.task];
  const def = name ? workerTaskDefinition(s.appName, name, s.findDefinition) : undefined;
  if (def?.deadLetter !== false) await s.deadLetters.add(m.queue, deadLetterId(id, m.sequence), headers, m.body);
  if (id && isValidTaskName(id) && m.headers[H.ignoreResult] !== 'true') {
    // As a later attempt than any delivery, so a worker still holding it cannot overwrite this.
    await s.backend.writer(id, { sequence: m.sequence, delivery: m.deliveries + 1 }).write(
      newRecord({
        status: 'FAILURE',
        taskId: id,
        name: name ?? null,
        error,
        traceback: null,
        meta: { deadLetter: def?.deadLetter !== false ? 'max-deliveries' : null },
        worker: s.worker,
        attempts: m.deliveries,
      }),
    );
  }
  await m.remove();
  s.logger.error('task reached its max deliveries: dead-lettered', { id, task: name, queue: m.queue, deliveries: m.deliveries });
}
