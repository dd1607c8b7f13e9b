/**
 * In-process stand-ins for the services the book's case study calls (inventory, payment gateway,
 * mailer, support desk), with their state in plain sight so the demo can show that compensations
 * really ran. A real deployment would call its own services here; they live in the worker's process.
 */

export interface OrderItem {
  productId: string;
  quantity: number;
  price: number;
}

export interface Order {
  orderId: string;
  customerId: string;
  email: string;
  items: OrderItem[];
  shippingAddress: { street: string; city: string; country: string };
  /** `tok_ok` is charged, `tok_flaky` times out twice first, `tok_declined` is declined. */
  paymentToken: string;
  totalAmount: number;
  currency: string;
}

/** Sum of the order lines, in cents (no float drift). */
export const totalCents = (o: Order): number => o.items.reduce((s, i) => s + Math.round(i.price * 100) * i.quantity, 0);
export const money = (cents: number, currency: string): string => `${(cents / 100).toFixed(2)} ${currency}`;

/** Stock per product; a reservation takes it out until it ships (kept) or is released (put back). */
export const inventory = {
  stock: new Map<string, number>([
    ['PROD-001', 10],
    ['PROD-002', 5],
    ['PROD-003', 0],
  ]),
  reservations: new Map<string, { orderId: string; items: OrderItem[]; status: 'held' | 'shipped' | 'released' }>(),
  backorders: new Map<string, { backorderId: string; status: 'waiting' | 'resumed' }>(),
  /** Products short for this order, or an empty list. */
  shortages(items: OrderItem[]): string[] {
    return items.filter((i) => (this.stock.get(i.productId) ?? 0) < i.quantity).map((i) => i.productId);
  },
  reserve(orderId: string, items: OrderItem[]): string {
    const id = `RES-${orderId}`;
    if (this.reservations.get(id)?.status === 'held') return id; // a redelivered step reserves once
    for (const i of items) this.stock.set(i.productId, (this.stock.get(i.productId) ?? 0) - i.quantity);
    this.reservations.set(id, { orderId, items, status: 'held' });
    return id;
  },
  release(id: string): void {
    const r = this.reservations.get(id);
    if (!r || r.status !== 'held') return; // released before: a compensation may run twice
    for (const i of r.items) this.stock.set(i.productId, (this.stock.get(i.productId) ?? 0) + i.quantity);
    r.status = 'released';
  },
  /** The parcel left: the reservation is kept for good. */
  ship(id: string): void {
    const r = this.reservations.get(id);
    if (r) r.status = 'shipped';
  },
  restock(productId: string, n: number): void {
    this.stock.set(productId, (this.stock.get(productId) ?? 0) + n);
  },
  /** `PROD-001: 7, PROD-002: 3, ...` */
  describe(): string {
    return [...this.stock].map(([p, n]) => `${p}: ${n}`).join(', ');
  },
};

export class GatewayTimeoutError extends Error {
  override name = 'GatewayTimeoutError';
}
export class PaymentDeclinedError extends Error {
  override name = 'PaymentDeclinedError';
}

/** The payment gateway: charges by order id (its idempotency key), refunds a charge once. */
export const gateway = {
  /** When each charge attempt of an order reached the gateway (epoch ms): the retries' back-off. */
  attempts: new Map<string, number[]>(),
  charges: new Map<string, { transactionId: string; cents: number; currency: string; refunded: boolean }>(),
  charge(orderId: string, token: string, cents: number, currency: string): string {
    const times = [...(this.attempts.get(orderId) ?? []), Date.now()];
    this.attempts.set(orderId, times);
    const n = times.length;
    if (token === 'tok_flaky' && n <= 2) throw new GatewayTimeoutError(`gateway timeout (attempt ${n})`);
    if (token === 'tok_declined') throw new PaymentDeclinedError('card declined');
    const existing = this.charges.get(orderId);
    if (existing) return existing.transactionId;
    const transactionId = `TXN-${orderId}`;
    this.charges.set(orderId, { transactionId, cents, currency, refunded: false });
    return transactionId;
  },
  refund(orderId: string): void {
    const c = this.charges.get(orderId);
    if (c) c.refunded = true;
  },
};

export class ShippingError extends Error {
  override name = 'ShippingError';
}

/** Mail sent, in the order it went out (the demo prints it per order). */
export const mailer = { outbox: [] as Array<{ orderId: string; to: string; subject: string }> };

/** Tickets for the support team. */
export const supportDesk = { alerts: [] as Array<{ orderId: string; reason: string }> };
