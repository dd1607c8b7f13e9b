/**
 * The app of the canvas bench roles: `add` and `tsum` (results stored in KV). Worker and producer
 * processes build the same app.
 * @module
 */
import { type App, type Task, createApp } from '../../src/index.ts';

export interface CanvasApp {
  app: App;
  add: Task<[number, number], number>;
  tsum: Task<[number[]], number>;
}

export function canvasApp(name: string, broker: string): CanvasApp {
  const app = createApp({ name, broker });
  const add = app.task('add', async (_ctx, a: number, b: number) => a + b);
  const tsum = app.task('tsum', async (_ctx, xs: number[]) => xs.reduce((s, x) => s + x, 0));
  return { app, add, tsum };
}
