/**
 * `rateLimit()`: Celery's `rate_limit` as a middleware, per task and per key, local to a worker or
 * shared by the cluster. Excess tasks are deferred to their slot (never dropped or failed, holding
 * no worker slot while they wait). See README.md.
 * @module celeriac/plugins/rate-limit
 */
import {
  type App,
  Defer,
  type ExecuteInput,
  InvalidArgumentError,
  type KeyValueStore,
  type Middleware,
  RATE_LIMIT_KEY_PREFIX,
  type StateScope,
  type StateStore,
  createStateStore,
  parseRate,
} from '../../src/index.ts';

/** Options of {@link rateLimit}. */
export interface RateLimitOptions {
  /** `'100/s'`, `'10/m'`, `'1000/h'` (Celery's syntax). `celeriac control rate-limit <task> <rate>` overrides it per task at run time. */
  rate: string;
  /** Limit only these tasks. @defaultValue every task the middleware sees */
  tasks?: readonly string[];
  /** One limit per key, e.g. per tenant: `(input) => input.ctx.headers.tenant ?? 'none'`. @defaultValue the task name */
  key?: (input: ExecuteInput) => string;
  /**
   * `'local'`: a token bucket per worker (Celery's semantics: N workers run up to N × rate).
   * `'cluster'`: one schedule shared by every worker through the KV bucket `<app>-ratelimits`.
   * @defaultValue 'local'
   */
  scope?: StateScope;
  /** Calls that may run back to back above the rate (the bucket's capacity). @defaultValue 1 */
  burst?: number;
  /** Middleware name (and the namespace of its state). @defaultValue 'rate-limit' */
  name?: string;
}

/** Header of a deferred task that holds a reserved slot: `<limiter>|<key>|<slot epoch ms>`. */
export const SLOT_HEADER = 'celeriac-rate-slot';

/** A task that comes back this early before its slot still counts as on time. */
const EARLY_TOLERANCE_MS = 5;

interface Schedule {
  /** Theoretical arrival time of the next call (GCRA), epoch ms. */
  tat: number;
}

/**
 * The rate limiter. Every call takes the next free slot of its key's schedule (GCRA: one slot per
 * `1/rate`, up to `burst` at once); a call whose slot is in the future is deferred to it with the
 * slot reserved in a header, and runs then without taking another. In cluster scope the schedule
 * is updated with revision checks, so the cluster-wide rate holds over any window (plus one burst).
 * @example
 * app.use(rateLimit({ rate: '10/s', tasks: ['mail.send'], key: (i) => i.ctx.headers.tenant ?? '-', scope: 'cluster' }));
 * @throws InvalidArgumentError for a bad rate, burst or scope.
 */
export function rateLimit(options: RateLimitOptions): Middleware & {
  /** The rate in force for `task`, as `N/s` (the `rate` option, or a `control rate-limit` override). */
  rateOf(task: string): string;
} {
  const base = parseRate(options.rate, 'rateLimit({ rate })');
  const burst = options.burst ?? 1;
  if (!Number.isInteger(burst) || burst < 1) throw new InvalidArgumentError(`rateLimit({ burst }) must be a positive integer, got ${JSON.stringify(options.burst)}`);
  const scope = options.scope ?? 'local';
  if (scope !== 'local' && scope !== 'cluster') throw new InvalidArgumentError(`rateLimit({ scope }) must be 'local' or 'cluster', got ${JSON.stringify(scope)}`);
  const name = options.name ?? 'rate-limit';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new InvalidArgumentError(`rateLimit({ name }) must be 1-64 chars of [A-Za-z0-9_.-], got ${JSON.stringify(name)}`);
  const only = options.tasks ? new Set(options.tasks) : null;
  const keyOf = options.key ?? ((i: ExecuteInput) => i.task);
  const overrides = new Map<string, number>();
  let app: App | undefined;
  let store: Promise<StateStore<Schedule>> | undefined;
  let control: KeyValueStore | undefined;
  let stopControl: (() => void) | undefined;

  const perMsOf = (task: string) => overrides.get(task) ?? base.perMs;
  const schedule = () => {
    if (!app) throw new InvalidArgumentError(`rateLimit "${name}" is not set up: add it with app.use() or a task's middleware option`);
    store ??= createStateStore<Schedule>(app, { scope, bucket: 'ratelimits', ttl: '1d' });
    return store;
  };
  const applyOverride = (key: string, value: Uint8Array | null) => {
    if (!key.startsWith(RATE_LIMIT_KEY_PREFIX)) return;
    const task = key.slice(RATE_LIMIT_KEY_PREFIX.length);
    try {
      const rate = value && value.length ? (JSON.parse(new TextDecoder().decode(value)) as { rate: string | null }).rate : null;
      if (rate === null) overrides.delete(task);
      else overrides.set(task, parseRate(rate).perMs);
    } catch {
      /* a malformed override is ignored; the configured rate stays */
    }
  };

  return {
    name,
    setup(a) {
      app = a;
    },
    async start() {
      // Run-time changes (`celeriac control rate-limit`): read the current ones, then follow.
      if (!app || control) return;
      control = await app.keyValue('control');
      stopControl = control.watchAll((e) => applyOverride(e.key, e.operation === 'PUT' ? e.value : null));
      for (const e of await control.entries()) applyOverride(e.key, e.value);
    },
    stop() {
      stopControl?.();
      stopControl = undefined;
      control = undefined;
    },
    rateOf(task) {
      return `${Math.round(perMsOf(task) * 1000 * 1e6) / 1e6}/s`;
    },
    async execute(input, next) {
      if (only && !only.has(input.task)) return next(input);
      const key = `${name}|${keyOf(input)}`;
      const interval = 1 / perMsOf(input.task);
      const held = input.ctx.headers[SLOT_HEADER];
      if (held?.startsWith(`${key}|`)) {
        // It comes back with a reserved slot: run, wait a little more if it came early, or, if it
        // is later than one interval (a stalled broker or scheduler), give the slot up and take a
        // new one, so late tasks never bunch up with punctual ones.
        const slot = Number(held.slice(key.length + 1));
        const now = Date.now();
        if (Number.isFinite(slot) && slot > now + EARLY_TOLERANCE_MS) throw new Defer(slot - now, `rate limit ${key}: before its slot`, { [SLOT_HEADER]: held });
        if (!Number.isFinite(slot) || now <= slot + interval) return next(input);
      }
      const tolerance = interval * (burst - 1);
      const s = await schedule();
      const slot = await s.update(key, (cur) => {
        const tat = Math.max(cur?.tat ?? 0, Date.now());
        return { next: { tat: tat + interval }, result: tat - tolerance };
      });
      const now = Date.now();
      if (slot <= now + EARLY_TOLERANCE_MS && now <= slot + interval) return next(input);
      if (slot <= now) {
        // The reservation itself took longer than an interval (contention): try again.
        throw new Defer(0, `rate limit ${key}: reservation was late`);
      }
      throw new Defer(slot - now, `rate limit ${key}`, { [SLOT_HEADER]: `${key}|${Math.ceil(slot)}` });
    },
  };
}
