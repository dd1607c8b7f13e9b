/**
 * Tasks of examples/data-pipeline, the seed book's "Data Pipeline Automation" case study: orders
 * from three sources (the web shop's API, the stores' CSV exports, a marketplace table), each
 * extracted, validated, cleaned and enriched in a branch of its own, in parallel; the branches
 * joined by a chord whose body aggregates them and loads the result into files. `etl.run` starts
 * one run; the schedule `etl.hourly` has beat send it at the top of every hour.
 *
 * A worker of a real deployment: `celeriac worker -A examples/data-pipeline/tasks.ts` (it runs beat
 * too), with the sources in PIPELINE_API_URL, PIPELINE_CSV_DIR and PIPELINE_OUT_DIR. Importing this
 * module opens no connection.
 */
import { readFile, readdir, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chain, chord, createApp } from '../../src/index.ts';
import {
  type Aggregate,
  type Batch,
  type FxRates,
  type OrderRow,
  type RawRow,
  type Source,
  type ValidRow,
  SOURCES,
  aggregateBatches,
  cleanRows,
  enrichRows,
  generateTable,
  parseCsv,
  toCsv,
  validateRows,
} from './rows.ts';

export const app = createApp({ name: 'data-pipeline', broker: process.env.CELERIAC_BROKER_URL ?? 'memory://' });

/** Where a run reads and writes. */
export interface PipelineConfig {
  /** Base URL of the web shop's API (`/orders?page=N`, `/fx`). */
  apiUrl: string;
  /** Folder of the stores' CSV exports (every `*.csv` in it). */
  csvDir: string;
  /** Each run loads its files into a folder of its own under this one. */
  outDir: string;
  /** The marketplace table: seed of its generator and number of rows. */
  tableSeed: number;
  tableRows: number;
}

let overrides: Partial<PipelineConfig> = {};

/** Set the config in code (main.ts does, for its stub and temp folder); the rest comes from the environment. */
export function configurePipeline(c: Partial<PipelineConfig>): void {
  overrides = { ...overrides, ...c };
}

/** The config a run uses now: what configurePipeline() set, else PIPELINE_* variables, else defaults. */
export function pipelineConfig(): PipelineConfig {
  return {
    apiUrl: overrides.apiUrl ?? process.env.PIPELINE_API_URL ?? 'http://127.0.0.1:8787',
    csvDir: overrides.csvDir ?? process.env.PIPELINE_CSV_DIR ?? fileURLToPath(new URL('./data/stores/', import.meta.url)),
    outDir: overrides.outDir ?? process.env.PIPELINE_OUT_DIR ?? join(tmpdir(), 'celeriac-pipeline'),
    tableSeed: overrides.tableSeed ?? 42,
    tableRows: overrides.tableRows ?? 40,
  };
}

/** What an extract step hands to `validate`. */
export interface Extracted {
  source: Source;
  rows: RawRow[];
}

/** What each long step reports with ctx.progress(). */
export interface StepProgress {
  [key: string]: unknown;
  done: number;
  total: number;
  /** What is counted: `page`, `file`, `batch`. */
  unit: string;
}

/** A fetch failure (TypeError: connection refused, reset) is worth retrying; a bad answer is not. */
const network = { retry: { autoretryFor: [TypeError], maxRetries: 3, backoff: 'exponential', countdown: '500ms' } } as const;

async function getJson<T>(url: string, signal: AbortSignal): Promise<T> {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return (await res.json()) as T;
}

/** Extract: every page of the API's orders, one progress update per page. */
export const extractApi = app.task(
  'etl.extract.api',
  async (ctx, apiUrl: string): Promise<Extracted> => {
    const rows: RawRow[] = [];
    for (let page: number | null = 1; page !== null; ) {
      type Page = { pages: number; next: number | null; orders: Array<Record<string, unknown>> };
      const body: Page = await getJson<Page>(`${apiUrl}/orders?page=${page}`, ctx.signal);
      body.orders.forEach((o, i) =>
        rows.push({ ref: `page ${page} #${i + 1}`, orderId: o.id, date: o.placed_at, sku: o.sku, qty: o.quantity, unitPrice: o.unit_price, currency: o.currency, customer: o.customer }),
      );
      await ctx.progress({ done: page, total: body.pages, unit: 'page' } satisfies StepProgress);
      page = body.next;
    }
    return { source: 'api', rows };
  },
  network,
);

/** Extract: every `*.csv` of the stores' folder, in name order, one progress update per file. */
export const extractCsv = app.task('etl.extract.csv', async (ctx, dir: string): Promise<Extracted> => {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.csv')).sort();
  const rows: RawRow[] = [];
  for (const [i, file] of files.entries()) {
    parseCsv(await readFile(join(dir, file), 'utf8')).forEach((r, n) =>
      rows.push({ ref: `${file}:${n + 2}`, orderId: r.order_id, date: r.date, sku: r.sku, qty: r.qty, unitPrice: r.unit_price, currency: r.currency, customer: r.customer }),
    );
    await ctx.progress({ done: i + 1, total: files.length, unit: 'file' } satisfies StepProgress);
  }
  return { source: 'csv', rows };
});

/** Extract: the marketplace table, read in batches of 10 rows as from a database cursor. */
export const extractTable = app.task('etl.extract.table', async (ctx, seed: number, count: number): Promise<Extracted> => {
  const table = generateTable(seed, count);
  const rows: RawRow[] = [];
  const batches = Math.ceil(table.length / 10);
  for (let b = 0; b < batches; b++) {
    rows.push(...table.slice(b * 10, b * 10 + 10));
    await ctx.progress({ done: b + 1, total: batches, unit: 'batch' } satisfies StepProgress);
  }
  return { source: 'table', rows };
});

