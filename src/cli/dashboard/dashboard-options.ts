import { isIP } from 'node:net';
import { InvalidArgumentError } from '../../errors.ts';
import { type Duration, parseDuration } from '../../util/duration.ts';

/** Options of the web dashboard (`celeriac dashboard`, {@link startDashboard}). */
export interface DashboardOptions {
  /**
   * The secret every request must carry (`Authorization: Bearer <token>`, or the session cookie that
   * `POST /login` sets after checking it). Required.
   */
  token: string;
  /** Interface to listen on; anything but a loopback address exposes the dashboard to the network. @defaultValue `'127.0.0.1'` */
  host?: string;
  /** TCP port (`0`: any free port). @defaultValue `5555` */
  port?: number;
  /** Recent tasks kept in memory (least recently updated evicted first). @defaultValue `10_000` */
  maxTasks?: number;
  /** Live-update (SSE) connections served at once; more get 503. @defaultValue `32` */
  maxClients?: number;
  /** Bytes queued for one slow live-update connection before updates to it are dropped (and counted). @defaultValue `1_048_576` */
  clientBufferBytes?: number;
  /** How often task updates are pushed (at most 4 a second). @defaultValue `'250ms'` */
  flushEvery?: Duration;
  /** How often the overview (workers, queues, dead letters, charts) is pushed. @defaultValue `'2s'` */
  overviewEvery?: Duration;
  /** How often an idle live-update connection gets a keep-alive comment. @defaultValue `'15s'` */
  heartbeatEvery?: Duration;
  /** Lifetime of a login session. @defaultValue `'12h'` */
  sessionTtl?: Duration;
}

/** Defaults of {@link DashboardOptions}. */
export const DEFAULT_DASHBOARD_OPTIONS = {
  host: '127.0.0.1',
  port: 5555,
  maxTasks: 10_000,
  maxClients: 32,
  clientBufferBytes: 1_048_576,
  flushEvery: '250ms',
  overviewEvery: '2s',
  heartbeatEvery: '15s',
  sessionTtl: '12h',
} as const satisfies Omit<Required<DashboardOptions>, 'token'>;

/** {@link DashboardOptions} checked, with durations in milliseconds. */
export interface ResolvedDashboardOptions {
  token: string;
  host: string;
  port: number;
  maxTasks: number;
  maxClients: number;
  clientBufferBytes: number;
  flushEveryMs: number;
  overviewEveryMs: number;
  heartbeatEveryMs: number;
  sessionTtlMs: number;
}

function positiveInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Check the options and fill in defaults.
 * @throws InvalidArgumentError naming the first bad option.
 */
export function resolveDashboardOptions(o: DashboardOptions): ResolvedDashboardOptions {
  const d = DEFAULT_DASHBOARD_OPTIONS;
  if (typeof o.token !== 'string' || o.token.length === 0) throw new InvalidArgumentError('options.token must be a non-empty string');
  if (o.token.length > 1024 || /\s/.test(o.token)) throw new InvalidArgumentError('options.token must be at most 1024 characters without white space');
  const port = o.port ?? d.port;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidArgumentError(`options.port must be an integer from 0 to 65535, got ${JSON.stringify(port)}`);
  const host = o.host ?? d.host;
  if (typeof host !== 'string' || host.length === 0) throw new InvalidArgumentError('options.host must be a non-empty string');
  const flushEveryMs = parseDuration(o.flushEvery ?? d.flushEvery, 'options.flushEvery');
  if (flushEveryMs < 250) throw new InvalidArgumentError(`options.flushEvery must be at least 250 ms (at most 4 pushes a second), got ${flushEveryMs}`);
  const overviewEveryMs = parseDuration(o.overviewEvery ?? d.overviewEvery, 'options.overviewEvery');
  const heartbeatEveryMs = parseDuration(o.heartbeatEvery ?? d.heartbeatEvery, 'options.heartbeatEvery');
  const sessionTtlMs = parseDuration(o.sessionTtl ?? d.sessionTtl, 'options.sessionTtl');
  for (const [k, v] of [['overviewEvery', overviewEveryMs], ['heartbeatEvery', heartbeatEveryMs], ['sessionTtl', sessionTtlMs]] as const) {
    if (v < 1) throw new InvalidArgumentError(`options.${k} must be positive`);
  }
  return {
    token: o.token,
    host,
    port,
    maxTasks: positiveInt(o.maxTasks ?? d.maxTasks, 'options.maxTasks'),
    maxClients: positiveInt(o.maxClients ?? d.maxClients, 'options.maxClients'),
    clientBufferBytes: positiveInt(o.clientBufferBytes ?? d.clientBufferBytes, 'options.clientBufferBytes'),
    flushEveryMs,
    overviewEveryMs,
    heartbeatEveryMs,
    sessionTtlMs,
  };
}

/** True for `localhost`, `127.0.0.0/8` and `::1` (the dashboard warns when it listens elsewhere). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./i.test(h);
  return false;
}

/** `http://host:port` (IPv6 hosts in brackets). */
export function baseUrl(host: string, port: number): string {
  const h = isIP(host) === 6 ? `[${host}]` : host;
  return `http://${h}:${port}`;
}
