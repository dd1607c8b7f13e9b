/**
 * `saga()`: ordered steps, each a task with an optional compensating task. Run on the cluster as
 * ordinary tasks, driven by small built-in tasks through `link`/`linkError`; the saga log lives in
 * the KV bucket `<app>-sagas`. On a step failure the completed steps are compensated in reverse
 * order. See README.md.
 * @module celeriac/plugins/saga
 */
import { randomUUID } from 'node:crypto';
import {
  type App,
  type Duration,
  InvalidArgumentError,
  type KeyValueStore,
  type Middleware,
  type SerializedError,
  type Task,
  Retry,
  TimeoutError,
  isRetry,
  isRevisionMismatchError,
  parseDuration,
} from '../../src/index.ts';

/** Where a saga is. `SUCCESS`, `COMPENSATED` and `FAILED` are final. */
export type SagaState = 'RUNNING' | 'COMPENSATING' | 'SUCCESS' | 'COMPENSATED' | 'FAILED';

/** Where a step is. */
export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'compensating' | 'compensated' | 'compensation-failed';

/** One step in the saga log. */
export interface StepLog {
  task: string;
  compensation: string | null;
  status: StepStatus;
  result?: unknown;
  error?: SerializedError;
  compensationError?: SerializedError;
}

/** The saga log (what `<app>-sagas` holds under the saga id). */
export interface SagaLog {
  saga: string;
  id: string;
  input: unknown;
  state: SagaState;
  steps: StepLog[];
  startedAt: string;
  endedAt?: string;
  /** The last step's result (`SUCCESS`). */
  result?: unknown;
}

/** How a saga ended. */
export interface SagaOutcome {
  id: string;
  state: 'SUCCESS' | 'COMPENSATED' | 'FAILED';
  result?: unknown;
  /** Every step with its status, result and error. */
  history: StepLog[];
}

const FINAL: ReadonlySet<SagaState> = new Set(['SUCCESS', 'COMPENSATED', 'FAILED']);
const MAX_ROUNDS = 100;
const enc = new TextEncoder();
const dec = new TextDecoder();

// Task handles of any signature are accepted: steps get the saga input, compensations the input
// and the step's result.
type AnyTask = Pick<Task<never[], unknown>, 'name'>;

/** A running or finished saga. */
export class SagaRun {
  constructor(
    /** Saga id (key of its log). */
    readonly id: string,
    private readonly log: () => Promise<KeyValueStore>,
  ) {}

  /** The saga log now (null when unknown or expired). */
  async info(): Promise<SagaLog | null> {
    const e = await (await this.log()).get(this.id);
    return e && e.operation === 'PUT' && e.value.length ? (JSON.parse(dec.decode(e.value)) as SagaLog) : null;
  }

  /** Its state now. */
  async state(): Promise<SagaState | null> {
    return (await this.info())?.state ?? null;
  }

  /**
   * Wait until the saga is final: `SUCCESS` (every step done), `COMPENSATED` (a step failed and the
   * completed ones were compensated) or `FAILED` (a compensation failed for good). Does not throw
   * for `COMPENSATED` or `FAILED`: they are outcomes, with the step history.
   * @throws TimeoutError after `timeout`.
   */
  async get(options: { timeout?: Duration } = {}): Promise<SagaOutcome> {
    const kv = await this.log();
    const timeoutMs = options.timeout === undefined ? undefined : parseDuration(options.timeout, 'SagaRun.get({ timeout })');
    return new Promise<SagaOutcome>((resolve, reject) => {
      let done = false;
      const finish = (l: SagaLog | null) => {
        if (done || !l || !FINAL.has(l.state)) return;
        done = true;
        off();
        clearTimeout(timer);
        resolve({ id: l.id, state: l.state as SagaOutcome['state'], ...(l.state === 'SUCCESS' ? { result: l.result } : {}), history: l.steps });
      };
      const off = kv.watchKey(this.id, (e) => {
        if (e.operation === 'PUT' && e.value.length) finish(JSON.parse(dec.decode(e.value)) as SagaLog);
      });
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              if (done) return;
              done = true;
              off();
              reject(new TimeoutError(`saga ${this.id} did not finish within ${timeoutMs} ms`));
            }, timeoutMs);
      this.info().then(finish, (err: unknown) => {
        if (done) return;
        done = true;
        off();
        clearTimeout(timer);
        reject(err);
      });
    });
  }
}

/** A saga definition: add it to the app with `app.use(saga)`, then `apply(input)`. */
export interface Saga extends Middleware {
  /** Add a step: `task` gets the saga input; `compensation` (optional) gets the input and the step's result. */
  step(task: AnyTask, compensation?: AnyTask): Saga;
  /**
   * Start a run: the log is written, then the first step is published.
   * @throws InvalidArgumentError when the saga has no steps or is not added to an app.
   */
  apply(input: unknown, options?: { id?: string }): Promise<SagaRun>;
  /** A handle on a run by id. */
  runOf(id: string): SagaRun;
}

