/**
 * The app every Celeriac bench role builds: `noop` (ignoreResult, takes the task's sequence number
 * so the worker can check exact delivery) and `add` (result stored in KV). Producer and worker
 * processes build the same app; only the worker passes `onNoop`.
 * @module
 */
import { type App, type Task, createApp } from '../../src/index.ts';

export interface BenchApp {
  app: App;
  noop: Task<[number], void>;
  /** Like `noop`, but its result (null) is stored in KV: e2e with results. */
  stored: Task<[number], null>;
  add: Task<[number, number], number>;
}

export function benchApp(name: string, broker: string, onNoop?: (i: number) => void): BenchApp {
  const app = createApp({ name, broker });
  const noop = app.task(
    'noop',
    async (_ctx, i: number) => {
      onNoop?.(i);
    },
    { ignoreResult: true },
  );
  const stored = app.task('stored', async (_ctx, i: number) => {
    onNoop?.(i);
    return null;
  });
  const add = app.task('add', async (_ctx, a: number, b: number) => a + b);
  return { app, noop, stored, add };
}
