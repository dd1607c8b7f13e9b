/**
 * `circuitBreaker()`: stop calling a failing dependency for a while. While a circuit is open its
 * tasks are deferred to the half-open time (not run, not failed, no retry counted), and a worker
 * stops fetching from a queue whose every task is behind an open circuit. State is per worker or
 * shared by the cluster (KV bucket `<app>-breakers`). See README.md.
 * @module celeriac/plugins/circuit-breaker
 */
import {
  type App,
  Defer,
  type Duration,
  type ExecuteInput,
  InvalidArgumentError,
  type Middleware,
  type StateScope,
  type StateStore,
  SPAN_EVENTS,
  type WorkerNode,
  addSpanEvent,
  createStateStore,
  isDefer,
  isIgnore,
  parseDuration,
  recordCircuitState,
} from '../../src/index.ts';

/** Circuit states. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** A circuit's serialisable state (what the cluster scope stores). */
export interface Circuit {
  state: CircuitState;
  /** Failures counted toward opening (consecutive, or within `windowMs`). */
  failures: number[];
  /** When it opened, epoch ms (0 = never). */
  openedAt: number;
  /** When it lets a trial call through, epoch ms. */
  halfOpenAt: number;
  /** Trial calls let through since it became half-open (and not yet reported back). */
  trials: number;
  /**
   * When the last trial call was let through, epoch ms. A trial that has not reported back within
   * `halfOpenAfter` is counted lost (its worker died) and another one is let through.
   */
  trialAt?: number;
}

/** A state change, for `onStateChange` and the log. */
export interface CircuitChange {
  key: string;
  from: CircuitState;
  to: CircuitState;
  /** When it changed, epoch ms (for an opening: when the failure that opened it was counted). */
  at: number;
  /** When an open circuit becomes half-open. */
  halfOpenAt?: number;
}

/** Options of {@link circuitBreaker}. */
export interface CircuitBreakerOptions {
  /** One circuit per key (e.g. per provider). @defaultValue the task name */
  key?: (input: ExecuteInput) => string;
  /** Guard only these tasks. @defaultValue every task the middleware sees */
  tasks?: readonly string[];
  /** Failures that open the circuit. @defaultValue 5 */
  failureThreshold?: number;
  /** Count failures within this window; without it, consecutive failures (a success resets the count). @defaultValue none */
  windowMs?: Duration;
  /** How long an open circuit stays open before a trial call. @defaultValue '300s' */
  halfOpenAfter?: Duration;
  /** Trial calls let through while half-open; one success closes the circuit, one failure reopens it. @defaultValue 1 */
  halfOpenMaxCalls?: number;
  /** Which errors count as failures. @defaultValue every error but `Defer` and `Ignore` */
  isFailure?: (err: unknown) => boolean;
  /** `'local'` (per worker) or `'cluster'` (KV bucket `<app>-breakers`, shared by all workers). @defaultValue 'local' */
  scope?: StateScope;
  /** Middleware name. @defaultValue 'circuit-breaker' */
  name?: string;
  /** Told of every state change this process makes. */
  onStateChange?: (change: CircuitChange) => void;
}

function ms(v: Duration | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  let n: number;
  try {
    n = parseDuration(v, `circuitBreaker({ ${what} })`);
  } catch (err) {
    throw new InvalidArgumentError(`circuitBreaker({ ${what} }) must be a duration like '30s', got ${JSON.stringify(v)}`, { cause: err });
  }
  if (!(n > 0)) throw new InvalidArgumentError(`circuitBreaker({ ${what} }) must be positive, got ${JSON.stringify(v)}`);
  return n;
}

/** The state before and after an update. */
type Transition = { from: CircuitState; c: Circuit };

const CLOSED: Circuit = Object.freeze({ state: 'closed', failures: [], openedAt: 0, halfOpenAt: 0, trials: 0 }) as Circuit;
/** A trial already runs: others wait this long before they look again. */
const HALF_OPEN_RECHECK_MS = 1000;

/**
 * The circuit breaker (the book's semantics by default: 5 failures open it for 300 s, then one trial
 * call; its success closes it).
 * @example
 * app.use(circuitBreaker({ tasks: ['payments.charge'], failureThreshold: 5, halfOpenAfter: '60s', scope: 'cluster' }));
 * @throws InvalidArgumentError for a bad option.
 */
