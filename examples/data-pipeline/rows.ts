/**
 * The data of examples/data-pipeline, without I/O: the row shapes, the rules of each step
 * (validate, clean, enrich, aggregate), the generated table and CSV reading and writing. The tasks
 * in tasks.ts call these; each function takes what it needs and returns a new value.
 */

/** The three sources, in the order the pipeline lists them. */
export const SOURCES = ['api', 'csv', 'table'] as const;
export type Source = (typeof SOURCES)[number];

/** A row as extracted: field values as the source gave them (strings from CSV, numbers from JSON). */
export interface RawRow {
  /** Where the row came from, for the rejection report: `page 2 #3`, `berlin.csv:4`, `row 13`. */
  ref: string;
  orderId: unknown;
  date: unknown;
  sku: unknown;
  qty: unknown;
  unitPrice: unknown;
  currency: unknown;
  customer: unknown;
}

/** A row that passed validation: every field present and readable, not normalised yet. */
export interface ValidRow {
  ref: string;
  orderId: string;
  date: string;
  sku: string;
  qty: number;
  unitPrice: number;
  currency: string;
  customer: string;
}

/** A cleaned and enriched row: what is loaded into `orders.csv`. */
export interface OrderRow {
  orderId: string;
  channel: Source;
  date: string;
  sku: string;
  product: string;
  category: string;
  qty: number;
  unitPrice: number;
  currency: string;
  amountEur: number;
  customer: string;
}

/** A row validation refused, with the reason: counted, reported and loaded into `rejected.csv`. */
export interface Rejected {
  source: Source;
  ref: string;
  reason: string;
}

/** What one source's branch hands on from step to step: the rows, and what each step counted. */
export interface Batch<R> {
  source: Source;
  extracted: number;
  rows: R[];
  rejected: Rejected[];
  /** Rows `clean` dropped as repeats of an order already seen in this source. */
  duplicates: number;
  /** Rows `clean` changed (whitespace, case, date format). */
  normalised: number;
}

/** Currency rates to EUR, as the rates endpoint of the API answers them. */
export type FxRates = Record<string, number>;

/** Products by SKU: the reference data `enrich` adds. */
export const CATALOGUE: Readonly<Record<string, { product: string; category: string }>> = {
  'TEA-01': { product: 'Sencha green tea', category: 'tea' },
  'TEA-02': { product: 'Assam black tea', category: 'tea' },
  'CUP-01': { product: 'Stoneware mug', category: 'tableware' },
  'POT-01': { product: 'Cast-iron teapot', category: 'tableware' },
  'KIT-01': { product: 'Tasting kit', category: 'gifts' },
  'BAG-01': { product: 'Tote bag', category: 'accessories' },
};

const CURRENCIES = ['EUR', 'USD', 'GBP'];
const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const round2 = (n: number): number => Math.round(n * 100) / 100;

/** `2026-11-23`, `23/11/2026` or an ISO timestamp, as `YYYY-MM-DD`; null when it is none of them. */
export function isoDate(v: string): string | null {
  const s = v.trim();
  const dmy = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(s);
  const ymd = dmy ? `${dmy[3]}-${dmy[2]}-${dmy[1]}` : /^(\d{4}-\d{2}-\d{2})(T[\d:.]+Z)?$/.exec(s)?.[1];
  if (!ymd) return null;
  const d = new Date(`${ymd}T00:00:00Z`);
  return Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== ymd ? null : ymd;
}

