/**
 * The app of the W4 I/O bench roles: one I/O task, `io.sleep(i, ms)`, that waits `ms` on a timer
 * (a stand-in for a network call) in an async slot of the worker's event loop. `ignoreResult: true`:
 * the bench measures slots and the event loop, not result writes. `ms = 0` skips the timer (the
 * noop ceiling of the same pipeline). Producer and worker build the same app; only the worker passes
 * hooks.
 *
 * `maxAckPending` is raised with the slot count: the queue's durable consumer allows 10,000
 * unacknowledged tasks by default (`AppOptions.maxAckPending`), which would cap 50,000 slots.
 * @module
 */
import { type App, type Task, createApp } from '../../src/index.ts';

export interface IoHooks {
  /** A task started (its slot is taken). */
  onStart?: (i: number) => void;
  /** A task's wait is over (it returns right after). */
  onDone?: (i: number) => void;
}

export interface IoApp {
  app: App;
  sleep: Task<[number, number], void>;
}

export function ioApp(name: string, broker: string, maxAckPending: number, hooks: IoHooks = {}): IoApp {
  const app = createApp({ name, broker, maxAckPending });
  const { onStart, onDone } = hooks;
  const sleep = app.task(
    'io.sleep',
    async (_ctx, i: number, ms: number) => {
      onStart?.(i);
      if (ms > 0) await new Promise<void>((r) => setTimeout(r, ms));
      onDone?.(i);
    },
    { ignoreResult: true },
  );
  return { app, sleep };
}

/** The consumer's max unacknowledged tasks for `slots` slots: twice the slots, at least the default. */
export function maxAckPendingFor(slots: number): number {
  return Math.max(10_000, 2 * slots);
}
