/** The demo's orders: the book's sample order, then a batch with one order per outcome. */
import type { Order, OrderItem } from './stubs.ts';

const line = (productId: string, quantity: number): OrderItem => ({ productId, quantity, price: { 'PROD-001': 29.99, 'PROD-002': 49.99, 'PROD-003': 19.99 }[productId] ?? 0 });

function order(orderId: string, customer: string, items: OrderItem[], extra: Partial<Order> = {}): Order {
  const cents = items.reduce((s, i) => s + Math.round(i.price * 100) * i.quantity, 0);
  return {
    orderId,
    customerId: `CUST-${customer}`,
    email: `${customer.toLowerCase()}@example.com`,
    items,
    shippingAddress: { street: '123 Main St', city: 'Anytown', country: 'US' },
    paymentToken: 'tok_ok',
    totalAmount: cents / 100,
    currency: 'USD',
    ...extra,
  };
}

/** The book's sample order: PROD-001 x2, PROD-002 x1, 109.97 USD. */
export const SINGLE = order('ORD-1001', 'Ada', [line('PROD-001', 2), line('PROD-002', 1)]);

export const BATCH: Order[] = [
  order('ORD-2001', 'Grace', [line('PROD-001', 1)]),
  // The gateway times out twice, the third attempt goes through.
  order('ORD-2002', 'Linus', [line('PROD-002', 1)], { paymentToken: 'tok_flaky' }),
  // Declined for good: the reservation is released.
  order('ORD-2003', 'Barbara', [line('PROD-001', 3)], { paymentToken: 'tok_declined' }),
  // No carrier ships there: the charge is refunded, the reservation released, support alerted.
  order('ORD-2004', 'Edsger', [line('PROD-002', 1), line('PROD-001', 1)], { shippingAddress: { street: '1 Ice Shelf', city: 'McMurdo', country: 'AQ' } }),
  // PROD-003 is sold out: backordered, rechecked in an hour.
  order('ORD-2005', 'Margaret', [line('PROD-003', 2)]),
];