/** Why a row cannot be loaded, or null when it can. The first broken rule is the reason. */
function problem(r: RawRow): string | null {
  if (text(r.orderId).trim() === '') return 'missing order id';
  if (isoDate(text(r.date)) === null) return `date ${JSON.stringify(text(r.date))} is not a date`;
  const sku = text(r.sku).trim().toUpperCase();
  if (sku === '') return 'missing sku';
  if (!(sku in CATALOGUE)) return `unknown sku ${JSON.stringify(text(r.sku))}`;
  const qty = Number(text(r.qty));
  if (text(r.qty).trim() === '' || !Number.isInteger(qty) || qty <= 0) return `quantity must be a positive integer, got ${JSON.stringify(text(r.qty))}`;
  const price = Number(text(r.unitPrice));
  if (text(r.unitPrice).trim() === '' || !Number.isFinite(price) || price <= 0) return `unit price must be a positive number, got ${JSON.stringify(text(r.unitPrice))}`;
  if (!CURRENCIES.includes(text(r.currency).trim().toUpperCase())) return `currency ${JSON.stringify(text(r.currency))} is not one of ${CURRENCIES.join(', ')}`;
  if (text(r.customer).trim() === '') return 'missing customer';
  return null;
}

/** Split extracted rows into valid ones and rejected ones (each with its reason); none is dropped. */
export function validateRows(source: Source, raw: readonly RawRow[]): Batch<ValidRow> {
  const rows: ValidRow[] = [];
  const rejected: Rejected[] = [];
  for (const r of raw) {
    const reason = problem(r);
    if (reason !== null) {
      rejected.push({ source, ref: r.ref, reason });
      continue;
    }
    rows.push({
      ref: r.ref,
      orderId: text(r.orderId),
      date: text(r.date),
      sku: text(r.sku),
      qty: Number(text(r.qty)),
      unitPrice: Number(text(r.unitPrice)),
      currency: text(r.currency),
      customer: text(r.customer),
    });
  }
  return { source, extracted: raw.length, rows, rejected, duplicates: 0, normalised: 0 };
}

/** Trim, upper-case codes, dates as `YYYY-MM-DD`, one space between words; drop repeated orders. */
export function cleanRows(b: Batch<ValidRow>): Batch<ValidRow> {
  const seen = new Set<string>();
  const rows: ValidRow[] = [];
  let duplicates = 0;
  let normalised = 0;
  for (const r of b.rows) {
    const c: ValidRow = {
      ref: r.ref,
      orderId: r.orderId.trim().toUpperCase(),
      date: isoDate(r.date) as string,
      sku: r.sku.trim().toUpperCase(),
      qty: r.qty,
      unitPrice: r.unitPrice,
      currency: r.currency.trim().toUpperCase(),
      customer: r.customer.trim().replace(/\s+/g, ' '),
    };
    if (seen.has(c.orderId)) {
      duplicates++;
      continue;
    }
    seen.add(c.orderId);
    if (JSON.stringify(c) !== JSON.stringify(r)) normalised++;
    rows.push(c);
  }
  return { ...b, rows, duplicates, normalised };
}

/** Add the product, its category, the channel and the amount in EUR (rates from the API). */
export function enrichRows(b: Batch<ValidRow>, fx: FxRates): Batch<OrderRow> {
  const rows = b.rows.map((r): OrderRow => {
    const rate = fx[r.currency];
    if (rate === undefined) throw new Error(`no EUR rate for ${r.currency}`);
    const item = CATALOGUE[r.sku] as { product: string; category: string };
    return {
      orderId: r.orderId,
      channel: b.source,
      date: r.date,
      sku: r.sku,
      product: item.product,
      category: item.category,
      qty: r.qty,
      unitPrice: r.unitPrice,
      currency: r.currency,
      amountEur: round2(r.qty * r.unitPrice * rate),
      customer: r.customer,
    };
  });
  return { ...b, rows };
}

/** Revenue per day and channel. */
export interface DailyTotal {
  date: string;
  channel: Source;
  orders: number;
  revenueEur: number;
}

/** Revenue per product category. */
export interface CategoryTotal {
  category: string;
  orders: number;
  units: number;
  revenueEur: number;
}

/** What each source gave, kept in `summary.json`. */
export interface SourceSummary {
  source: Source;
  extracted: number;
  rejected: number;
  duplicates: number;
  normalised: number;
  loaded: number;
}

