/**
 * Tasks for examples/02-failures: a flaky HTTP call retried with exponential back-off, a validation
 * error that is never retried, a rejected order, a slow report with a soft time limit, and a long
 * export that gets revoked.
 */
import { Reject, createApp } from '../../src/index.ts';

export const app = createApp({ name: 'failures-demo', broker: process.env.CELERIAC_BROKER_URL });

export class UpstreamError extends Error {
  override name = 'UpstreamError';
}
export class ValidationError extends Error {
  override name = 'ValidationError';
}

let calls = 0;
/** Fails twice with a 503, then answers: retried after ~100 ms and ~200 ms. */
export const fetchRates = app.task(
  'rates.fetch',
  async (ctx, currency: string) => {
    calls++;
    if (calls <= 2) throw new UpstreamError(`503 from the rates service (attempt ${ctx.retries + 1})`);
    return { currency, rate: 1.08, retries: ctx.retries };
  },
  {
    retry: {
      autoretryFor: [UpstreamError, Error],
      dontAutoretryFor: [ValidationError],
      maxRetries: 5,
      backoff: 'exponential',
      countdown: '100ms',
      jitter: false,
    },
  },
);

/** A bad amount is a ValidationError: never retried, straight to FAILURE and the dead-letter stream. */
export const charge = app.task(
  'payments.charge',
  async (_ctx, amount: number) => {
    if (amount <= 0) throw new ValidationError(`amount must be positive, got ${amount}`);
    return { charged: amount };
  },
  { retry: { autoretryFor: [Error], dontAutoretryFor: [ValidationError] } },
);

/** An order for a product that no longer exists cannot succeed: Reject sends it to the DLQ. */
export const ship = app.task('orders.ship', async (_ctx, sku: string) => {
  if (sku.startsWith('discontinued-')) throw new Reject(`product ${sku} is discontinued`);
  return { shipped: sku };
});

/** Gets 200 ms, then ctx.signal aborts: it returns what it has. */
export const report = app.task(
  'reports.build',
  async (ctx, rows: number) => {
    let done = 0;
    while (done < rows && !ctx.signal.aborted) {
      await new Promise((r) => setTimeout(r, 50));
      done++;
    }
    return { rows: done, complete: done === rows };
  },
  { softTimeLimit: '200ms', timeLimit: '2s' },
);

/** Runs until its signal aborts (here: revoked). */
export const exportAll = app.task('export.all', async (ctx) => {
  await new Promise<void>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
});
