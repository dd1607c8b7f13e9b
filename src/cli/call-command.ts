import { type App, createApp } from '../app/create-app.ts';
import type { AppOptions } from '../app/app-options.ts';
import { InvalidArgumentError, isTaskError, isTimeoutError } from '../errors.ts';
import { validateTaskId } from '../protocol/names.ts';
import type { AsyncResult } from '../results/async-result.ts';
import { isTerminalState } from '../results/states.ts';
import { redactUrl } from '../util/redact-url.ts';
import { fromEnv } from './env.ts';
import { CliError, EXIT_NOT_FINISHED, durationFlag, formatDuration } from './flags.ts';
import { loadApp } from './load-app.ts';

/** Flags shared by `call` and `result`. */
export interface ClientFlags {
  app?: string;
  appName?: string;
  broker?: string;
}

/**
 * The app a client command talks to, connected: `-A` module, or an app by name; `overrides` >
 * flags > environment (they are applied before the connection, after which an app's options are fixed).
 */
export async function clientApp(flags: ClientFlags, overrides: AppOptions = {}): Promise<App> {
  let app: App;
  if (flags.app) app = (await loadApp(flags.app)).app;
  else {
    const name = flags.appName ?? process.env.CELERIAC_APP;
    // A task sent to an app no worker serves waits forever: say which app this is when none was named.
    if (!name) process.stderr.write("celeriac: no -A, --app-name or CELERIAC_APP: talking to the app named 'celeriac'\n");
    // Without the module the app's settings are unknown: use its streams and buckets as they are.
    app = createApp({ name: name || 'celeriac', updateBrokerConfig: false });
  }
  app.configure({ ...fromEnv(), ...(flags.broker ? { broker: flags.broker } : {}), ...overrides });
  // memory:// lives in this process alone: a revoke, a purge or a task sent there reaches no worker.
  if (app.options.broker.startsWith('memory://')) {
    process.stderr.write('celeriac: the broker is memory:// (no -b, CELERIAC_BROKER_URL or broker option of the app names another): it lives in this process only, and no worker sees what this command does\n');
  }
  await connect(app);
  return app;
}

/**
 * Connect to the broker now, so that an unreachable one is reported in one line naming its URL
 * rather than by the first operation with the client library's stack.
 * @throws CliError `E_BROKER_UNAVAILABLE`; Celeriac's own errors (e.g. `E_BROKER_AUTH`) as they are.
 */
async function connect(app: App): Promise<void> {
  try {
    await app.transport().connect();
  } catch (err) {
    await app.close().catch(() => undefined);
    const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
    if (typeof code === 'string' && code.startsWith('E_')) throw err;
    const url = redactUrl(app.options.broker);
    const message = err instanceof Error ? err.message : String(err);
    throw new CliError('E_BROKER_UNAVAILABLE', `cannot connect to ${url}: ${message} (check -b, CELERIAC_BROKER_URL and that nats-server runs there)`, 1, {
      cause: err,
    });
  }
}

function parseJson(v: string | undefined, flag: string, fallback: unknown): unknown {
  if (v === undefined) return fallback;
  try {
    return JSON.parse(v);
  } catch (err) {
    throw new InvalidArgumentError(`${flag} must be JSON, e.g. '[1, 2]': ${(err as Error).message}`);
  }
}

