import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../errors.ts';
import { type ClientFlags, clientApp } from './call-command.ts';
import { isLoopback } from './dashboard/dashboard-options.ts';
import { type Dashboard, startDashboard } from './dashboard/server.ts';

/** Flags of `celeriac dashboard`. */
export interface DashboardFlags extends ClientFlags {
  timeout?: string;
  /** @defaultValue `'5555'` */
  port?: string;
  /** @defaultValue `'127.0.0.1'` */
  host?: string;
  /** Bearer token; else `CELERIAC_DASHBOARD_TOKEN`; else a random one, printed in the login URL. */
  token?: string;
}

function parsePort(v: string | undefined): number {
  if (v === undefined) return 5555;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65_535) throw new InvalidArgumentError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * `celeriac dashboard [--port 5555] [--host 127.0.0.1] [--token T]`: the web dashboard until
 * SIGINT/SIGTERM. The token comes from `--token`, else `CELERIAC_DASHBOARD_TOKEN`, else a random
 * 32-byte one is made and the login URL carrying it is printed once on stdout.
 */
export async function runDashboard(flags: DashboardFlags): Promise<number> {
  const port = parsePort(flags.port);
  const host = flags.host ?? '127.0.0.1';
  const given = flags.token || process.env.CELERIAC_DASHBOARD_TOKEN || undefined;
  if (given !== undefined && given.length < 16) process.stderr.write('celeriac dashboard: warning: the token is shorter than 16 characters; anyone who can reach the port may guess it\n');
  const token = given ?? randomBytes(32).toString('base64url');
  if (!isLoopback(host)) {
    process.stderr.write(`celeriac dashboard: warning: listening on ${host}, not a loopback address: the dashboard is reachable from the network over plain HTTP (put TLS in front of it)\n`);
  }
  const app = await clientApp(flags);
  let dashboard: Dashboard;
  try {
    dashboard = await startDashboard(app, { host, port, token });
  } catch (err) {
    await app.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(`celeriac dashboard: ${host}:${port} is in use (choose another with --port)\n`);
      return 1;
    }
    throw err;
  }
  process.stderr.write(`celeriac dashboard of app ${app.name} on ${dashboard.url}/ (Ctrl-C to stop)\n`);
  if (!given) process.stdout.write(`${dashboard.url}/login#token=${token}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await dashboard.close();
  await app.close();
  return 0;
}
