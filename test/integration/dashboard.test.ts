/**
 * The web dashboard against a real nats-server and an in-process worker: every route refuses a
 * request without credentials, login and CSRF, security headers, the JSON API (tasks, detail with
 * trace id, dead letters, replay, purge, revoke, rate limit) and the live feed (SSE) with its
 * client cap. The task table, the options and the session rules are checked without the network.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { WorkerNode } from '../../src/actors/worker-node.ts';
import { DashboardAuth, PUBLIC_ROUTES } from '../../src/cli/dashboard/auth.ts';
import { isLoopback, resolveDashboardOptions } from '../../src/cli/dashboard/dashboard-options.ts';
import { type Dashboard, startDashboard } from '../../src/cli/dashboard/server.ts';
import { TaskTable } from '../../src/cli/dashboard/task-table.ts';
import { percentile } from '../../src/cli/dashboard/throughput.ts';
import { type App, type CeleriacEvent, createApp, isInvalidArgumentError } from '../../src/index.ts';
import { type NatsServerHandle, silentLogger, startNatsServer } from '../../src/testing.ts';
import { until } from '../helpers/failure-scenarios.ts';
import { registerTestTracing } from '../helpers/otel.ts';

const TOKEN = `dash-${randomUUID()}`;
const BEARER = { authorization: `Bearer ${TOKEN}` };
const XSS = '<img src=x onerror="globalThis.__xss=1">';

let server: NatsServerHandle;
let app: App;
let worker: WorkerNode;
let dash: Dashboard;
const tracing = registerTestTracing();

before(async () => {
  server = await startNatsServer();
  app = createApp({ name: `dash${randomUUID().slice(0, 8)}`, broker: server.url });
  app.task('dash.ok', async (_ctx, n: number) => ({ doubled: n * 2 }));
  app.task('dash.boom', async (_ctx, text: string) => {
    throw new TypeError(`cannot handle ${text}`);
  });
  worker = app.worker({ concurrency: 4, logger: silentLogger, name: 'dash-node', heartbeat: '500ms' });
  await worker.start();
  dash = await startDashboard(app, { token: TOKEN, port: 0, maxClients: 2 });
});
after(async () => {
  await dash?.close();
  await worker?.stop();
  await app?.close();
  await server?.stop();
  tracing.close();
});

function call(path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Response> {
  const json = init.body !== undefined && typeof init.body !== 'string' && !(init.body instanceof URLSearchParams);
  return fetch(dash.url + path, {
    method: init.method ?? 'GET',
    redirect: 'manual',
    headers: { ...(json ? { 'content-type': 'application/json' } : {}), ...init.headers },
    body: json ? JSON.stringify(init.body) : (init.body as string | URLSearchParams | undefined),
  });
}

async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const r = await call(path, { ...init, headers: BEARER });
  const body = (await r.json()) as T;
  assert.equal(r.status, 200, `${init.method ?? 'GET'} ${path}: ${JSON.stringify(body)}`);
  return body;
}

/** Log in through the form; the session cookie and the page's CSRF token. */
async function login(): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const r = await call('/login', { method: 'POST', body: new URLSearchParams({ token: TOKEN }) });
  assert.equal(r.status, 303);
  assert.equal(r.headers.get('location'), '/');
  const setCookie = r.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0] as string;
  const page = await call('/', { headers: { cookie } });
  assert.equal(page.status, 200);
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(await page.text())?.[1];
  assert.ok(csrf, 'the page carries the CSRF token');
  return { cookie, csrf, setCookie };
}

