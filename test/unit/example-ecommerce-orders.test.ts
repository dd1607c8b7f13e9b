/** examples/ecommerce-orders on the embedded transport: every step, compensation and stub state it promises. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ECOMMERCE_ORDERS_LINES } from '../helpers/ecommerce-orders-lines.ts';
import { runExample } from '../helpers/run-example.ts';

test('the e-commerce example runs its sagas to the promised outcomes on memory://', async () => {
  const out = await runExample('examples/ecommerce-orders/main.ts');
  const lines = out.trim().split('\n');
  assert.equal(lines.length, ECOMMERCE_ORDERS_LINES.length, out);
  ECOMMERCE_ORDERS_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re, out));
});
