/**
 * The app of the scheduler bench (`bench/scheduler.ts`): one task, `sched.noop(i, eta)`, declared
 * `ignoreResult`. `i` is the task's index (for the exact-delivery check) and `eta` its due time in
 * epoch ms (the same instant as the `eta` call option), so the worker can measure
 * `startedAt - eta` without any other channel. Producer and worker build the same app; only the
 * worker passes `onRun`.
 * @module
 */
import { type App, type Task, createApp } from '../../src/index.ts';

export const SCHED_TASK = 'sched.noop';

export interface SchedApp {
  app: App;
  noop: Task<[number, number], void>;
}

export function schedApp(name: string, broker: string, onRun?: (i: number, eta: number) => void): SchedApp {
  const app = createApp({ name, broker });
  const noop = app.task(
    SCHED_TASK,
    async (_ctx, i: number, eta: number) => {
      onRun?.(i, eta);
    },
    { ignoreResult: true },
  );
  return { app, noop };
}
