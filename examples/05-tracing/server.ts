/**
 * The orders API (Express): `POST /orders` sends the pipeline and answers 202 with the id to ask
 * about; `GET /orders/:id` tells its state. No HTTP instrumentation is installed, so the route starts
 * its SERVER span itself (continuing the caller's trace when the request carries a `traceparent`):
 * the publishes of the chain, and everything after them, are its descendants.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, propagation, trace } from '@opentelemetry/api';
import express, { type Express } from 'express';
import { chain } from '../../src/index.ts';
import { type Order, app, checksum, notify, receive } from './tasks.ts';

const tracer = trace.getTracer('orders-api');

/** The body of `POST /orders`, checked; or the reason it is not an order. */
function parseOrder(body: unknown): Order | string {
  const o = body as Partial<Order> | undefined;
  if (typeof o?.customer !== 'string' || o.customer === '') return 'customer must be a non-empty string';
  if (!Array.isArray(o.lines) || o.lines.length === 0) return 'lines must be a non-empty array';
  for (const l of o.lines) {
    if (typeof l?.sku !== 'string' || !Number.isInteger(l.qty) || l.qty <= 0 || !Number.isInteger(l.cents) || l.cents < 0) {
      return 'each line needs a sku, a positive integer qty and integer cents';
    }
  }
  return { customer: o.customer, lines: o.lines.map(({ sku, qty, cents }) => ({ sku, qty, cents })) };
}

export function ordersApi(): Express {
  const api = express();
  api.use(express.json());

  api.post('/orders', (req, res) => {
    const caller = propagation.extract(ROOT_CONTEXT, req.headers);
    const attributes = { 'http.request.method': 'POST', 'http.route': '/orders', 'url.path': req.path };
    return tracer.startActiveSpan('POST /orders', { kind: SpanKind.SERVER, attributes }, caller, async (span) => {
      try {
        const order = parseOrder(req.body);
        if (typeof order === 'string') {
          res.status(400).json({ error: order });
        } else {
          // Published in this span's context: `apply chain` and the first `publish` are its children.
          const r = await chain(receive.s(order), checksum.s(), notify.s()).applyAsync();
          res.status(202).location(`/orders/${r.id}`).json({ id: r.id });
        }
        span.setAttribute('http.response.status_code', res.statusCode);
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    });
  });

  api.get('/orders/:id', async (req, res) => {
    const record = await app.asyncResult<string>(req.params.id).info();
    res.json({ id: req.params.id, state: record.status, result: record.result, error: record.error?.message ?? null });
  });

  return api;
}
