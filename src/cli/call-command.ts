import { type App, createApp } from '../app/create-app.ts';
import { InvalidArgumentError, isTaskError } from '../errors.ts';
import type { AsyncResult } from '../results/async-result.ts';
import { isTerminalState } from '../results/states.ts';
import { fromEnv } from './env.ts';
import { loadApp } from './load-app.ts';

/** Flags shared by `call` and `result`. */
export interface ClientFlags {
  app?: string;
  appName?: string;
  broker?: string;
}

/** The app a client command talks to: `-A` module, or an app by name; flags > environment. */
export async function clientApp(flags: ClientFlags): Promise<App> {
  let app: App;
  if (flags.app) app = (await loadApp(flags.app)).app;
  else {
    const name = flags.appName ?? process.env.CELERIAC_APP;
    // A task sent to an app no worker serves waits forever: say which app this is when none was named.
    if (!name) process.stderr.write("celeriac: no -A, --app-name or CELERIAC_APP: talking to the app named 'celeriac'\n");
    // Without the module the app's settings are unknown: use its streams and buckets as they are.
    app = createApp({ name: name || 'celeriac', updateBrokerConfig: false });
  }
  app.configure({ ...fromEnv(), ...(flags.broker ? { broker: flags.broker } : {}) });
  return app;
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
  const app = await clientApp(flags);
  try {
    let eta: Date | undefined;
    if (flags.eta !== undefined) {
      eta = new Date(flags.eta);
      if (Number.isNaN(eta.getTime())) throw new InvalidArgumentError(`--eta must be an ISO 8601 time, got ${JSON.stringify(flags.eta)}`);
    }
    const r = await app.sendTask(task, kwargs ? [...args, kwargs] : args, {
      ...(flags.queue ? { queue: flags.queue } : {}),
      ...(flags.countdown !== undefined ? { countdown: /^\d+$/.test(flags.countdown) ? Number(flags.countdown) : flags.countdown } : {}),
      ...(eta ? { eta } : {}),
    });
    if (!flags.wait) {
      process.stdout.write(r.id + '\n');
      return 0;
    }
    try {
      const value = await withUpdates(r, flags.progress, () => r.get({ timeout: flags.timeout ?? '60s' }));
      process.stdout.write(JSON.stringify({ id: r.id, state: 'SUCCESS', result: value }) + '\n');
      return 0;
    } catch (err) {
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

/** `celeriac result <id>`: prints the stored record (PENDING when none). */
export async function runResult(id: string, flags: ClientFlags & { wait?: boolean; progress?: boolean; timeout?: string }): Promise<number> {
  const app = await clientApp(flags);
  try {
    const r = app.asyncResult(id);
    if (flags.wait) await withUpdates(r, flags.progress, () => r.get({ timeout: flags.timeout ?? '60s' }).catch(() => undefined));
    const info = await r.info();
    process.stdout.write(JSON.stringify(info, null, 2) + '\n');
    return info.status === 'FAILURE' ? 1 : 0;
  } finally {
    await app.close();
  }
}
