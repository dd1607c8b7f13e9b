/**
 * The task the HTTP APIs (examples/express, examples/fastify) send: `reports.build` builds a report row by row and reports its progress
 * with `ctx.progress()`, which the API streams to the browser. Importing this module opens no
 * connection.
 */
import { createApp } from '../../src/index.ts';

export const app = createApp({ name: 'reports', broker: process.env.CELERIAC_BROKER_URL ?? 'memory://' });

/** The result of `reports.build`. */
export interface Report {
  title: string;
  rows: number;
}

/** I/O task: one row every 150 ms (a query, say), with a progress update after each. */
export const buildReport = app.task('reports.build', async (ctx, title: string, rows: number): Promise<Report> => {
  for (let done = 1; done <= rows; done++) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    ctx.signal.throwIfAborted();
    await ctx.progress({ done, total: rows });
  }
  return { title, rows };
});
