/**
 * The `working()` heartbeat loop: tasks that run longer than a third of the broker's AckWait are
 * told to the broker as still in progress (`+WPI`), so it does not redeliver them.
 * @module
 */
import type { TaskRun } from './task-run.ts';

/**
 * One timer per executor (unref'd) that sends `working()` every AckWait/3 for each run in `running`
 * that started at least that long ago and was not abandoned.
 */
export class WorkingHeartbeat {
  readonly #running: ReadonlySet<TaskRun>;
  readonly #everyMs: number;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param running - the executor's running tasks (read at every beat, not copied)
   * @param ackWaitMs - the broker's AckWait; beats come every third of it, at least every 250 ms
   */
  constructor(running: ReadonlySet<TaskRun>, ackWaitMs: number) {
    this.#running = running;
    this.#everyMs = Math.max(250, Math.floor(ackWaitMs / 3));
  }

  /** Start the timer; idempotent. */
  start(): void {
    if (this.#timer) return;
    const every = this.#everyMs;
    this.#timer = setInterval(() => this.#beat(every), every);
    this.#timer.unref();
  }

  /** Stop the timer (it can be started again). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #beat(threshold: number): void {
    const now = Date.now();
    for (const r of this.#running) if (!r.abandoned && now - r.startedAt >= threshold) r.msg.working();
  }
}
