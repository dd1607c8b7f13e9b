/**
 * Tasks for examples/ecommerce-orders: the seed book's e-commerce case study (Chapter 13, case
 * study 1) as a saga. validate -> reserve inventory -> charge payment -> fulfil -> confirm by email;
 * a step that fails for good has the completed ones compensated in reverse (release the
 * reservation, refund the charge). Each step's queue: orders, inventory, payments, email.
 * A worker of a real deployment: `npx celeriac worker -A examples/ecommerce-orders/tasks.ts -Q orders,inventory,payments,email`
 * (or one per queue: README.md, "Workers").
 */
import { type Task, type TaskContext, createApp, isInvalidArgumentError } from '../../src/index.ts';
import { saga } from '../../plugins/saga/index.ts';
import { GatewayTimeoutError, type Order, PaymentDeclinedError, ShippingError, gateway, inventory, mailer, money, supportDesk, totalCents } from './stubs.ts';

export const app = createApp({ name: 'ecommerce-orders', broker: process.env.CELERIAC_BROKER_URL });

/** The queues, as the book's task_routes split them (critical/payment/fulfillment/notifications). */
export const QUEUES = ['orders', 'inventory', 'payments', 'email'];

/** When a backordered order's stock is checked again (the book's `countdown=3600`). */
export const RECHECK_AFTER = '1h';

export class OrderValidationError extends Error {
  override name = 'OrderValidationError';
}
export class OutOfStockError extends Error {
  override name = 'OutOfStockError';
}

/**
 * A step that fails for good hands the rest to a follow-up task (backorder, payment-failure mail,
 * support alert), as the book's `except` blocks do. Its id is the step's id + `.followup`: a step
 * redelivered after a crash publishes the same id again and the broker drops the copy, and the
 * producer knows where to find it.
 */
const followUp = <A extends unknown[]>(ctx: TaskContext, task: Task<A, unknown>, ...args: A) => task.applyAsync(args, { taskId: `${ctx.id}.followup` });

export const validateOrder = app.task(
  'orders.validate',
  async (_ctx, order: Order) => {
    if (!order.customerId) throw new OrderValidationError('missing customer');
    if (order.items.length === 0) throw new OrderValidationError('order has no items');
    const cents = totalCents(order);
    if (cents <= 0 || cents !== Math.round(order.totalAmount * 100)) throw new OrderValidationError(`total ${order.totalAmount} does not match the items (${money(cents, order.currency)})`);
    return { orderId: order.orderId, total: money(cents, order.currency) };
  },
  { queue: 'orders' },
);

export const reserveInventory = app.task(
  'inventory.reserve',
  async (ctx, order: Order) => {
    const short = inventory.shortages(order.items);
    if (short.length > 0) {
      const reason = `out of stock: ${short.join(', ')}`;
      await followUp(ctx, backorder, order, reason);
      throw new OutOfStockError(reason);
    }
    return { reservationId: inventory.reserve(order.orderId, order.items) };
  },
  { queue: 'inventory' },
);

/** Compensation of reserveInventory: the stock goes back. */
export const releaseReservation = app.task(
  'inventory.release',
  async (_ctx, _order: Order, reserved: { reservationId: string }) => {
    inventory.release(reserved.reservationId);
    return { released: reserved.reservationId };
  },
  { queue: 'inventory' },
);

/** Gateway timeouts retried before the payment fails for good. */
const CHARGE_RETRIES = 4;

/**
 * The gateway times out now and then: retried 100 ms, 200 ms, 400 ms ... later; a declined card is
 * final at once. A payment that fails for good mails the customer (the book's handle_payment_failure).
 */
export const chargePayment = app.task(
  'payments.charge',
  async (ctx, order: Order) => {
    const cents = totalCents(order);
    try {
      const transactionId = gateway.charge(order.orderId, order.paymentToken, cents, order.currency);
      return { transactionId, amount: money(cents, order.currency), attempts: ctx.retries + 1 };
    } catch (err) {
      if (err instanceof PaymentDeclinedError || ctx.retries >= CHARGE_RETRIES) await followUp(ctx, notifyCustomer, order, 'payment failed', (err as Error).message);
      throw err;
    }
  },
  { queue: 'payments', retry: { autoretryFor: [GatewayTimeoutError], maxRetries: CHARGE_RETRIES, backoff: 'exponential', countdown: '100ms', jitter: false } },
);