export function circuitBreaker(options: CircuitBreakerOptions = {}): Middleware & {
  /** The circuit of `key` (the task name, or what the `key` option returns); closed when it has none. */
  state(key: string): Promise<Circuit>;
} {
  const threshold = options.failureThreshold ?? 5;
  if (!Number.isInteger(threshold) || threshold < 1) throw new InvalidArgumentError(`circuitBreaker({ failureThreshold }) must be a positive integer, got ${JSON.stringify(threshold)}`);
  const maxTrials = options.halfOpenMaxCalls ?? 1;
  if (!Number.isInteger(maxTrials) || maxTrials < 1) throw new InvalidArgumentError(`circuitBreaker({ halfOpenMaxCalls }) must be a positive integer, got ${JSON.stringify(maxTrials)}`);
  const windowMs = options.windowMs === undefined ? null : ms(options.windowMs, 0, 'windowMs');
  const openMs = ms(options.halfOpenAfter, 300_000, 'halfOpenAfter');
  const scope = options.scope ?? 'local';
  if (scope !== 'local' && scope !== 'cluster') throw new InvalidArgumentError(`circuitBreaker({ scope }) must be 'local' or 'cluster', got ${JSON.stringify(scope)}`);
  const name = options.name ?? 'circuit-breaker';
  const only = options.tasks ? new Set(options.tasks) : null;
  const keyOf = options.key ?? ((i: ExecuteInput) => i.task);
  const isFailure = options.isFailure ?? ((err: unknown) => !isDefer(err) && !isIgnore(err) && !(typeof err === 'object' && err !== null && ['E_DEFER', 'E_IGNORE'].includes((err as { code?: string }).code ?? '')));
  let app: App | undefined;
  let store: Promise<StateStore<Circuit>> | undefined;
  const nodes = new Set<WorkerNode>();
  let offChange: (() => void) | undefined;
  const openUntil = new Map<string, number>();

  const circuits = () => {
    if (!app) throw new InvalidArgumentError(`circuitBreaker "${name}" is not set up: add it with app.use() or a task's middleware option`);
    store ??= createStateStore<Circuit>(app, { scope, bucket: 'breakers' });
    return store;
  };

  const changed = (key: string, from: CircuitState, c: Circuit) => {
    if (from === c.state) return;
    // An opening is dated when it happened (halfOpenAt - at is then exactly halfOpenAfter).
    const change: CircuitChange = { key, from, to: c.state, at: c.state === 'open' ? c.openedAt : Date.now(), ...(c.state === 'open' ? { halfOpenAt: c.halfOpenAt } : {}) };
    try {
      options.onStateChange?.(change);
    } catch {
      /* an observer's bug is not the task's */
    }
    for (const n of nodes) {
      n.logger.warn(`circuit ${key}: ${from} -> ${c.state}`, c.state === 'open' ? { halfOpenAt: new Date(c.halfOpenAt).toISOString() } : {});
      n.emitEvent('circuit-changed', { key, from, to: c.state, ...(c.state === 'open' ? { halfOpenAt: c.halfOpenAt } : {}) });
    }
    recordCircuitState(key, c.state);
    // On the span of the execution that changed it.
    addSpanEvent(SPAN_EVENTS.circuit, { 'celeriac.circuit.key': key, 'celeriac.circuit.from': from, 'celeriac.circuit.to': c.state });
  };

  /**
   * With the default key (the task name), a queue whose every task has an open circuit is paused
   * until the first of them becomes half-open.
   */
  const repause = () => {
    if (options.key || !app) return;
    const now = Date.now();
    for (const node of nodes) {
      for (const queue of node.options.queues) {
        const names = app.taskNames().filter((t) => app?.getTask(t)?.options.queue === queue && (!only || only.has(t)));
        const guarded = app.taskNames().filter((t) => app?.getTask(t)?.options.queue === queue);
        if (names.length === 0 || names.length !== guarded.length) continue;
        const untils = names.map((t) => openUntil.get(t) ?? 0);
        if (untils.every((u) => u > now)) node.pauseQueue(queue, Math.min(...untils));
        else node.resumeQueue(queue);
      }
    }
  };

  const follow = (key: string, c: Circuit | undefined) => {
    if (c && c.state === 'open') openUntil.set(key, c.halfOpenAt);
    else openUntil.delete(key);
    repause();
  };

  return {
    name,
    setup(a) {
      app = a;
    },
    async start(node) {
      nodes.add(node);
      const s = await circuits();
      offChange ??= s.onChange(follow);
    },
    stop(node) {
      nodes.delete(node);
      if (nodes.size === 0) {
        offChange?.();
        offChange = undefined;
      }
    },
    async state(key) {
      return (await (await circuits()).get(key)) ?? CLOSED;
    },
    async execute(input, next) {
      if (only && !only.has(input.task)) return next(input);
      const key = keyOf(input);
      const s = await circuits();
      const now = Date.now();
      // Admission: closed lets it through; open defers it to the half-open time; half-open lets
      // up to halfOpenMaxCalls trials through.
      type Admission = { ok: true; trial: boolean; from: CircuitState; c: Circuit } | { ok: false; waitMs: number; from: CircuitState; c: Circuit };
      const admit = await s.update<Admission>(key, (cur) => {
        const c = cur ?? CLOSED;
        if (c.state === 'closed') return { next: undefined, result: { ok: true, trial: false, from: c.state, c } };
        if (c.state === 'open' && now < c.halfOpenAt) return { next: undefined, result: { ok: false, waitMs: c.halfOpenAt - now, from: c.state, c } };
        let base: Circuit = c.state === 'open' ? { ...c, state: 'half-open', trials: 0 } : c;
        // Trials that never reported back (a worker died mid-trial) stop counting after halfOpenAfter.
        if (base.trials >= maxTrials && now - (base.trialAt ?? 0) >= openMs) base = { ...base, trials: 0 };
        if (base.trials >= maxTrials) return { next: c.state === 'open' ? base : undefined, result: { ok: false, waitMs: HALF_OPEN_RECHECK_MS, from: c.state, c: base } };
        const n: Circuit = { ...base, trials: base.trials + 1, trialAt: now };
        return { next: n, result: { ok: true, trial: true, from: c.state, c: n } };
      });
      changed(key, admit.from, admit.c);
      if (!admit.ok) throw new Defer(admit.waitMs, `circuit ${key} is ${admit.c.state}`);
      try {
        const r = await next(input);
        if (admit.trial || (windowMs === null && admit.c.failures.length > 0)) {
          const out = await s.update<Transition>(key, (cur) => {
            const c = cur ?? CLOSED;
            if (c.state === 'half-open') return { next: { ...CLOSED }, result: { from: c.state, c: CLOSED } };
            if (c.state === 'closed' && windowMs === null && c.failures.length) return { next: { ...c, failures: [] }, result: { from: c.state, c } };
            return { next: undefined, result: { from: c.state, c } };
          });
          changed(key, out.from, out.c);
        }
        return r;
      } catch (err) {
        if (isFailure(err)) {
          const at = Date.now();
          const out = await s.update<Transition>(key, (cur) => {
            const c = cur ?? CLOSED;
            if (c.state === 'half-open' || (c.state === 'open' && admit.trial)) {
              const n: Circuit = { state: 'open', failures: [], openedAt: at, halfOpenAt: at + openMs, trials: 0 };
              return { next: n, result: { from: c.state, c: n } };
            }
            if (c.state === 'open') return { next: undefined, result: { from: c.state, c } };
            const failures = [...(windowMs === null ? c.failures : c.failures.filter((t) => t > at - windowMs)), at].slice(-threshold);
            const n: Circuit = failures.length >= threshold ? { state: 'open', failures: [], openedAt: at, halfOpenAt: at + openMs, trials: 0 } : { ...c, failures };
            return { next: n, result: { from: c.state, c: n } };
          });
          changed(key, out.from, out.c);
        } else if (admit.trial) {
          // An outcome that says nothing about the dependency (Defer, Ignore, an error isFailure
          // does not count): hand the trial back so another call can make it.
          await s.update<Transition>(key, (cur) => {
            const c = cur ?? CLOSED;
            if (c.state !== 'half-open' || c.trials === 0) return { next: undefined, result: { from: c.state, c } };
            const n: Circuit = { ...c, trials: c.trials - 1 };
            return { next: n, result: { from: c.state, c: n } };
          });
        }
        throw err;
      }
    },
  };
}
