/**
 * What examples/data-pipeline must print, and the files it must load into PIPELINE_OUT_DIR, shared
 * by its unit (memory://) and integration (NATS) tests. The file checks recompute the amounts and
 * totals from the rows loaded, so a wrong sum, a lost row or a silently dropped reject fails them.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExample } from './run-example.ts';

/** The lines examples/data-pipeline prints, in order. */
export const DATA_PIPELINE_LINES = [
  /^schedule {9}-> etl\.hourly: etl\.run at cron '0 \* \* \* \*' \(UTC\), next run (\d{4}-\d\d-\d\dT\d\d:00:00\.000Z)$/,
  /^sources {10}-> api 3 pages, csv berlin\.csv madrid\.csv paris\.csv, table 40 generated rows$/,
  /^run {14}-> etl\.run sent through etl\.hourly \(manual\): 14 tasks, 3 branches in parallel$/,
  /^extract api {6}-> page 1\/3, 2\/3, 3\/3: 24 rows$/,
  /^extract csv {6}-> file 1\/3, 2\/3, 3\/3: 16 rows$/,
  /^extract table {4}-> batch 1\/4, 2\/4, 3\/4, 4\/4: 40 rows$/,
  /^validate api {5}-> 22 valid, 2 rejected$/,
  /^validate csv {5}-> 14 valid, 2 rejected$/,
  /^validate table {3}-> 38 valid, 2 rejected$/,
  /^clean api {8}-> 21 rows \(1 duplicate dropped, 21 rows normalised\)$/,
  /^clean csv {8}-> 13 rows \(1 duplicate dropped, 3 rows normalised\)$/,
  /^clean table {6}-> 38 rows \(0 duplicates dropped, 0 rows normalised\)$/,
  /^enrich api {7}-> 21 rows, 619\.66 EUR$/,
  /^enrich csv {7}-> 13 rows, 321\.50 EUR$/,
  /^enrich table {5}-> 38 rows, 1700\.78 EUR$/,
  /^aggregate {8}-> chord of 3 branches: 72 orders, 2 days, 4 categories, 2641\.94 EUR$/,
  /^load {13}-> file 1\/5, 2\/5, 3\/5, 4\/5, 5\/5$/,
  /^loaded {11}-> orders\.csv: 72 rows$/,
  /^loaded {11}-> daily_totals\.csv: 6 rows$/,
  /^loaded {11}-> category_totals\.csv: 4 rows$/,
  /^loaded {11}-> rejected\.csv: 6 rows$/,
  /^loaded {11}-> summary\.json: 3 sources$/,
  /^output {11}-> (\S+\/etl-manual-[0-9a-f]{8})$/,
  /^rejected api {5}-> page 2 #3: unknown sku "TEA-99"$/,
  /^rejected api {5}-> page 3 #3: currency "CHF" is not one of EUR, USD, GBP$/,
  /^rejected csv {5}-> berlin\.csv:5: quantity must be a positive integer, got "-1"$/,
  /^rejected csv {5}-> paris\.csv:4: date "2026-11-31" is not a date$/,
  /^rejected table {3}-> row 13: missing customer$/,
  /^rejected table {3}-> row 29: unit price must be a positive number, got "n\/a"$/,
  /^done$/,
];

