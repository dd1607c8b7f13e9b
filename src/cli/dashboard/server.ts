import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { App } from '../../app/create-app.ts';
import { isInvalidArgumentError } from '../../errors.ts';
import { registerApiRoutes } from './api-routes.ts';
import { DashboardAuth, errorBody, installAuth, sameOrigin, sessionCookie } from './auth.ts';
import { type DashboardOptions, type ResolvedDashboardOptions, baseUrl, resolveDashboardOptions } from './dashboard-options.ts';
import { LiveFeed } from './live-feed.ts';
import { OverviewSource } from './overview.ts';
import { CSP, LOGIN_CSP, appPage, loginPage } from './page.ts';
import { PAGE_SCRIPT } from './page-script.ts';
import { PAGE_STYLE } from './page-style.ts';
import { TaskTable } from './task-table.ts';
import { QueueRates, Throughput } from './throughput.ts';

/** A running dashboard. */
export interface Dashboard {
  /** `http://host:port` it listens on. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Every route registered (`HEAD` twins included), for the auth test. */
  readonly routes: ReadonlyArray<{ method: string; url: string }>;
  /** The recent tasks it tracks. */
  readonly tasks: TaskTable;
  /** The Fastify instance. */
  readonly fastify: FastifyInstance;
  /** Close the live-update streams, stop following events and stop listening (the app stays open). */
  close(): Promise<void>;
}

/** Headers of every response (the login page replaces the CSP with its own). */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** Failed logins allowed per minute before `POST /login` answers 429 for the rest of that minute. */
const LOGIN_FAILURES_PER_MINUTE = 30;

/**
 * Start the web dashboard of `app`: follows the app's events into a bounded task table and the
 * charts' counters, serves the page, the JSON API and the live feed, and listens on
 * `options.host:options.port` (`port: 0` picks a free one; see `url`).
 * @example
 * const dashboard = await startDashboard(app, { token: 's3cret', port: 0 });
 * console.log(`${dashboard.url}/login`);
 * await dashboard.close();
 * @throws InvalidArgumentError for a bad option; the listen error when the port is taken.
 */
export async function startDashboard(app: App, options: DashboardOptions): Promise<Dashboard> {
  const o = resolveDashboardOptions(options);
  const table = new TaskTable(o.maxTasks);
  const throughput = new Throughput();
  const rates = new QueueRates();
  const overview = new OverviewSource(app, table, throughput, rates);
  const feed = new LiveFeed({ ...o, overview: () => overview.overview(), headers: { ...SECURITY_HEADERS, 'content-security-policy': CSP } });

  const stopEvents = await app.events.subscribe((e) => {
    if (e.type === 'task-received' && typeof e.queue === 'string') rates.received(e.queue);
    const row = table.apply(e);
    if (!row) return;
    if (e.type === 'task-succeeded') throughput.succeeded(row.runtimeMs);
    else if (e.type === 'task-failed' || e.type === 'task-rejected') throughput.failed();
    feed.taskChanged(row);
  });

  const fastify = buildServer(app, o, table, overview, feed);
  try {
    await fastify.listen({ host: o.host, port: o.port });
  } catch (err) {
    stopEvents();
    feed.close();
    await fastify.close();
    throw err;
  }
  const port = (fastify.server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: baseUrl(o.host, port),
    host: o.host,
    port,
    routes: routesOf(fastify),
    tasks: table,
    fastify,
    close() {
      closing ??= (async () => {
        stopEvents();
        feed.close();
        await fastify.close();
      })();
      return closing;
    },
  };
}

const ROUTES = new WeakMap<FastifyInstance, Array<{ method: string; url: string }>>();
function routesOf(f: FastifyInstance): Array<{ method: string; url: string }> {
  return ROUTES.get(f) ?? [];
}

function buildServer(app: App, o: ResolvedDashboardOptions, table: TaskTable, overview: OverviewSource, feed: LiveFeed): FastifyInstance {
  const fastify = Fastify({
    logger: false,
    bodyLimit: 1_048_576,
    forceCloseConnections: true,
    return503OnClosing: true,
    // Unknown fields are an error (400), not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
  });
  const routes: Array<{ method: string; url: string }> = [];
  ROUTES.set(fastify, routes);
  fastify.addHook('onRoute', (r) => {
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) routes.push({ method, url: r.url });
  });
  // JSON for the API, a form for the login; a text/plain POST (what a cross-site form can send) is 415.
  fastify.removeContentTypeParser('text/plain');
  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8192 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  fastify.addHook('onSend', async (_req, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', CSP);
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
  fastify.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err.validation || isInvalidArgumentError(err as unknown)) return reply.code(400).send(errorBody('E_INVALID_ARGUMENT', err.message));
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send(errorBody(status === 500 ? 'E_INTERNAL' : (err.code ?? 'E_BAD_REQUEST'), err.message));
  });
  fastify.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody('E_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));

  const auth = new DashboardAuth(o.token, o.sessionTtlMs);
  const principal = installAuth(fastify, auth);

  fastify.get('/healthz', () => ({ status: 'ok' }));

  const loginHtml = (reply: FastifyReply, failed: boolean) =>
    reply.header('content-security-policy', LOGIN_CSP).type('text/html; charset=utf-8').send(loginPage(failed));
  fastify.get('/login', (_req, reply) => loginHtml(reply, false));
  let failures = { minute: 0, count: 0 };
  fastify.post<{ Body: { token?: unknown } | undefined }>('/login', (req, reply) => {
    if (!sameOrigin(req)) return reply.code(403).send(errorBody('E_CSRF', 'cross-origin login refused'));
    const minute = Math.floor(Date.now() / 60_000);
    if (failures.minute !== minute) failures = { minute, count: 0 };
    if (failures.count >= LOGIN_FAILURES_PER_MINUTE) return reply.code(429).send(errorBody('E_TOO_MANY_ATTEMPTS', 'too many failed logins; try again in a minute'));
    const token = typeof req.body?.token === 'string' ? req.body.token : '';
    if (!auth.checkToken(token)) {
      failures.count++;
      return loginHtml(reply.code(401), true);
    }
    return reply.code(303).header('set-cookie', sessionCookie(auth.newSession(), auth.ttlMs)).header('location', '/').send();
  });
  fastify.post('/logout', (_req, reply) => reply.header('set-cookie', sessionCookie(null, 0)).send({ ok: true }));

  fastify.get('/', (req, reply) => {
    const who = principal(req);
    return reply.type('text/html; charset=utf-8').send(appPage(who?.via === 'cookie' ? auth.csrfToken(who.session) : ''));
  });
  fastify.get('/app.js', (_req, reply) => reply.type('text/javascript; charset=utf-8').send(PAGE_SCRIPT));
  fastify.get('/app.css', (_req, reply) => reply.type('text/css; charset=utf-8').send(PAGE_STYLE));

  fastify.get('/events', { exposeHeadRoute: false }, (_req, reply) => {
    if (feed.clients >= o.maxClients) return reply.code(503).send(errorBody('E_TOO_MANY_CLIENTS', `at most ${o.maxClients} live-update connections`));
    reply.hijack();
    if (!feed.add(reply.raw)) reply.raw.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify(errorBody('E_CLOSED', 'dashboard is closing')));
  });

  registerApiRoutes(fastify, app, table, overview);
  return fastify;
}
