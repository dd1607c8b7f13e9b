/**
 * The web shop's API, as a local stub (node:http): `GET /orders?page=N` answers a page of 8 orders
 * and the next page number (null after the last), `GET /fx` the EUR rate of each currency. The
 * last order of page 1 comes again at the top of page 2 (an order arrived between two reads of an
 * offset-paginated API), and two orders are broken: `clean` and `validate` find them.
 *
 * main.ts starts it on 127.0.0.1:0 and closes it. Run alone (for a worker started with the CLI):
 * `npx tsx examples/data-pipeline/stub-api.ts [port]` (default 8787) prints its URL and serves until Ctrl-C.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

const CUSTOMERS = ['Ada Byron', 'Grace Hopper', 'Alan Kay', 'Barbara Liskov', 'Ken Thompson'];
const SKUS: Array<[string, number]> = [
  ['TEA-01', 6.5],
  ['TEA-02', 7.9],
  ['CUP-01', 12],
  ['POT-01', 39],
  ['KIT-01', 24.5],
  ['BAG-01', 9.9],
];

/** 23 orders WEB-1001..WEB-1023 as the shop's JSON has them. */
const ORDERS = Array.from({ length: 23 }, (_, i) => {
  const [sku, price] = SKUS[i % SKUS.length] as [string, number];
  const currency = i % 5 === 1 ? 'USD' : i % 7 === 3 ? 'GBP' : 'EUR';
  return {
    id: `WEB-${1001 + i}`,
    placed_at: `2026-11-${i < 11 ? 22 : 23}T${String(8 + (i % 12)).padStart(2, '0')}:15:00Z`,
    sku: i === 9 ? 'TEA-99' : sku,
    quantity: 1 + (i % 3),
    unit_price: currency === 'USD' ? Math.round(price * 108) / 100 : price,
    currency: i === 17 ? 'CHF' : currency,
    customer: CUSTOMERS[i % CUSTOMERS.length],
  };
});

/** The pages as served: 8 orders each, the last of page 1 repeated first on page 2. */
export const PAGES = [ORDERS.slice(0, 8), ORDERS.slice(7, 15), ORDERS.slice(15, 23)];

/** EUR per unit of each currency. */
export const FX = { EUR: 1, USD: 0.92, GBP: 1.17 };

/** Start the stub on 127.0.0.1 (`port` 0: a free one). Resolves with its base URL and the server. */
export async function startStubApi(port = 0): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/fx') return json(200, { base: 'EUR', rates: FX });
    if (req.method === 'GET' && url.pathname === '/orders') {
      const page = Number(url.searchParams.get('page') ?? '1');
      const orders = PAGES[page - 1];
      if (!orders) return json(404, { error: `no page ${page}` });
      return json(200, { page, pages: PAGES.length, orders, next: page < PAGES.length ? page + 1 : null });
    }
    json(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { url, server } = await startStubApi(Number(process.argv[2] ?? 8787));
  process.stdout.write(`stub API on ${url} (GET /orders?page=1, GET /fx); Ctrl-C stops it\n`);
  process.once('SIGINT', () => server.close());
}
