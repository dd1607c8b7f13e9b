/**
 * Tasks of the canvas tour: arithmetic, a tiny crawler and a notifier. The app works on the
 * embedded broker, or on NATS with CELERIAC_BROKER_URL.
 */
import { createApp } from '../../src/index.ts';

export const app = createApp({ name: 'canvas-demo', broker: process.env.CELERIAC_BROKER_URL ?? 'memory://' });

export const add = app.task('math.add', async (_ctx, a: number, b: number) => a + b);
export const tsum = app.task('math.tsum', async (_ctx, xs: number[]) => xs.reduce((s, x) => s + x, 0));

/** Pretend to fetch a page: its word count is ten per character of the URL. */
export const fetchPage = app.task('crawl.fetch', async (_ctx, url: string) => {
  if (url.includes('missing')) throw new Error(`404 for ${url}`);
  return { url, words: url.length * 10 };
});
export const countWords = app.task('crawl.count', async (_ctx, pages: Array<{ words: number }>) => pages.reduce((s, p) => s + p.words, 0));

/** What the callbacks tell: kept here so the tour can print it. */
export const told: string[] = [];
export const notify = app.task('ops.notify', async (_ctx, ...args: unknown[]) => {
  told.push(args.map((a) => (typeof a === 'object' && a !== null && 'message' in a ? `error "${String(a.message)}"` : String(a))).join(' '));
});