/** Compensation of chargePayment. */
export const refundPayment = app.task(
  'payments.refund',
  async (_ctx, order: Order, charged: { transactionId: string; amount: string }) => {
    gateway.refund(order.orderId);
    return { refunded: charged.amount };
  },
  { queue: 'payments' },
);

/** Carriers ship to these countries; anything else is the book's "Shipping Error". */
const SHIPS_TO = new Set(['US', 'CA', 'GB', 'DE', 'FR']);

export const fulfilOrder = app.task(
  'orders.fulfil',
  async (ctx, order: Order) => {
    if (!SHIPS_TO.has(order.shippingAddress.country)) {
      const reason = `no carrier ships to ${order.shippingAddress.country}`;
      await followUp(ctx, alertSupport, order, reason);
      throw new ShippingError(reason);
    }
    inventory.ship(`RES-${order.orderId}`);
    return { trackingNumber: `TRK-${order.orderId}`, carrier: 'UPS' };
  },
  { queue: 'orders' },
);

export const sendConfirmation = app.task(
  'email.confirmation',
  async (_ctx, order: Order) => {
    mailer.outbox.push({ orderId: order.orderId, to: order.email, subject: `order ${order.orderId} confirmed, tracking TRK-${order.orderId}` });
    return { sentTo: order.email };
  },
  { queue: 'email' },
);

export const notifyCustomer = app.task(
  'email.notify',
  async (_ctx, order: Order, what: string, detail: string) => {
    mailer.outbox.push({ orderId: order.orderId, to: order.email, subject: `order ${order.orderId}: ${what} (${detail})` });
    return { sentTo: order.email };
  },
  { queue: 'email' },
);

export const alertSupport = app.task(
  'support.alert',
  async (_ctx, order: Order, reason: string) => {
    supportDesk.alerts.push({ orderId: order.orderId, reason });
    return { alerted: order.orderId };
  },
  { queue: 'email' },
);

/** The order as a saga; its driver tasks run on the orders queue. */
export const placeOrder = saga('order.place', { queue: 'orders', compensationRetries: 3 })
  .step(validateOrder)
  .step(reserveInventory, releaseReservation)
  .step(chargePayment, refundPayment)
  .step(fulfilOrder)
  .step(sendConfirmation);
app.use(placeOrder);

/** Start the saga of `order` under `id` once: a redelivered caller gets the run it started. */
async function startOnce(order: Order, id: string) {
  try {
    return await placeOrder.apply(order, { id });
  } catch (err) {
    if (isInvalidArgumentError(err) && /exists already/.test(err.message)) return placeOrder.runOf(id);
    throw err;
  }
}

/** One order of a batch: starts its saga (id = this task's id) and returns the saga id. */
export const submitOrder = app.task('orders.submit', async (ctx, order: Order) => (await startOnce(order, ctx.id)).id, { queue: 'orders' });

/**
 * The book's handle_inventory_shortage: record a backorder, tell the customer, and check the stock
 * again in an hour.
 */
export const backorder = app.task(
  'inventory.backorder',
  async (ctx, order: Order, reason: string) => {
    const backorderId = `BO-${order.orderId}`;
    inventory.backorders.set(order.orderId, { backorderId, status: 'waiting' });
    const mail = await notifyCustomer.applyAsync([order, 'backordered', reason], { taskId: `${ctx.id}.mail` });
    const recheck = await recheckInventory.applyAsync([order, backorderId], { taskId: `${ctx.id}.recheck`, countdown: RECHECK_AFTER });
    return { backorderId, mailId: mail.id, recheckId: recheck.id };
  },
  { queue: 'inventory' },
);

/**
 * The book's recheck_inventory and continue_order_processing, completed: when the stock is there,
 * the order's saga starts again from the top (it reserves again, so no other order can take the
 * stock in between); when it is not, the next check is scheduled.
 */
export const recheckInventory = app.task(
  'inventory.recheck',
  async (ctx, order: Order, backorderId: string): Promise<{ status: 'resumed'; sagaId: string } | { status: 'still short'; nextRecheckId: string }> => {
    if (inventory.shortages(order.items).length > 0) {
      const next = await recheckInventory.applyAsync([order, backorderId], { taskId: `${ctx.id}.next`, countdown: RECHECK_AFTER });
      return { status: 'still short', nextRecheckId: next.id };
    }
    const run = await startOnce(order, `${ctx.id}.order`);
    inventory.backorders.set(order.orderId, { backorderId, status: 'resumed' });
    return { status: 'resumed', sagaId: run.id };
  },
  { queue: 'inventory' },
);