/** The rows of a CSV file as objects keyed by its header (quoted cells with `""` escapes). */
function readCsv(text: string): Array<Record<string, string>> {
  const records: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted && ch === '"' && text[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === ',') {
      row.push(cell);
      cell = '';
    } else if (!quoted && ch === '\n') {
      row.push(cell);
      records.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  assert.equal(cell + row.join(''), '', 'the file ends with a newline');
  const [head, ...rest] = records;
  return rest.map((r) => {
    assert.equal(r.length, head?.length, `a row of ${head?.length} cells: ${r.join(',')}`);
    return Object.fromEntries((head ?? []).map((k, i) => [k, r[i] as string]));
  });
}

const cents = (s: string) => Math.round(Number(s) * 100);
const FX: Record<string, number> = { EUR: 1, USD: 0.92, GBP: 1.17 };

/** Sum `cents(amount)` of `rows` per `key(row)`. */
function totals(rows: Array<Record<string, string>>, key: (r: Record<string, string>) => string): Map<string, { orders: number; units: number; cents: number }> {
  const m = new Map<string, { orders: number; units: number; cents: number }>();
  for (const r of rows) {
    const t = m.get(key(r)) ?? { orders: 0, units: 0, cents: 0 };
    t.orders++;
    t.units += Number(r.qty);
    t.cents += cents(r.amountEur as string);
    m.set(key(r), t);
  }
  return m;
}

/**
 * Runs the example with PIPELINE_OUT_DIR set to a fresh folder; checks its lines in order, the next
 * run beat would fire (the top of the next hour), then every file the run loaded.
 */
export async function checkDataPipelineExample(broker?: string): Promise<void> {
  const out = await mkdtemp(join(tmpdir(), 'celeriac-pipeline-test-'));
  const before = process.env.PIPELINE_OUT_DIR;
  process.env.PIPELINE_OUT_DIR = out;
  try {
    const startedAt = Date.now();
    const lines = (await runExample('examples/data-pipeline/main.ts', broker)).trim().split('\n');
    const endedAt = Date.now();
    assert.equal(lines.length, DATA_PIPELINE_LINES.length, lines.join('\n'));
    DATA_PIPELINE_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re, lines.join('\n')));

    // Hourly at minute 0: the next run is the first top of an hour after the worker started.
    const next = Date.parse(DATA_PIPELINE_LINES[0]?.exec(lines[0] ?? '')?.[1] ?? '');
    assert.ok(next > startedAt && next <= endedAt + 3_600_000 && next - 3_600_000 <= endedAt, `next run ${new Date(next).toISOString()}`);

    // One manual run folder, the one printed, holding the five files. (Run across the top of an
    // hour, beat itself also starts a run, in a folder named after its slot: not this one.)
    const runs = (await readdir(out)).filter((d) => !d.startsWith('beat-etl.hourly-'));
    assert.equal(runs.length, 1, runs.join(', '));
    const dir = join(out, runs[0] as string);
    assert.equal(DATA_PIPELINE_LINES[22]?.exec(lines[22] ?? '')?.[1], dir);
    assert.deepEqual((await readdir(dir)).sort(), ['category_totals.csv', 'daily_totals.csv', 'orders.csv', 'rejected.csv', 'summary.json']);
    const file = (name: string) => readFile(join(dir, name), 'utf8');

    // orders.csv: every valid order once, cleaned, enriched, priced in EUR at the API's rates.
    const orders = readCsv(await file('orders.csv'));
    assert.equal(orders.length, 72);
    assert.deepEqual(Object.fromEntries([...totals(orders, (r) => r.channel as string)].map(([k, t]) => [k, t.orders])), { api: 21, csv: 13, table: 38 });
    const ids = orders.map((r) => r.orderId);
    assert.equal(new Set(ids).size, ids.length, 'no order twice (WEB-1008 and BER-105 came twice)');
    for (const id of ['WEB-1008', 'BER-105']) assert.ok(ids.includes(id), id);
    for (const id of ['WEB-1010', 'WEB-1018', 'BER-104', 'PAR-203', 'MK-5013', 'MK-5029']) assert.ok(!ids.includes(id), `${id} was rejected`);
    for (const r of orders) {
      assert.equal(cents(r.amountEur as string), Math.round(Number(r.qty) * Number(r.unitPrice) * (FX[r.currency as string] as number) * 100), JSON.stringify(r));
      assert.match(r.date as string, /^2026-11-2[23]$/);
    }
    const byId = (id: string) => Object.values(orders.find((r) => r.orderId === id) ?? {}).join(',');
    assert.equal(byId('BER-102'), 'BER-102,csv,2026-11-22,CUP-01,Stoneware mug,tableware,1,12.00,EUR,12.00,Lukas Weber');
    assert.equal(byId('MAD-303'), 'MAD-303,csv,2026-11-23,BAG-01,Tote bag,accessories,1,9.90,EUR,9.90,Lucia Garcia');
    assert.equal(byId('WEB-1002'), 'WEB-1002,api,2026-11-22,TEA-02,Assam black tea,tea,2,8.53,USD,15.70,Grace Hopper');
    const revenue = orders.reduce((s, r) => s + cents(r.amountEur as string), 0);
    assert.equal(revenue, 264194);

    // The totals are the sums of the orders loaded.
    const daily = readCsv(await file('daily_totals.csv'));
    const dailyWant = totals(orders, (r) => `${r.date} ${r.channel}`);
    assert.deepEqual(
      daily.map((d) => [`${d.date} ${d.channel}`, Number(d.orders), cents(d.revenueEur as string)]),
      [...dailyWant].sort(([a], [b]) => a.localeCompare(b)).map(([k, t]) => [k, t.orders, t.cents]),
    );
    const categories = readCsv(await file('category_totals.csv'));
    const catWant = totals(orders, (r) => r.category as string);
    assert.deepEqual(categories.map((c) => c.category), ['tableware', 'gifts', 'tea', 'accessories']);
    for (const c of categories) {
      const t = catWant.get(c.category as string);
      assert.deepEqual([Number(c.orders), Number(c.units), cents(c.revenueEur as string)], [t?.orders, t?.units, t?.cents], c.category);
    }

    // rejected.csv: each refused row, with its reason, as printed.
    assert.deepEqual(readCsv(await file('rejected.csv')), [
      { source: 'api', ref: 'page 2 #3', reason: 'unknown sku "TEA-99"' },
      { source: 'api', ref: 'page 3 #3', reason: 'currency "CHF" is not one of EUR, USD, GBP' },
      { source: 'csv', ref: 'berlin.csv:5', reason: 'quantity must be a positive integer, got "-1"' },
      { source: 'csv', ref: 'paris.csv:4', reason: 'date "2026-11-31" is not a date' },
      { source: 'table', ref: 'row 13', reason: 'missing customer' },
      { source: 'table', ref: 'row 29', reason: 'unit price must be a positive number, got "n/a"' },
    ]);

    // summary.json: what each source gave; every extracted row is loaded, rejected or a duplicate.
    const summary = JSON.parse(await file('summary.json')) as { revenueEur: number; sources: Array<Record<string, number | string>> };
    assert.equal(summary.revenueEur, 2641.94);
    assert.deepEqual(summary.sources, [
      { source: 'api', extracted: 24, rejected: 2, duplicates: 1, normalised: 21, loaded: 21 },
      { source: 'csv', extracted: 16, rejected: 2, duplicates: 1, normalised: 3, loaded: 13 },
      { source: 'table', extracted: 40, rejected: 2, duplicates: 0, normalised: 0, loaded: 38 },
    ]);
  } finally {
    if (before === undefined) delete process.env.PIPELINE_OUT_DIR;
    else process.env.PIPELINE_OUT_DIR = before;
    await rm(out, { recursive: true, force: true });
  }
}
