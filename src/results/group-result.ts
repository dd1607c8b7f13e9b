import { setMaxListeners } from 'node:events';
import { ClosedError, TimeoutError, isTaskError } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';
import type { AsyncResult, GetOptions, ResultHandle } from './async-result.ts';
import { type AnyTaskState, isTerminalState } from './states.ts';

/** How far a group or workflow is: tasks in a final state, of which failed (or revoked), of all. */
export interface WorkflowProgress {
  completed: number;
  failed: number;
  total: number;
  /** True once every task is final (or the workflow's final result is). */
  done: boolean;
}

const isFailed = (s: AnyTaskState): boolean => s === 'FAILURE' || s === 'REVOKED';

/**
 * The results of a group (or a chord's header): one handle per member, in order.
 * @example
 * const g = await group(add.s(1, 1), add.s(2, 2)).applyAsync();
 * await g.get();              // [2, 4]
 * await g.completedCount();   // 2
 */
export class GroupResult<T = unknown> implements ResultHandle<T[]> {
  /** The step before this group in a workflow, or null. */
  parent: ResultHandle | null = null;

  /** @internal created when a group or chord is applied. */
  constructor(
    /** Group id (the chord id for a chord's header). */
    readonly id: string,
    /** One handle per member, in group order. */
    readonly children: ReadonlyArray<ResultHandle<T>>,
  ) {}

  /**
   * Every member's value, in group order.
   * @throws TaskError for the first member that fails (the others keep running).
   * @throws TimeoutError after `timeout`.
   */
  async get(options: GetOptions = {}): Promise<T[]> {
    return Promise.all(this.children.map((c) => c.get(options)));
  }

  /** Members in a final state. */
  async completedCount(): Promise<number> {
    return (await Promise.all(this.children.map((c) => c.ready()))).filter(Boolean).length;
  }

  /** True when every member is final. */
  async ready(): Promise<boolean> {
    return (await this.completedCount()) === this.children.length;
  }

  /** True when every member succeeded. */
  async successful(): Promise<boolean> {
    const outcomes = await Promise.all(this.children.map((c) => outcome(c)));
    return outcomes.every((o) => o === 'ok');
  }

  /** True when a member failed (or was revoked). */
  async failed(): Promise<boolean> {
    const outcomes = await Promise.all(this.children.map((c) => outcome(c)));
    return outcomes.some((o) => o === 'failed');
  }

  /**
   * Progress after each member that finishes, until all have (the last one has `done: true`). A
   * member that fails (a `TaskError`) counts as completed and failed.
   *
   * `signal` ends the iteration when it aborts (as `AsyncResult.watch({ signal })`); `timeout`
   * bounds the whole watch. A `break` out of the loop, the abort and the timeout all stop the
   * waits on the members still running (the tasks themselves go on).
   * @throws TimeoutError when members are still running after `timeout`.
   * @throws ClosedError when the app is closed while members are still running; any other error
   * reading a member's result is thrown as it is.
   * @example
   * for await (const p of g.watch()) console.log(`${p.completed}/${p.total}`);
   */
  async *watch(options: GetOptions = {}): AsyncGenerator<WorkflowProgress, void, undefined> {
    const total = this.children.length;
    const { signal } = options;
    const timeoutMs = options.timeout === undefined ? undefined : parseDuration(options.timeout, 'watch({ timeout })');
    if (signal?.aborted) return;
    if (total === 0) {
      yield { completed: 0, failed: 0, total: 0, done: true };
      return;
    }
    // Member outcomes: true = succeeded, false = failed (TaskError), or an error to throw.
    const events: Array<boolean | { error: unknown }> = [];
    let wake: (() => void) | undefined;
    const stop = new AbortController();
    // Every member's wait listens on it: a group of hundreds is normal, not a leak.
    setMaxListeners(0, stop.signal);
    const onAbort = (): void => wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            wake?.();
          }, timeoutMs);
    for (const c of this.children) {
      c.get({ signal: stop.signal }).then(
        () => (events.push(true), wake?.()),
        (err: unknown) => (events.push(isTaskError(err) ? false : { error: err }), wake?.()),
      );
    }
    let completed = 0;
    let failed = 0;
    try {
      while (completed < total) {
        while (events.length === 0) {
          if (signal?.aborted) return;
          if (timedOut) {
            throw new TimeoutError(`group ${this.id}: ${total - completed} of ${total} members did not finish within the ${typeof options.timeout === 'string' ? options.timeout.trim() : `${timeoutMs} ms`} timeout given to watch()`);
          }
          await new Promise<void>((r) => (wake = r));
        }
        if (signal?.aborted) return;
        const e = events.shift() as boolean | { error: unknown };
        if (typeof e === 'object') throw e.error;
        completed++;
        if (!e) failed++;
        yield { completed, failed, total, done: completed === total };
      }
    } finally {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      stop.abort();
    }
  }

  /** JSON form: the id and the member ids. */
  toJSON(): { id: string; children: string[] } {
    return { id: this.id, children: this.children.map((c) => c.id) };
  }
}

