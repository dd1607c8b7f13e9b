/**
 * The lines examples/ecommerce-orders prints, in order (test/unit and test/integration
 * example-ecommerce-orders.test.ts). Every value is deterministic: the stock counts, the charges
 * and refunds, the mail and the support alerts are the stubs' state after the sagas ran.
 */
const exact = (s: string): RegExp => new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

export const ECOMMERCE_ORDERS_LINES: readonly RegExp[] = [
  exact('worker consumes    -> email, inventory, orders, payments'),
  exact('stock before       -> PROD-001: 10, PROD-002: 5, PROD-003: 0'),
  // The book's sample order, one line per saga step, with the queue it is routed to.
  exact('  orders.validate     [orders]    -> done {"orderId":"ORD-1001","total":"109.97 USD"}'),
  exact('  inventory.reserve   [inventory] -> done {"reservationId":"RES-ORD-1001"}'),
  exact('  payments.charge     [payments]  -> done {"transactionId":"TXN-ORD-1001","amount":"109.97 USD","attempts":1}'),
  exact('  orders.fulfil       [orders]    -> done {"trackingNumber":"TRK-ORD-1001","carrier":"UPS"}'),
  exact('  email.confirmation  [email]     -> done {"sentTo":"ada@example.com"}'),
  exact('order ORD-1001     -> SUCCESS: charged 109.97 USD on attempt 1, shipped TRK-ORD-1001, confirmation mailed'),
  // The batch: a group of five orders, one per outcome.
  exact('batch              -> group of 5 orders.submit, 5 sagas started'),
  exact('order ORD-2001     -> SUCCESS: charged 29.99 USD on attempt 1, shipped TRK-ORD-2001, confirmation mailed'),
  exact('order ORD-2002     -> SUCCESS: charged 49.99 USD on attempt 3 (gateway timed out 2x, retried after >= 100 ms, >= 200 ms), shipped TRK-ORD-2002, confirmation mailed'),
  exact('order ORD-2003     -> COMPENSATED at payments.charge (PaymentDeclinedError: card declined); undone: inventory.release; follow-up: email.notify'),
  exact('order ORD-2004     -> COMPENSATED at orders.fulfil (ShippingError: no carrier ships to AQ); undone: payments.refund, inventory.release; follow-up: support.alert'),
  exact('order ORD-2005     -> COMPENSATED at inventory.reserve (OutOfStockError: out of stock: PROD-003); undone: nothing; follow-up: inventory.backorder'),
  // The recheck is really scheduled an hour ahead (read back from the result store and the delayed stream).
  exact('backorder ORD-2005 -> BO-ORD-2005, customer mailed, inventory.recheck in 1h: SCHEDULED on inventory, eta in 60 min, listed by app.scheduled()'),
  exact('restock            -> PROD-003 +5'),
  exact('recheck ORD-2005   -> run now instead of in 1h (the scheduled one is REVOKED): resumed'),
  exact('order ORD-2005     -> SUCCESS: charged 39.98 USD on attempt 1, shipped TRK-ORD-2005, confirmation mailed'),
  // The stubs afterwards: the compensations ran (stock back, ORD-2004 refunded, support alerted).
  exact('stock after        -> PROD-001: 7, PROD-002: 3, PROD-003: 3'),
  exact('reservations       -> shipped: ORD-1001, ORD-2001, ORD-2002, ORD-2005; released: ORD-2003, ORD-2004'),
  exact('payments           -> captured: ORD-1001, ORD-2001, ORD-2002, ORD-2005; refunded: ORD-2004 79.98 USD'),
  exact('mail               -> ada@example.com: order ORD-1001 confirmed, tracking TRK-ORD-1001'),
  exact('mail               -> grace@example.com: order ORD-2001 confirmed, tracking TRK-ORD-2001'),
  exact('mail               -> linus@example.com: order ORD-2002 confirmed, tracking TRK-ORD-2002'),
  exact('mail               -> barbara@example.com: order ORD-2003: payment failed (card declined)'),
  exact('mail               -> margaret@example.com: order ORD-2005: backordered (out of stock: PROD-003)'),
  exact('mail               -> margaret@example.com: order ORD-2005 confirmed, tracking TRK-ORD-2005'),
  exact('support alert      -> ORD-2004: no carrier ships to AQ'),
  exact('done'),
];