/** Validate: rows that break a rule are rejected with the reason, counted and passed on. */
export const validate = app.task('etl.validate', async (_ctx, e: Extracted): Promise<Batch<ValidRow>> => validateRows(e.source, e.rows));

/** Clean: normalise the values, drop repeated orders (counted). */
export const clean = app.task('etl.clean', async (_ctx, b: Batch<ValidRow>): Promise<Batch<ValidRow>> => cleanRows(b));

/** Enrich: product and category from the catalogue, amounts in EUR at the API's rates. */
export const enrich = app.task(
  'etl.enrich',
  async (ctx, b: Batch<ValidRow>, apiUrl: string): Promise<Batch<OrderRow>> => {
    const { rates } = await getJson<{ rates: FxRates }>(`${apiUrl}/fx`, ctx.signal);
    return enrichRows(b, rates);
  },
  network,
);

/** Aggregate (the chord's body): every branch's rows, in source order, merged and totalled. */
export const aggregate = app.task('etl.aggregate', async (_ctx, batches: Array<Batch<OrderRow>>): Promise<Aggregate> => aggregateBatches(batches));

/** One file `load` wrote. */
export interface LoadedFile {
  name: string;
  path: string;
  /** Data rows: lines after the header of a CSV file; sources summarised in `summary.json`. */
  rows: number;
}

/** The result of a run: its folder and files. */
export interface LoadReport {
  dir: string;
  files: LoadedFile[];
  revenueEur: number;
}

/** Load: the orders, the totals, the rejected rows and a summary, one progress update per file. */
export const load = app.task('etl.load', async (ctx, a: Aggregate, dir: string): Promise<LoadReport> => {
  await mkdir(dir, { recursive: true });
  const money = (n: number) => n.toFixed(2);
  const orders = a.orders.map((o) => ({ ...o, unitPrice: money(o.unitPrice), amountEur: money(o.amountEur) }));
  const daily = a.daily.map((d) => ({ ...d, revenueEur: money(d.revenueEur) }));
  const categories = a.categories.map((c) => ({ ...c, revenueEur: money(c.revenueEur) }));
  const outputs: Array<[string, string, number]> = [
    ['orders.csv', toCsv(['orderId', 'channel', 'date', 'sku', 'product', 'category', 'qty', 'unitPrice', 'currency', 'amountEur', 'customer'], orders), orders.length],
    ['daily_totals.csv', toCsv(['date', 'channel', 'orders', 'revenueEur'], daily), daily.length],
    ['category_totals.csv', toCsv(['category', 'orders', 'units', 'revenueEur'], categories), categories.length],
    ['rejected.csv', toCsv(['source', 'ref', 'reason'], a.rejected), a.rejected.length],
    ['summary.json', JSON.stringify({ revenueEur: a.revenueEur, sources: a.sources }, null, 2) + '\n', a.sources.length],
  ];
  const files: LoadedFile[] = [];
  for (const [name, content, rows] of outputs) {
    const path = join(dir, name);
    await writeFile(path, content);
    files.push({ name, path, rows });
    await ctx.progress({ done: files.length, total: outputs.length, unit: 'file' } satisfies StepProgress);
  }
  return { dir, files, revenueEur: a.revenueEur };
});

/** The steps of a run, in the order main.ts prints them: [label, task id]. */
export function runSteps(runId: string): Array<[string, string]> {
  const steps: Array<[string, string]> = [];
  for (const step of ['extract', 'validate', 'clean', 'enrich']) for (const s of SOURCES) steps.push([`${step} ${s}`, `${runId}:${s}:${step}`]);
  steps.push(['aggregate', `${runId}:aggregate`], ['load', `${runId}:load`]);
  return steps;
}

/** What `etl.run` answers once it has sent the workflow. */
export interface RunStarted {
  runId: string;
  /** Where `load` writes. */
  dir: string;
  /** `beat <slot>` when beat sent it, else `manual`. */
  trigger: string;
  /** Task id of `load`, the workflow's last step. */
  finalId: string;
}

/**
 * Start one run: a chord whose header is one branch per source (extract -> validate -> clean ->
 * enrich) and whose body is aggregate -> load. Every task id derives from the run's id, so a
 * redelivered `etl.run` sends the same ids and the broker drops the copies.
 */
export const run = app.task('etl.run', async (ctx): Promise<RunStarted> => {
  const cfg = pipelineConfig();
  const id = (s: string) => ({ taskId: `${ctx.id}:${s}` });
  const branch = (s: Source, extract: ReturnType<typeof extractApi.s>) =>
    chain(extract.set(id(`${s}:extract`)), validate.s().set(id(`${s}:validate`)), clean.s().set(id(`${s}:clean`)), enrich.s(cfg.apiUrl).set(id(`${s}:enrich`)));
  const dir = join(cfg.outDir, ctx.id.replace(/[^A-Za-z0-9_.-]/g, '-'));
  await chord(
    [branch('api', extractApi.s(cfg.apiUrl)), branch('csv', extractCsv.s(cfg.csvDir)), branch('table', extractTable.s(cfg.tableSeed, cfg.tableRows))],
    chain(aggregate.s().set(id('aggregate')), load.s(dir).set(id('load'))),
  ).applyAsync();
  const slot = ctx.headers['beat-slot'];
  return { runId: ctx.id, dir, trigger: slot ? `beat ${slot}` : 'manual', finalId: `${ctx.id}:load` };
});

/**
 * Hourly, at minute 0 (UTC). A missed hour is not run late (`catchUp: 'skip'`): every run reads the
 * sources as they are, so the next one covers it.
 */
export const hourly = app.schedule('etl.hourly', { task: 'etl.run', cron: '0 * * * *', catchUp: 'skip' });