/** The chord body's result: every source's rows merged, the totals, and what was refused. */
export interface Aggregate {
  orders: OrderRow[];
  daily: DailyTotal[];
  categories: CategoryTotal[];
  rejected: Rejected[];
  sources: SourceSummary[];
  revenueEur: number;
}

/** Merge the branches (in source order) and total them; orders sorted by date, then order id. */
export function aggregateBatches(batches: ReadonlyArray<Batch<OrderRow>>): Aggregate {
  const orders = batches.flatMap((b) => b.rows).sort((a, b) => a.date.localeCompare(b.date) || a.orderId.localeCompare(b.orderId));
  const daily = new Map<string, DailyTotal>();
  const categories = new Map<string, CategoryTotal>();
  for (const o of orders) {
    const d = daily.get(`${o.date} ${o.channel}`) ?? { date: o.date, channel: o.channel, orders: 0, revenueEur: 0 };
    d.orders++;
    d.revenueEur = round2(d.revenueEur + o.amountEur);
    daily.set(`${o.date} ${o.channel}`, d);
    const c = categories.get(o.category) ?? { category: o.category, orders: 0, units: 0, revenueEur: 0 };
    c.orders++;
    c.units += o.qty;
    c.revenueEur = round2(c.revenueEur + o.amountEur);
    categories.set(o.category, c);
  }
  return {
    orders,
    daily: [...daily.values()].sort((a, b) => a.date.localeCompare(b.date) || SOURCES.indexOf(a.channel) - SOURCES.indexOf(b.channel)),
    categories: [...categories.values()].sort((a, b) => b.revenueEur - a.revenueEur || a.category.localeCompare(b.category)),
    rejected: batches.flatMap((b) => b.rejected),
    sources: batches.map((b) => ({
      source: b.source,
      extracted: b.extracted,
      rejected: b.rejected.length,
      duplicates: b.duplicates,
      normalised: b.normalised,
      loaded: b.rows.length,
    })),
    revenueEur: round2(orders.reduce((s, o) => s + o.amountEur, 0)),
  };
}

/**
 * The "database table" source: `count` marketplace orders from a seeded generator (the same rows for
 * the same seed). Rows 13 and 29 are broken on purpose (no customer, a price of "n/a").
 */
export function generateTable(seed: number, count: number): RawRow[] {
  let s = seed >>> 0;
  const next = (): number => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
  const skus = Object.keys(CATALOGUE);
  const prices = [6.5, 7.9, 12, 39, 24.5, 9.9];
  const names = ['Ines Costa', 'Tom Becker', 'Mei Lin', 'Omar Haddad', 'Sofia Rossi', 'Jan Novak'];
  return Array.from({ length: count }, (_, i): RawRow => {
    const k = Math.floor(next() * skus.length);
    const row: RawRow = {
      ref: `row ${i + 1}`,
      orderId: `MK-${String(5001 + i)}`,
      date: i < count / 2 ? '2026-11-22' : '2026-11-23',
      sku: skus[k],
      qty: 1 + Math.floor(next() * 4),
      unitPrice: prices[k],
      currency: next() < 0.25 ? 'GBP' : 'EUR',
      customer: names[Math.floor(next() * names.length)],
    };
    if (i + 1 === 13) row.customer = '';
    if (i + 1 === 29) row.unitPrice = 'n/a';
    return row;
  });
}

/** Read a CSV with a header line (no quoted commas: the stores' exports have none). */
export function parseCsv(content: string): Array<Record<string, string>> {
  const [head, ...lines] = content.split(/\r?\n/).filter((l) => l.trim() !== '');
  const keys = (head ?? '').split(',').map((k) => k.trim());
  return lines.map((l) => {
    const cells = l.split(',');
    return Object.fromEntries(keys.map((k, i) => [k, cells[i] ?? '']));
  });
}

/** Write rows as CSV: a header line, then one line per row; cells with `,` `"` or a newline are quoted. */
export function toCsv<T extends object>(columns: ReadonlyArray<keyof T & string>, rows: readonly T[]): string {
  const cell = (v: unknown): string => {
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}
