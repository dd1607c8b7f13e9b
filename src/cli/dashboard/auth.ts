import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Name of the session cookie `POST /login` sets. */
export const SESSION_COOKIE = 'celeriac_dashboard';
/** Header a cookie-authenticated state-changing request must carry. */
export const CSRF_HEADER = 'x-csrf-token';

/** How a request proved who it is. */
export type Principal = { via: 'bearer' } | { via: 'cookie'; session: string };

/** Routes reachable without a token: `"METHOD /path"`. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(['GET /healthz', 'HEAD /healthz', 'GET /login', 'HEAD /login', 'POST /login']);

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Equal strings, in time that does not depend on where they differ (both are hashed first, so neither does the length). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * The dashboard's secrets. A session is `v1.<issued ms>.<nonce>.<mac>`, the mac an HMAC of the rest
 * under a key derived from the token (so the cookie never holds the token, and changing the token
 * ends every session); the CSRF token of a session is an HMAC of the session under the same key.
 */
export class DashboardAuth {
  readonly #token: string;
  readonly #key: Buffer;
  readonly #ttlMs: number;

  constructor(token: string, sessionTtlMs: number) {
    this.#token = token;
    this.#key = createHmac('sha256', token).update('celeriac-dashboard-session-v1').digest();
    this.#ttlMs = sessionTtlMs;
  }

  /** Session lifetime in ms. */
  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** True when `candidate` is the token (constant time). */
  checkToken(candidate: string): boolean {
    return safeEqual(candidate, this.#token);
  }

  #mac(text: string): string {
    return createHmac('sha256', this.#key).update(text).digest('base64url');
  }

  /** A new session value for the cookie. */
  newSession(now = Date.now()): string {
    const body = `v1.${now}.${randomBytes(16).toString('base64url')}`;
    return `${body}.${this.#mac(body)}`;
  }

  /** True when `value` is a session this token issued and it has not expired. */
  verifySession(value: string, now = Date.now()): boolean {
    const m = /^(v1\.(\d{1,15})\.[A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (!m) return false;
    const issued = Number(m[2]);
    if (!(issued <= now + 60_000 && now - issued < this.#ttlMs)) return false;
    return safeEqual(m[3] as string, this.#mac(m[1] as string));
  }

  /** The CSRF token of a session (the page gets it in a `<meta>` tag). */
  csrfToken(session: string): string {
    return this.#mac(`csrf:${session}`);
  }

  /** Who sent `req`: a valid bearer token, a valid session cookie, or nobody (null). */
  principal(req: FastifyRequest): Principal | null {
    const authz = req.headers.authorization;
    if (authz !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authz);
      return m && this.checkToken(m[1] as string) ? { via: 'bearer' } : null;
    }
    const session = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    return session !== undefined && this.verifySession(session) ? { via: 'cookie', session } : null;
  }
}

/** Cookies of a `Cookie` header. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i < 1) continue;
    const name = part.slice(0, i).trim();
    if (!out.has(name)) out.set(name, part.slice(i + 1).trim());
  }
  return out;
}

/** `Set-Cookie` value of a session (`null`: clear it). */
export function sessionCookie(session: string | null, maxAgeMs: number): string {
  const attrs = 'Path=/; HttpOnly; SameSite=Strict';
  return session === null ? `${SESSION_COOKIE}=; ${attrs}; Max-Age=0` : `${SESSION_COOKIE}=${session}; ${attrs}; Max-Age=${Math.floor(maxAgeMs / 1000)}`;
}

/**
 * Whether a browser request comes from this origin: `Sec-Fetch-Site` (when sent) must be
 * `same-origin` or `none`, and `Origin` (when sent) must be this host. `Origin: null` says nothing:
 * browsers send it for every POST of a page served with `Referrer-Policy: no-referrer`, as the
 * dashboard's pages are; `Sec-Fetch-Site` and, for the API, the CSRF token still apply.
 */
export function sameOrigin(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return true;
  return origin === `${req.protocol}://${req.headers.host ?? ''}`;
}

/** A JSON error body: `{ error: { code, message } }`. */
export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/** Whether the client is a browser navigating to a page (it gets HTML, not JSON). */
function wantsHtml(req: FastifyRequest): boolean {
  const path = req.url.split('?')[0] ?? '';
  return req.method === 'GET' && !path.startsWith('/api/') && path !== '/events' && /text\/html/.test(req.headers.accept ?? '');
}

/** 401 page: still 401, but a browser is sent on to the login page. */
const UNAUTHORIZED_HTML =
  '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/login"><title>Log in</title><p>Authentication required: <a href="/login">log in</a>.</p>';

function deny(req: FastifyRequest, reply: FastifyReply, status: 401 | 403, code: string, message: string): FastifyReply {
  if (status === 401 && wantsHtml(req)) return reply.code(401).type('text/html; charset=utf-8').send(UNAUTHORIZED_HTML);
  return reply.code(status).send(errorBody(code, message));
}

/**
 * Require a principal on every route but {@link PUBLIC_ROUTES} (unknown paths included), and on a
 * cookie-authenticated request that is not GET/HEAD the session's CSRF token in `X-CSRF-Token` and
 * a same-origin `Origin`. Bearer-token calls carry no ambient credential, so they need no CSRF token.
 * Returns the principal of a request (null on public routes).
 */
export function installAuth(fastify: FastifyInstance, auth: DashboardAuth): (req: FastifyRequest) => Principal | null {
  const principals = new WeakMap<FastifyRequest, Principal>();
  fastify.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url;
    if (route !== undefined && PUBLIC_ROUTES.has(`${req.method} ${route}`)) return;
    const who = auth.principal(req);
    if (!who) return deny(req, reply, 401, 'E_UNAUTHORIZED', 'a valid bearer token or login session is required');
    if (who.via === 'cookie' && !SAFE_METHODS.has(req.method)) {
      const given = req.headers[CSRF_HEADER];
      if (typeof given !== 'string' || !safeEqual(given, auth.csrfToken(who.session))) {
        return deny(req, reply, 403, 'E_CSRF', `missing or wrong ${CSRF_HEADER} header`);
      }
      if (!sameOrigin(req)) return deny(req, reply, 403, 'E_CSRF', 'cross-origin request refused');
    }
    principals.set(req, who);
  });
  return (req) => principals.get(req) ?? null;
}
