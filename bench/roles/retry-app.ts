/**
 * The app of the retries bench (`bench/retries.ts`) and the step protocol its roles share with the
 * orchestrator. Producer and worker build the same app; only the worker passes hooks.
 *
 * - `bench.retry(i, fails)`: throws `Retry({ countdownMs: 0 })` while `ctx.retries < fails`, so it
 *   runs `fails + 1` times and succeeds on the last. `fails = 0` is the plain noop baseline: the same
 *   task and code path, without a retry.
 * - `bench.autoretry(i, fails)`: the same through the policy, `autoretryFor: [TransientError]` with
 *   `countdown: 0`, throwing a `TransientError`.
 * - `bench.timed(i, t)`: records `Date.now() - t`, where `t` is the task's eta (delayed tasks) or
 *   its publish time (the paced baseline without countdown).
 *
 * All three are `ignoreResult` like the throughput bench's `noop`; `BENCH_RETRY_RESULTS=1` stores
 * results instead (a `RETRY` and a `SUCCESS` record per task). Diagnostics: `BENCH_RETRY_NO_STACK=1`
 * builds the `Retry` with `Error.stackTraceLimit = 0` (what a stack-less retry signal would save).
 *
 * Steps beyond `ready`/`result`/`error`: a role prints `{"event":"<name>", ...}` lines (ignored by
 * bench/lib/child.ts, read by the orchestrator), and waits for the orchestrator's `SIGUSR2` between
 * phases, so the CPU snapshots bracket exactly the measured phase (warm-up and shutdown excluded).
 * @module
 */
import { type App, Retry, type Task, createApp } from '../../src/index.ts';

/** The transient error `bench.autoretry` throws (matched by `autoretryFor`). */
export class TransientError extends Error {
  override name = 'TransientError';
}

export interface RetryHooks {
  /** One execution of `bench.retry` / `bench.autoretry`: index, failures asked for, `ctx.retries` of this attempt. */
  onExec?: (i: number, fails: number, retries: number) => void;
  /** One execution of `bench.timed`. */
  onTimed?: (i: number, t: number) => void;
}

export interface RetryApp {
  app: App;
  retry: Task<[number, number], void>;
  autoretry: Task<[number, number], void>;
  timed: Task<[number, number], void>;
}

/** A `Retry` without countdown; without a stack trace when `noStack` (diagnostics). */
function retrySignal(noStack: boolean): Retry {
  if (!noStack) return new Retry({ countdownMs: 0 });
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new Retry({ countdownMs: 0 });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export function retryApp(name: string, broker: string, hooks: RetryHooks = {}, storeResults = false): RetryApp {
  const app = createApp({ name, broker });
  const ignoreResult = !storeResults;
  const noStack = process.env.BENCH_RETRY_NO_STACK === '1';
  const retry = app.task(
    'bench.retry',
    async (ctx, i: number, fails: number) => {
      hooks.onExec?.(i, fails, ctx.retries);
      if (ctx.retries < fails) throw retrySignal(noStack);
    },
    { ignoreResult, retry: { maxRetries: 3 } },
  );
  const autoretry = app.task(
    'bench.autoretry',
    async (ctx, i: number, fails: number) => {
      hooks.onExec?.(i, fails, ctx.retries);
      if (ctx.retries < fails) throw new TransientError('transient');
    },
    { ignoreResult, retry: { autoretryFor: [TransientError], countdown: 0, maxRetries: 3 } },
  );
  const timed = app.task(
    'bench.timed',
    async (_ctx, i: number, t: number) => {
      hooks.onTimed?.(i, t);
    },
    { ignoreResult },
  );
  return { app, retry, autoretry, timed };
}

/** Print a step line for the orchestrator. */
export function step(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

/**
 * Count `SIGUSR2`s from the orchestrator (installed at once, before any step is printed).
 * `signal(k)` resolves once the k-th has arrived (at once if it already has).
 */
export function parentSignals(): { signal(k: number): Promise<void> } {
  let count = 0;
  const waiters: Array<{ k: number; resolve: () => void }> = [];
  process.on('SIGUSR2', () => {
    count++;
    for (let j = waiters.length - 1; j >= 0; j--) {
      const w = waiters[j] as { k: number; resolve: () => void };
      if (count >= w.k) {
        waiters.splice(j, 1);
        w.resolve();
      }
    }
  });
  return {
    signal(k) {
      if (count >= k) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push({ k, resolve }));
    },
  };
}

