/**
 * The quick-start tasks: two I/O tasks, a CPU task that runs in a worker thread, a task that
 * reports progress and one that fails. Importing this module opens no connection.
 */
import { createHash } from 'node:crypto';
import { createApp } from '../../src/index.ts';

export const app = createApp({
  name: 'quickstart',
  broker: process.env.CELERIAC_BROKER_URL ?? 'memory://',
});

/** I/O task: runs in an async slot on the event loop. */
export const add = app.task('math.add', async (_ctx, a: number, b: number) => a + b);

/** I/O task that waits (like a network call) and honours cancellation. */
export const fetchGreeting = app.task('web.greet', async (ctx, name: string) => {
  await new Promise((resolve) => setTimeout(resolve, 50));
  ctx.signal.throwIfAborted();
  return `Hello, ${name}!`;
});

/** CPU task: runs in a thread of the pool, so it does not block the event loop. */
export const hash = app.task(
  'crypto.hash',
  (_ctx, data: string, rounds: number) => {
    let h = data;
    for (let i = 0; i < rounds; i++) h = createHash('sha256').update(h).digest('hex');
    return h;
  },
  { kind: 'cpu' },
);

/** Reports progress as it goes. */
export const importRows = app.task('data.import', async (ctx, rows: number) => {
  for (let done = 1; done <= rows; done++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    await ctx.progress({ done, total: rows });
  }
  return { imported: rows };
});

/** Always fails: the error travels back to the caller with its name and message. */
export const chargeCard = app.task('payments.charge', async (_ctx, cents: number) => {
  throw new RangeError(`amount ${cents} is over the card limit`);
});
