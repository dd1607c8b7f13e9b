/**
 * The dashboard end to end in headless Chromium (Debian's `chromium` driven by playwright-core):
 * log in through the form, see the worker, see a task turn SUCCESS live (SSE, no reload), see a
 * dead letter whose arguments hold HTML rendered as text, replay it and see it leave the dead-letter
 * list. Screenshots of each step go to test-artifacts/dashboard/. `chromium.launch` gives every run
 * a fresh temporary profile (user-data-dir) and deletes it on close.
 * Env: CHROMIUM_BIN (default /usr/bin/chromium).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import type { WorkerNode } from '../../src/actors/worker-node.ts';
import { type Dashboard, startDashboard } from '../../src/cli/dashboard/server.ts';
import { type App, createApp } from '../../src/index.ts';
import { type NatsServerHandle, silentLogger, startNatsServer } from '../../src/testing.ts';
import { until } from '../helpers/failure-scenarios.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/dashboard/', import.meta.url));
const TOKEN = `browser-${randomUUID()}`;
const XSS = '<img src=x onerror="globalThis.__xss=1">';
const WAIT = { timeout: 20_000 };
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let server: NatsServerHandle;
let app: App;
let worker: WorkerNode;
let dash: Dashboard;
let browser: Browser;
/** Task ids whose first run failed (the replayed run then succeeds). */
const failedOnce = new Set<string>();

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  server = await startNatsServer();
  app = createApp({ name: `web${randomUUID().slice(0, 8)}`, broker: server.url });
  app.task('web.ok', async (_ctx, n: number) => n + 1);
  app.task('web.flaky', async (ctx, text: string) => {
    if (!failedOnce.has(ctx.id)) {
      failedOnce.add(ctx.id);
      throw new TypeError(`first run fails on ${text}`);
    }
    return 'second run ok';
  });
  worker = app.worker({ concurrency: 2, logger: silentLogger, name: 'web-node', heartbeat: '1s' });
  await worker.start();
  dash = await startDashboard(app, { token: TOKEN, port: 0 });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 30_000 });
});
after(async () => {
  await browser?.close();
  await dash?.close();
  await worker?.stop();
  await app?.close();
  await server?.stop();
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

/** Errors the page reports (failed loads of the 401 before login excepted). */
function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return errors;
}

test('log in, see the worker, watch a task succeed live, replay a dead letter (arguments shown as text)', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = pageErrors(page);
  try {
    // Not logged in: 401, and the browser is sent on to the login page.
    const first = await page.goto(`${dash.url}/`);
    assert.equal(first?.status(), 401);
    await page.waitForURL('**/login', WAIT);
    await page.fill('#token', 'wrong');
    await page.click('#login-submit');
    await page.locator('#login-error').waitFor(WAIT);
    await page.fill('#token', TOKEN);
    await shot(page, '01-login');
    await page.click('#login-submit');
    await page.waitForURL(`${dash.url}/`, WAIT);

    // Overview: the worker with its slots, the live indicator.
    const workerRow = page.locator('#workers tbody tr[data-worker="web-node"]');
    await workerRow.waitFor(WAIT);
    assert.match(await workerRow.innerText(), /online/);
    assert.match(await workerRow.innerText(), /0 \/ 2/);
    await page.locator('#live.on').waitFor(WAIT);
    await page.locator('#queues tbody tr[data-queue="default"]').waitFor(WAIT);
    await shot(page, '02-overview');

    // Tasks: a task sent now appears and turns SUCCESS through the live feed.
    await page.click('#tab-tasks');
    await page.locator('#view-tasks').waitFor({ state: 'visible', ...WAIT });
    const r = await app.sendTask('web.ok', [41]);
    const row = page.locator(`#tasks tbody tr[data-task-id="${r.id}"]`);
    await row.locator('.state-SUCCESS').waitFor(WAIT);
    assert.match(await row.innerText(), /web\.ok/);
    await row.locator('a').click();
    await page.locator('#detail-fields dd pre', { hasText: '42' }).first().waitFor(WAIT);
    await shot(page, '03-task-success');

    // A task that fails into the dead-letter stream, with HTML in its arguments.
    const bad = await app.sendTask('web.flaky', [XSS]);
    await until(async () => (await app.deadLetters.show(bad.id)).length > 0, 15_000, 'dead letter stored');
    await page.click('#tab-dlq');
    const dlRow = page.locator(`#dlq tbody tr[data-task-id="${bad.id}"]`);
    await dlRow.waitFor(WAIT);
    assert.equal(await dlRow.locator('td.args').innerText(), JSON.stringify([XSS]), 'the arguments are shown as text');
    assert.match(await dlRow.innerText(), /first run fails on <img src=x/);
    assert.equal(await page.locator('img').count(), 0, 'no element was made from the arguments');
    assert.equal(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss), undefined);
    await shot(page, '04-dead-letter');

    // Replay: it leaves the dead-letter list, runs again and succeeds.
    await dlRow.locator('button.replay').click();
    await dlRow.waitFor({ state: 'detached', ...WAIT });
    assert.equal(await bad.get({ timeout: '15s' }), 'second run ok');
    assert.deepEqual(await app.deadLetters.show(bad.id), [], 'no longer a dead letter');
    await page.locator('#dlq-empty').waitFor({ state: 'visible', ...WAIT });
    await shot(page, '05-replayed');
    await page.click('#tab-tasks');
    await page.locator(`#tasks tbody tr[data-task-id="${bad.id}"] .state-SUCCESS`).waitFor(WAIT);
    await shot(page, '06-replayed-task');

    // The overview's charts now hold the successes (pushed with the next overview).
    await page.click('#tab-overview');
    await page.locator('#card-tasks', { hasText: /^[1-9]/ }).waitFor(WAIT);
    assert.ok((await page.locator('#chart-throughput polyline.succeeded').count()) > 0, 'the throughput line is drawn');
    await shot(page, '07-overview-charts');

    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('the login URL with #token= logs in by itself and drops the token from the address bar', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${dash.url}/login#token=${encodeURIComponent(TOKEN)}`);
    await page.waitForURL(`${dash.url}/`, WAIT);
    await page.locator('#workers tbody tr[data-worker="web-node"]').waitFor(WAIT);
    assert.ok(!page.url().includes(TOKEN));
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'celeriac_dashboard');
    assert.equal(session?.httpOnly, true);
    assert.equal(session?.sameSite, 'Strict');
    assert.ok(!session?.value.includes(TOKEN));
  } finally {
    await context.close();
  }
});