/** `celeriac call <task> --args '[..]'`: prints the task id, or with --wait the result. */
export async function runCall(
  task: string,
  flags: ClientFlags & { args?: string; kwargs?: string; queue?: string; wait?: boolean; progress?: boolean; timeout?: string; countdown?: string; eta?: string },
): Promise<number> {
  const args = parseJson(flags.args, '--args', []);
  if (!Array.isArray(args)) throw new InvalidArgumentError("--args must be a JSON array, e.g. '[2, 3]'");
  const kwargs = parseJson(flags.kwargs, '--kwargs', undefined);
  if (kwargs !== undefined && (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs))) {
    throw new InvalidArgumentError('--kwargs must be a JSON object');
  }
  // Every flag is checked before anything is sent: a bad one must not leave a task behind.
  const timeoutMs = durationFlag(flags.timeout ?? '60s', '--timeout');
  const countdown = durationFlag(flags.countdown, '--countdown');
  let eta: Date | undefined;
  if (flags.eta !== undefined) {
    eta = new Date(flags.eta);
    if (Number.isNaN(eta.getTime())) throw new InvalidArgumentError(`--eta must be an ISO 8601 time, got ${JSON.stringify(flags.eta)}`);
  }
  const app = await clientApp(flags);
  try {
    const r = await app.sendTask(task, kwargs ? [...args, kwargs] : args, {
      ...(flags.queue ? { queue: flags.queue } : {}),
      ...(countdown !== undefined ? { countdown } : {}),
      ...(eta ? { eta } : {}),
    });
    if (!flags.wait) {
      process.stdout.write(r.id + '\n');
      return 0;
    }
    try {
      const value = await withUpdates(r, flags.progress, () => r.get({ timeout: timeoutMs }));
      process.stdout.write(JSON.stringify({ id: r.id, state: 'SUCCESS', result: value }) + '\n');
      return 0;
    } catch (err) {
      if (isTimeoutError(err)) {
        const state = await r.state();
        process.stdout.write(JSON.stringify({ id: r.id, state }) + '\n');
        return notFinished(r.id, state, timeoutMs);
      }
      if (!isTaskError(err)) throw err;
      process.stdout.write(JSON.stringify({ id: r.id, state: await r.state(), error: err.remote }) + '\n');
      return 1;
    }
  } finally {
    await app.close();
  }
}

/**
 * Run `wait` while the task's state updates go to stderr (unless `progress` is false); stdout is
 * left to the caller.
 */
async function withUpdates<T>(r: AsyncResult, progress: boolean | undefined, wait: () => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const updates = progress === false ? undefined : printUpdates(r, stop.signal);
  try {
    return await wait();
  } finally {
    stop.abort();
    await updates;
  }
}

/**
 * Print each stored state of `r` that is not final (`STARTED`, `PROGRESS`, `RETRY`, a custom state
 * set with `ctx.updateState`) to stderr, with its meta, until `signal` aborts: a long task shows
 * it is alive. Errors are left to `get()`, which reports them.
 */
async function printUpdates(r: AsyncResult, signal: AbortSignal): Promise<void> {
  try {
    for await (const u of r.watch({ signal })) {
      if (u.status === 'PENDING' || isTerminalState(u.status)) continue;
      process.stderr.write(`celeriac: ${r.id} ${u.status}${u.meta ? ` ${JSON.stringify(u.meta)}` : ''}\n`);
    }
  } catch {
    /* get() reports what went wrong */
  }
}

/** Report a `--wait` that ran out of time on stderr; returns {@link EXIT_NOT_FINISHED}. */
function notFinished(id: string, state: string, timeoutMs: number): number {
  process.stderr.write(
    `celeriac: E_TIMEOUT: task ${id} did not finish within ${formatDuration(timeoutMs)} (state ${state}); it may still run: wait longer with celeriac result ${id} --wait --timeout <duration>\n`,
  );
  return EXIT_NOT_FINISHED;
}

/**
 * `celeriac result <id>`: prints the stored record (PENDING when none). Exit code 1 when the task
 * failed or was revoked; with `--wait`, {@link EXIT_NOT_FINISHED} when it did not finish in time.
 */
export async function runResult(id: string, flags: ClientFlags & { wait?: boolean; progress?: boolean; timeout?: string }): Promise<number> {
  validateTaskId(id, 'task id');
  const timeoutMs = durationFlag(flags.timeout ?? '60s', '--timeout');
  const app = await clientApp(flags);
  try {
    const r = app.asyncResult(id);
    let timedOut = false;
    if (flags.wait) {
      try {
        await withUpdates(r, flags.progress, () => r.get({ timeout: timeoutMs }));
      } catch (err) {
        // A failed or revoked task is reported by its record below; anything else is not expected.
        if (isTimeoutError(err)) timedOut = true;
        else if (!isTaskError(err)) throw err;
      }
    }
    const info = await r.info();
    process.stdout.write(JSON.stringify(info, null, 2) + '\n');
    if (timedOut && !isTerminalState(info.status)) return notFinished(id, info.status, timeoutMs);
    return info.status === 'FAILURE' || info.status === 'REVOKED' ? 1 : 0;
  } finally {
    await app.close();
  }
}