/** Options of {@link saga}. */
export interface SagaOptions {
  /** Queue of the saga's driver tasks. @defaultValue the app's default queue */
  queue?: string;
  /**
   * A compensation that fails is retried this many times (1 s, doubling, at most 60 s apart) before
   * it fails for good (then it is dead-lettered and the saga ends `FAILED`).
   * @defaultValue 10
   */
  compensationRetries?: number;
}

/**
 * Define a saga.
 * @example
 * export const placeOrder = saga('order.place').step(reserveStock, releaseStock).step(chargeCard, refundCard).step(ship);
 * app.use(placeOrder);
 * const run = await placeOrder.apply({ order: 42 });
 * const { state, history } = await run.get({ timeout: '60s' }); // 'SUCCESS' | 'COMPENSATED' | 'FAILED'
 * @throws InvalidArgumentError for a bad name.
 */
export function saga(name: string, options: SagaOptions = {}): Saga {
  const compensationRetries = options.compensationRetries ?? 10;
  if (!Number.isInteger(compensationRetries) || compensationRetries < 0) throw new InvalidArgumentError(`saga options.compensationRetries must be a non-negative integer, got ${JSON.stringify(compensationRetries)}`);
  if (!/^[A-Za-z0-9_.:-]{1,150}$/.test(name)) throw new InvalidArgumentError(`saga(name): name must be 1-150 chars of [A-Za-z0-9_.:-], got ${JSON.stringify(name)}`);
  const steps: Array<{ task: string; compensation: string | null }> = [];
  let app: App | undefined;
  let store: Promise<KeyValueStore> | undefined;
  const t = {
    done: `saga.${name}.done`,
    failed: `saga.${name}.failed`,
    compensated: `saga.${name}.compensated`,
    compensationFailed: `saga.${name}.compensation-failed`,
  };
  const requireApp = (): App => {
    if (!app) throw new InvalidArgumentError(`saga "${name}" is not added to an app: app.use(saga)`);
    return app;
  };
  const kv = () => {
    store ??= requireApp().keyValue('sagas', { ttl: '7d' });
    return store;
  };

  /**
   * Change the log atomically; `fn` returns what to publish after the write, or null when the event
   * was recorded before (a redelivered driver: its worker may have died between the write and the
   * publish, so whatever is in flight is published again; fixed ids make that a duplicate).
   */
  async function update(id: string, fn: (l: SagaLog) => { next: SagaLog; then: Array<() => Promise<unknown>> } | null): Promise<void> {
    const store = await kv();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const e = await store.get(id);
      if (!e || e.operation !== 'PUT' || e.value.length === 0) throw new Error(`saga ${name} ${id}: its log is missing (expired?)`);
      const current = JSON.parse(dec.decode(e.value)) as SagaLog;
      const change = fn(structuredClone(current));
      if (!change) {
        await resume(current);
        return;
      }
      try {
        await store.put(id, enc.encode(JSON.stringify(change.next)), { expectRevision: e.revision });
      } catch (err) {
        if (isRevisionMismatchError(err)) continue;
        throw err;
      }
      for (const p of change.then) await p();
      return;
    }
    throw new Error(`saga ${name} ${id}: log not updated after ${MAX_ROUNDS} conflicting writes`);
  }

  /** Publish step `i` (its id is fixed: a second publish is a duplicate the broker drops). */
  const publishStep = (l: SagaLog, i: number) => () => {
    const a = requireApp();
    const s = l.steps[i] as StepLog;
    return a.signature(s.task, [l.input]).set({ taskId: `${l.id}.step${i}`, link: a.signature(t.done, [l.id, i]), linkError: a.signature(t.failed, [l.id, i]) }).applyAsync();
  };
  const publishCompensation = (l: SagaLog, j: number) => () => {
    const a = requireApp();
    const s = l.steps[j] as StepLog;
    return a
      .signature(s.compensation as string, [l.input, s.result])
      .set({ taskId: `${l.id}.undo${j}`, link: a.signature(t.compensated, [l.id, j]), linkError: a.signature(t.compensationFailed, [l.id, j]) })
      .applyAsync();
  };

  /** Publish again what the log says is in flight (a step running, or a compensation). */
  async function resume(l: SagaLog): Promise<void> {
    if (FINAL.has(l.state)) return;
    const running = l.steps.findIndex((s) => s.status === 'running');
    if (running >= 0 && l.state === 'RUNNING') await publishStep(l, running)();
    const undoing = l.steps.findIndex((s) => s.status === 'compensating');
    if (undoing >= 0) await publishCompensation(l, undoing)();
  }

  /** Compensate the highest completed step below `from`, or finish. */
  function compensateBelow(l: SagaLog, from: number): { next: SagaLog; then: Array<() => Promise<unknown>> } {
    for (let j = from - 1; j >= 0; j--) {
      const s = l.steps[j] as StepLog;
      if (s.status !== 'done') continue;
      if (s.compensation === null) {
        s.status = 'compensated';
        continue;
      }
      s.status = 'compensating';
      return { next: l, then: [publishCompensation(l, j)] };
    }
    l.state = l.steps.some((s) => s.status === 'compensation-failed') ? 'FAILED' : 'COMPENSATED';
    l.endedAt = new Date().toISOString();
    return { next: l, then: [] };
  }

  const api: Saga = {
    name: `saga:${name}`,
    async execute(input, next) {
      // Compensations of this saga's runs are retried until they succeed or run out of retries.
      if (!/\.undo\d+$/.test(input.ctx.id) || !steps.some((s) => s.compensation === input.task)) return next(input);
      try {
        return await next(input);
      } catch (err) {
        if (input.ctx.retries >= compensationRetries || isRetry(err)) throw err;
        throw new Retry({ countdownMs: Math.min(60_000, 1000 * 2 ** input.ctx.retries), error: err });
      }
    },
    setup(a) {
      app = a;
      const q = options.queue ? { queue: options.queue } : {};
      // The drivers: each moves the log one step and publishes what comes next.
      a.task(
        t.done,
        async (_ctx, result: unknown, id: string, i: number) => {
          await update(id, (l) => {
            const s = l.steps[i] as StepLog;
            if (s.status !== 'running' || l.state !== 'RUNNING') return null; // recorded before
            s.status = 'done';
            s.result = result;
            if (i + 1 < l.steps.length) {
              (l.steps[i + 1] as StepLog).status = 'running';
              return { next: l, then: [publishStep(l, i + 1)] };
            }
            l.state = 'SUCCESS';
            l.result = result;
            l.endedAt = new Date().toISOString();
            return { next: l, then: [] };
          });
        },
        q,
      );
      a.task(
        t.failed,
        async (_ctx, _taskId: string, error: SerializedError, id: string, i: number) => {
          await update(id, (l) => {
            const s = l.steps[i] as StepLog;
            if (s.status !== 'running' || l.state !== 'RUNNING') return null;
            s.status = 'failed';
            s.error = error;
            l.state = 'COMPENSATING';
            return compensateBelow(l, i);
          });
        },
        q,
      );
      a.task(
        t.compensated,
        async (_ctx, _result: unknown, id: string, j: number) => {
          await update(id, (l) => {
            const s = l.steps[j] as StepLog;
            if (s.status !== 'compensating') return null;
            s.status = 'compensated';
            return compensateBelow(l, j);
          });
        },
        q,
      );
      a.task(
        t.compensationFailed,
        async (_ctx, _taskId: string, error: SerializedError, id: string, j: number) => {
          await update(id, (l) => {
            const s = l.steps[j] as StepLog;
            if (s.status !== 'compensating') return null;
            // Retried by its own policy and dead-lettered: the saga goes on undoing the rest, and ends FAILED.
            s.status = 'compensation-failed';
            s.compensationError = error;
            return compensateBelow(l, j);
          });
        },
        q,
      );
    },
    step(task, compensation) {
      if (!task || typeof task.name !== 'string') throw new InvalidArgumentError(`saga "${name}".step(task): task must be a task handle`);
      if (compensation !== undefined && typeof compensation.name !== 'string') throw new InvalidArgumentError(`saga "${name}".step(task, compensation): compensation must be a task handle`);
      steps.push({ task: task.name, compensation: compensation?.name ?? null });
      return api;
    },
    async apply(input, opts = {}) {
      if (steps.length === 0) throw new InvalidArgumentError(`saga "${name}" has no steps`);
      requireApp();
      const id = opts.id ?? randomUUID();
      const l: SagaLog = {
        saga: name,
        id,
        input,
        state: 'RUNNING',
        steps: steps.map((s, i) => ({ ...s, status: i === 0 ? 'running' : 'pending' })),
        startedAt: new Date().toISOString(),
      };
      const store = await kv();
      try {
        await store.put(id, enc.encode(JSON.stringify(l)), { expectRevision: 0 });
      } catch (err) {
        if (!isRevisionMismatchError(err)) throw err;
        throw new InvalidArgumentError(`saga ${name}: a run with id ${JSON.stringify(id)} exists already`);
      }
      await publishStep(l, 0)();
      return new SagaRun(id, kv);
    },
    runOf(id) {
      return new SagaRun(id, kv);
    },
  };
  return api;
}