async function outcome(c: ResultHandle): Promise<'ok' | 'failed' | 'pending'> {
  if (!(await c.ready())) return 'pending';
  try {
    await c.get();
    return 'ok';
  } catch {
    return 'failed';
  }
}

/**
 * The result of an applied chain or chord: `get()` waits for the whole workflow and gives the final
 * value (the last task's, the chord body's); `progress()` and `watch()` count every task in it.
 * @example
 * const r = await chain(add.s(2, 2), add.s(4), add.s(8)).applyAsync();
 * await r.get();        // 16
 * await r.progress();   // { completed: 3, failed: 0, total: 3, done: true }
 */
export class WorkflowResult<R = unknown> implements ResultHandle<R> {
  /** @internal created when a workflow is applied. */
  constructor(
    /** Handle of the final step (the last task, the chord body, a closing group). */
    readonly final: ResultHandle<R>,
    /** Every task of the workflow, in workflow order. */
    readonly tasks: ReadonlyArray<AsyncResult>,
  ) {}

  /** Id of the final step. */
  get id(): string {
    return this.final.id;
  }

  /** The step before the final one. */
  get parent(): ResultHandle | null {
    return this.final.parent;
  }

  /**
   * The final value, once the whole workflow finished.
   * @throws TaskError when a step failed: in a chain the later steps fail with the same error; a
   * chord whose header failed fails with a `ChordError` naming the member.
   */
  get(options?: GetOptions): Promise<R> {
    return this.final.get(options);
  }

  /** True once the final step is final. */
  ready(): Promise<boolean> {
    return this.final.ready();
  }

  /** Tasks of the workflow in a final state, failed, of all. */
  async progress(): Promise<WorkflowProgress> {
    const states = await Promise.all(this.tasks.map((t) => t.state()));
    return this.#count(states, await this.final.ready());
  }

  #count(states: readonly AnyTaskState[], finalReady: boolean): WorkflowProgress {
    const completed = states.filter(isTerminalState).length;
    const failed = states.filter(isFailed).length;
    return { completed, failed, total: states.length, done: finalReady || completed === states.length };
  }

  /**
   * Progress now, then after every task that reaches a final state, until the workflow is done.
   * @throws ClosedError when the app is closed before the workflow is done.
   * @example
   * for await (const p of r.watch()) console.log(`${p.completed}/${p.total}`);
   */
  async *watch(): AsyncGenerator<WorkflowProgress, void, undefined> {
    const states: AnyTaskState[] = this.tasks.map(() => 'PENDING');
    let changed = false;
    let wake: (() => void) | undefined;
    // The app's close ends the wait (no update would come).
    const closed = this.tasks[0]?.closedSignal;
    const onClose = (): void => wake?.();
    closed?.addEventListener('abort', onClose, { once: true });
    const offs = await Promise.all(
      this.tasks.map((t, i) =>
        t.onUpdate((r) => {
          if (isTerminalState(r.status) && !isTerminalState(states[i] as AnyTaskState)) {
            states[i] = r.status;
            changed = true;
            wake?.();
          }
        }),
      ),
    );
    try {
      const now = await Promise.all(this.tasks.map((t) => t.state()));
      now.forEach((s, i) => {
        if (isTerminalState(s)) states[i] = s;
      });
      let last = this.#count(states, await this.final.ready());
      yield last;
      while (!last.done) {
        while (!changed) {
          if (closed?.aborted) throw new ClosedError(`the app was closed while watching workflow ${this.id}; its tasks are not affected: watch it again from an open app`);
          await new Promise<void>((r) => (wake = r));
        }
        changed = false;
        let next = this.#count(states, false);
        if (next.completed === last.completed && next.failed === last.failed) continue;
        if (!next.done && (await this.final.ready())) {
          // The workflow finished before every task's update reached this watch (the final task's
          // own, typically): read the states still missing, so the last count is the whole one.
          const now = await Promise.all(this.tasks.map((t, i) => (isTerminalState(states[i] as AnyTaskState) ? states[i] : t.state())));
          now.forEach((s, i) => {
            if (s && isTerminalState(s)) states[i] = s;
          });
          next = { ...this.#count(states, true), done: true };
        }
        last = next;
        yield last;
      }
    } finally {
      closed?.removeEventListener('abort', onClose);
      for (const off of offs) off();
    }
  }

  /** JSON form: final id and every task id. */
  toJSON(): { id: string; tasks: string[] } {
    return { id: this.id, tasks: this.tasks.map((t) => t.id) };
  }
}
