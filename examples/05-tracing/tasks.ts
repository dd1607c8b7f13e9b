/**
 * The orders pipeline: `orders.receive` (I/O) prices an order, `orders.checksum` (CPU, in a thread of
 * the pool) seals it with a hash and records a span of its own, `orders.notify` (I/O) confirms it.
 * server.ts chains the three. Importing this module opens no connection; every CPU thread imports it.
 */
import { createHash } from 'node:crypto';
import { isMainThread, threadId } from 'node:worker_threads';
import { trace } from '@opentelemetry/api';
import { createApp } from '../../src/index.ts';
import { registerThreadTracing } from './thread-tracing.ts';

// A CPU thread has OpenTelemetry globals of its own: without a tracer provider there, the span
// orders.checksum starts would not be recorded.
if (!isMainThread) await registerThreadTracing();

export const app = createApp({ name: 'orders', broker: process.env.CELERIAC_BROKER_URL ?? 'memory://' });

export interface OrderLine {
  sku: string;
  qty: number;
  /** Unit price in cents. */
  cents: number;
}
export interface Order {
  customer: string;
  lines: OrderLine[];
}
export interface PricedOrder extends Order {
  orderId: string;
  totalCents: number;
}
export interface SealedOrder extends PricedOrder {
  checksum: string;
}

/** I/O task: would store the order; prices it. */
export const receive = app.task('orders.receive', async (ctx, order: Order): Promise<PricedOrder> => {
  const totalCents = order.lines.reduce((sum, l) => sum + l.qty * l.cents, 0);
  return { ...order, orderId: `A-${ctx.id.slice(0, 8)}`, totalCents };
});

/** Rounds of SHA-256 per checksum: a tenth of a second of CPU or so, the reason this task runs in a thread. */
export const CHECKSUM_ROUNDS = 100_000;
const tracer = trace.getTracer('orders-example');

/**
 * CPU task: runs in a thread of the pool. Celeriac runs it in the context of its `process` span, so
 * the span it starts here is that span's child, in the request's trace.
 */
export const checksum = app.task(
  'orders.checksum',
  (_ctx, order: PricedOrder): SealedOrder =>
    tracer.startActiveSpan('checksum order', { attributes: { 'orders.rounds': CHECKSUM_ROUNDS, 'thread.id': threadId } }, (span) => {
      try {
        let h = JSON.stringify(order);
        for (let i = 0; i < CHECKSUM_ROUNDS; i++) h = createHash('sha256').update(h).digest('hex');
        return { ...order, checksum: h };
      } finally {
        span.end();
      }
    }),
  { kind: 'cpu' },
);

/** I/O task: would send an e-mail; returns the confirmation. */
export const notify = app.task(
  'orders.notify',
  async (_ctx, order: SealedOrder) =>
    `order ${order.orderId} for ${order.customer} confirmed: ${(order.totalCents / 100).toFixed(2)} EUR, checksum ${order.checksum.slice(0, 12)}`,
);