describe('auth', () => {
  test('every registered route answers 401 without a token (and with a wrong one), except /healthz and the login page', async () => {
    const routes = dash.routes;
    const expected = ['GET /', 'GET /app.js', 'GET /events', 'GET /api/overview', 'GET /api/workers', 'GET /api/queues', 'GET /api/tasks', 'GET /api/tasks/:id', 'POST /api/tasks/:id/revoke', 'GET /api/dlq', 'POST /api/dlq/replay', 'POST /api/dlq/purge', 'POST /api/rate-limit', 'POST /logout'];
    for (const r of expected) assert.ok(routes.some((x) => `${x.method} ${x.url}` === r), `route ${r} is registered`);
    let checked = 0;
    for (const { method, url } of routes) {
      if (PUBLIC_ROUTES.has(`${method} ${url}`)) continue;
      const path = url.replace(/:\w+/g, 'some-id');
      const attempts: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong' }, { cookie: 'celeriac_dashboard=v1.1.abc.0000000000000000000000000000000000000000000' }];
      for (const headers of attempts) {
        const r = await call(path, { method, headers });
        assert.equal(r.status, 401, `${method} ${url} with ${JSON.stringify(headers)}`);
        if (method !== 'HEAD') assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'E_UNAUTHORIZED');
        checked++;
      }
    }
    assert.ok(checked >= expected.length * 3);
    assert.equal((await call('/no/such/route')).status, 401, 'unknown paths too');
    const html = await call('/', { headers: { accept: 'text/html' } });
    assert.equal(html.status, 401, 'a browser gets 401 too (with a link to /login)');
    assert.match(await html.text(), /href="\/login"/);

    assert.equal((await call('/healthz')).status, 200);
    assert.equal((await call('/login')).status, 200);
    assert.equal((await call('/api/overview', { headers: BEARER })).status, 200);
    assert.equal((await call('/api/overview', { headers: { authorization: `bearer ${TOKEN}` } })).status, 200, 'scheme is case-insensitive');
  });

  test('login sets an HttpOnly SameSite=Strict session cookie that is not the token; a wrong token is 401', async () => {
    const wrong = await call('/login', { method: 'POST', body: new URLSearchParams({ token: 'nope' }) });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    const { cookie, setCookie } = await login();
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.ok(!setCookie.includes(TOKEN), 'the cookie does not hold the token');
    assert.equal((await call('/api/overview', { headers: { cookie } })).status, 200);
    const forged = cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    assert.equal((await call('/api/overview', { headers: { cookie: forged } })).status, 401, 'a tampered session is refused');
    const crossSite = await call('/login', { method: 'POST', headers: { origin: 'http://evil.example' }, body: new URLSearchParams({ token: TOKEN }) });
    assert.equal(crossSite.status, 403, 'a cross-origin login is refused');
    const crossSiteFetch = await call('/login', { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' }, body: new URLSearchParams({ token: TOKEN }) });
    assert.equal(crossSiteFetch.status, 403, 'a cross-site login is refused');
  });

  test('state changes are POST only; a cookie-authenticated POST needs the CSRF token and the same origin; bearer calls need none', async () => {
    const { cookie, csrf } = await login();
    const body = { task: 'dash.ok', rate: '10/s' };
    const noCsrf = await call('/api/rate-limit', { method: 'POST', headers: { cookie }, body });
    assert.equal(noCsrf.status, 403);
    assert.equal(((await noCsrf.json()) as { error: { code: string } }).error.code, 'E_CSRF');
    assert.equal((await call('/api/rate-limit', { method: 'POST', headers: { cookie, 'x-csrf-token': 'x' + csrf }, body })).status, 403, 'wrong CSRF token');
    assert.equal((await call('/api/rate-limit', { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, origin: 'http://evil.example' }, body })).status, 403, 'cross origin');
    assert.equal((await call('/api/rate-limit', { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' }, body })).status, 403, 'Sec-Fetch-Site cross-site');
    const port = new URL(dash.url).port;
    const ok = await call('/api/rate-limit', { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' }, body });
    assert.equal(ok.status, 200, await ok.text());
    // What a browser sends for a page served with Referrer-Policy: no-referrer.
    assert.equal((await call('/api/rate-limit', { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, origin: 'null' }, body })).status, 200, 'Origin: null');
    assert.equal((await call('/api/rate-limit', { method: 'POST', headers: BEARER, body: { task: 'dash.ok', rate: null } })).status, 200);
    assert.equal((await call('/api/rate-limit', { method: 'POST', headers: BEARER, body: { task: 'dash.ok', rate: 'lots' } })).status, 400, 'a bad rate is a 400');
    assert.equal((await call('/api/rate-limit', { method: 'POST', headers: BEARER, body: { task: 'dash.ok', rate: null, extra: 1 } })).status, 400, 'an unknown field is a 400');
    assert.equal((await call('/api/dlq/purge', { method: 'POST', headers: { ...BEARER, 'content-type': 'text/plain' }, body: 'queue=x' })).status, 415, 'only JSON bodies');
    for (const path of ['/api/dlq/replay', '/api/dlq/purge', '/api/rate-limit', '/api/tasks/abc/revoke', '/logout']) {
      assert.equal((await call(path, { headers: BEARER })).status, 404, `GET ${path} changes nothing`);
    }
    const out = await call('/logout', { method: 'POST', headers: { cookie, 'x-csrf-token': csrf }, body: {} });
    assert.equal(out.status, 200);
    assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
  });

  test('security headers: CSP without inline script, nosniff, no referrer, no framing', async () => {
    for (const path of ['/', '/api/overview', '/app.js']) {
      const r = await call(path, { headers: BEARER });
      const csp = r.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    }
    const loginCsp = (await call('/login')).headers.get('content-security-policy') ?? '';
    assert.match(loginCsp, /script-src 'sha256-[A-Za-z0-9+/=]+'/, 'the login page allows its one script by hash');
    assert.doesNotMatch(loginCsp, /unsafe-inline/);
    assert.doesNotMatch(await (await call('/', { headers: BEARER })).text(), /<script>/, 'the app page has no inline script');
  });

  test('sessions expire and are bound to the token', () => {
    const a = new DashboardAuth('one-token', 1000);
    const s = a.newSession(10_000);
    assert.ok(a.verifySession(s, 10_500));
    assert.ok(!a.verifySession(s, 11_001), 'expired');
    assert.ok(!new DashboardAuth('other-token', 1000).verifySession(s, 10_500), 'another token does not accept it');
    assert.notEqual(a.csrfToken(s), a.csrfToken(a.newSession(10_000)), 'one CSRF token per session');
  });
});

describe('API', () => {
  test('a task flows through: the table, the detail, the overview (worker, queue, charts)', async () => {
    const r = await app.sendTask('dash.ok', [21]);
    await r.get({ timeout: '10s' });
    await until(async () => (await api<{ tasks: Array<{ id: string; state: string }> }>(`/api/tasks?q=${r.id}`)).tasks[0]?.state === 'SUCCESS', 10_000, 'task SUCCESS in the table');
    const found = await api<{ tasks: Array<{ id: string; name: string; queue: string; worker: string; runtimeMs: number | null }> }>('/api/tasks?name=dash.ok&state=SUCCESS');
    const row = found.tasks.find((t) => t.id === r.id);
    assert.deepEqual({ name: row?.name, queue: row?.queue, worker: row?.worker }, { name: 'dash.ok', queue: 'default', worker: 'dash-node' });
    assert.equal(typeof row?.runtimeMs, 'number');
    assert.equal((await api<{ tasks: unknown[] }>('/api/tasks?state=FAILURE&q=' + r.id)).tasks.length, 0, 'the state filter applies');

    const detail = await api<{ state: string; result: unknown; attempts: number; history: Array<{ type: string }>; traceId: string | null; args: unknown }>(`/api/tasks/${r.id}`);
    assert.equal(detail.state, 'SUCCESS');
    assert.deepEqual(detail.args, [21], 'arguments from the task-received event');
    const publishTrace = tracing.spans().find((s) => s.attributes['celeriac.task.id'] === r.id)?.traceId;
    assert.ok(publishTrace, 'the publish span was recorded');
    assert.equal(detail.traceId, publishTrace, 'trace id from the task-received event');
    assert.deepEqual(detail.result, { doubled: 42 });
    assert.equal(detail.attempts, 1);
    assert.deepEqual(detail.history.map((h) => h.type), ['task-received', 'task-started', 'task-succeeded']);

    await until(async () => (await api<{ series: { succeeded: number[] } }>('/api/overview')).series.succeeded.some((n) => n > 0), 5000, 'throughput counted');
    const o = await api<{ workers: Array<{ name: string; online: boolean; load: number; concurrency: number }>; queues: Array<{ queue: string; consumers: number; depth: number | null; hasConsumer: boolean | null }>; errors: string[]; series: { p50: Array<number | null> } }>('/api/overview');
    assert.deepEqual(o.errors, []);
    const w = o.workers.find((x) => x.name === 'dash-node');
    assert.equal(w?.online, true);
    assert.equal(w?.concurrency, 4);
    const q = o.queues.find((x) => x.queue === 'default');
    assert.deepEqual({ consumers: q?.consumers, depth: q?.depth, hasConsumer: q?.hasConsumer }, { consumers: 1, depth: 0, hasConsumer: true });
    assert.ok(o.series.p50.some((v) => v !== null), 'a runtime percentile');
    assert.equal((await api<{ workers: unknown[] }>('/api/workers')).workers.length, 1);
    assert.ok((await api<{ queues: Array<{ queue: string }> }>('/api/queues')).queues.some((x) => x.queue === 'default'));
    assert.equal((await call('/api/tasks/bad%20id', { headers: BEARER })).status, 400, 'a bad id is a 400');
  });

  test('a failure lands in the DLQ with its arguments and trace id; replay and purge; revoke', async () => {
    const r = await app.sendTask('dash.boom', [XSS]);
    await r.get({ timeout: '10s' }).catch(() => undefined);
    await until(async () => (await api<{ entries: Array<{ taskId: string }> }>('/api/dlq')).entries.some((e) => e.taskId === r.id), 10_000, 'dead letter listed');
    const dlq = await api<{ entries: Array<{ taskId: string; task: string; reason: string; args: string; error: { message: string } }>; total: number }>('/api/dlq?queue=default');
    const entry = dlq.entries.find((e) => e.taskId === r.id);
    assert.deepEqual({ task: entry?.task, reason: entry?.reason }, { task: 'dash.boom', reason: 'failed' });
    assert.equal(entry?.args, JSON.stringify([XSS]), 'the API returns the arguments as data; the page escapes them');
    assert.ok(dlq.total >= 1);

    const detail = await api<{ state: string; args: unknown; error: { name: string }; traceback: string; traceId: string | null }>(`/api/tasks/${r.id}`);
    assert.equal(detail.state, 'FAILURE');
    assert.deepEqual(detail.args, [XSS]);
    assert.equal(detail.error.name, 'TypeError');
    assert.match(detail.traceback, /cannot handle/);
    const publishTrace = tracing.spans().find((s) => s.attributes['celeriac.task.id'] === r.id)?.traceId;
    assert.ok(publishTrace, 'the publish was traced');
    assert.equal(detail.traceId, publishTrace, 'the trace id comes from the dead letter traceparent');

    assert.equal((await call('/api/dlq/replay', { method: 'POST', headers: BEARER, body: {} })).status, 400, 'replay needs ids or all');
    const replayed = await api<{ replayed: string[] }>('/api/dlq/replay', { method: 'POST', body: { ids: [r.id] } });
    assert.deepEqual(replayed.replayed, [r.id]);
    // It fails again (same arguments), so a new dead letter appears; purge removes it.
    await until(async () => (await api<{ entries: Array<{ taskId: string }> }>('/api/dlq')).entries.some((e) => e.taskId === r.id), 10_000, 'dead-lettered again');
    const purged = await api<{ removed: number }>('/api/dlq/purge', { method: 'POST', body: {} });
    assert.ok(purged.removed >= 1);
    assert.equal((await api<{ total: number }>('/api/dlq')).total, 0);

    const queued = await app.sendTask('dash.ok', [1], { queue: 'nobody' });
    assert.deepEqual(await api('/api/tasks/' + queued.id + '/revoke', { method: 'POST', body: { terminate: false } }), { revoked: [queued.id], terminate: false });
    assert.equal(await queued.state(), 'REVOKED');
    assert.ok((await api<{ queues: Array<{ queue: string; depth: number }> }>('/api/queues')).queues.some((x) => x.queue === 'nobody' && x.depth === 1), 'the queue nobody consumes shows its depth');
  });

  test('live feed: the overview at once, task rows batched; at most maxClients streams, freed on close', async () => {
    const streams: AbortController[] = [];
    const open = async () => {
      const ac = new AbortController();
      const res = await fetch(`${dash.url}/events`, { headers: BEARER, signal: ac.signal });
      streams.push(ac);
      return { res, ac };
    };
    try {
      const { res } = await open();
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      const dec = new TextDecoder();
      const read = async (cond: () => boolean, what: string) => {
        const deadline = Date.now() + 10_000;
        while (!cond()) {
          if (Date.now() > deadline) throw new Error(`${what} not received: ${text.slice(-500)}`);
          const { value, done } = await reader.read();
          if (done) throw new Error('stream ended');
          text += dec.decode(value, { stream: true });
        }
      };
      await read(() => text.includes('event: overview'), 'overview');
      const r = await app.sendTask('dash.ok', [2]);
      await read(() => new RegExp(`event: tasks\\ndata: .*"id":"${r.id}","name":"dash.ok","state":"SUCCESS"`).test(text), 'task row SUCCESS');
      const frames = text.split('\n\n').filter((f) => f.startsWith('event: tasks'));
      for (const f of frames) {
        const data = JSON.parse(f.split('\ndata: ')[1] as string) as { rows: unknown[]; dropped: number };
        assert.ok(Array.isArray(data.rows));
        assert.equal(data.dropped, 0);
      }

      const second = await open();
      assert.equal(second.res.status, 200);
      const third = await fetch(`${dash.url}/events`, { headers: BEARER });
      assert.equal(third.status, 503, 'over the cap');
      assert.equal(((await third.json()) as { error: { code: string } }).error.code, 'E_TOO_MANY_CLIENTS');
      second.ac.abort();
      await until(async () => {
        const again = await open();
        if (again.res.status === 200) return true;
        await again.res.body?.cancel();
        return false;
      }, 5000, 'a closed stream frees its place');
    } finally {
      for (const ac of streams) ac.abort();
    }
  });
});

describe('units', () => {
  const ev = (type: CeleriacEvent['type'], id: string, at: number, fields: Record<string, unknown> = {}): CeleriacEvent => ({ type, id, task: 't.x', at, worker: 'w', ...fields });

  test('the task table is bounded (least recently updated evicted), applies events in time order, and searches', () => {
    const t = new TaskTable(3);
    t.apply(ev('task-received', 'a', 1, { queue: 'q' }));
    t.apply(ev('task-received', 'b', 2));
    t.apply(ev('task-received', 'c', 3));
    t.apply(ev('task-started', 'a', 4));
    t.apply(ev('task-received', 'd', 5));
    assert.equal(t.size, 3);
    assert.equal(t.evicted, 1);
    assert.equal(t.get('b'), undefined, 'b was the least recently updated');
    t.apply(ev('task-succeeded', 'a', 10));
    t.apply(ev('task-started', 'a', 6));
    assert.equal(t.get('a')?.state, 'SUCCESS', 'an older event does not roll the state back');
    assert.equal(t.get('a')?.runtimeMs, 6, 'runtime = succeeded - started');
    assert.equal(t.get('a')?.queue, 'q');
    assert.deepEqual(t.search().map((r) => r.id), ['a', 'd', 'c']);
    assert.deepEqual(t.search({ state: 'SUCCESS' }).map((r) => r.id), ['a']);
    assert.deepEqual(t.search({ q: 'D' }).map((r) => r.id), ['d']);
    assert.deepEqual(t.search({ limit: 1 }).map((r) => r.id), ['a']);
    assert.equal(t.apply({ type: 'worker-heartbeat', at: 1, worker: 'w' }), null);
  });

  test('the task table shows a custom state from ctx.updateState (its task-progress event), PROGRESS for progress()', () => {
    const t = new TaskTable(3);
    t.apply(ev('task-started', 'a', 1));
    t.apply(ev('task-progress', 'a', 2, { meta: { done: 1 } }));
    assert.equal(t.get('a')?.state, 'PROGRESS');
    t.apply(ev('task-progress', 'a', 3, { state: 'UPLOADING', meta: { part: 1 } }));
    assert.equal(t.get('a')?.state, 'UPLOADING');
    assert.deepEqual(t.search({ state: 'UPLOADING' }).map((r) => r.id), ['a']);
    t.apply(ev('task-progress', 'a', 4, { state: 'SUCCESS' }));
    assert.equal(t.get('a')?.state, 'PROGRESS', 'a state a task cannot set is not taken from an event');
  });

  test('options: one rule each', () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ token: '' }, /options\.token/],
      [{ token: 'a b' }, /options\.token/],
      [{ token: 't', port: 70_000 }, /options\.port/],
      [{ token: 't', port: 1.5 }, /options\.port/],
      [{ token: 't', host: '' }, /options\.host/],
      [{ token: 't', maxTasks: 0 }, /options\.maxTasks/],
      [{ token: 't', maxClients: -1 }, /options\.maxClients/],
      [{ token: 't', flushEvery: '100ms' }, /options\.flushEvery/],
      [{ token: 't', overviewEvery: 'soon' }, /options\.overviewEvery/],
    ];
    for (const [o, msg] of bad) {
      assert.throws(() => resolveDashboardOptions(o as never), (err: unknown) => isInvalidArgumentError(err) && msg.test(err.message), JSON.stringify(o));
    }
    const r = resolveDashboardOptions({ token: 't' });
    assert.deepEqual([r.host, r.port, r.maxTasks, r.flushEveryMs, r.overviewEveryMs], ['127.0.0.1', 5555, 10_000, 250, 2000]);
    assert.deepEqual(['127.0.0.1', '127.1.2.3', '::1', 'localhost', '0.0.0.0', '10.0.0.1', '::', 'example.com'].map(isLoopback), [true, true, true, true, false, false, false, false]);
    assert.deepEqual([percentile([], 50), percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 95)], [null, 2, 4]);
  });
});
