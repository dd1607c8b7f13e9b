import { ClosedError, InvalidArgumentError, TaskError, TimeoutError } from '../errors.ts';

/** Revokes task ids (the app's `control.revoke`). */
export type Revoker = (ids: readonly string[], options: { terminate?: boolean }) => Promise<void>;
import { type Duration, parseDuration } from '../util/duration.ts';
import type { ResultBackend } from './result-backend.ts';
import type { ResultRouter } from './result-router.ts';
import { type AnyTaskState, type ResultRecord, isTerminalState } from './states.ts';

/**
 * How long `get()` waits for a routed result before it watches the key itself (a longer task, or a
 * notification lost in a reconnect).
 */
const ROUTED_WAIT_MS = 1000;

/**
 * While `get()` waits on the watch it also reads the key again, first after this long, then at
 * doubling intervals up to {@link REREAD_MAX_MS}. A notification can be missed: in a cluster the
 * first read may be served by a replica that has not yet applied the final write (KV reads are not
 * read-your-writes), while that write's notification left before the watch's interest reached the
 * server that sent it. The re-read bounds such a miss; the watch still delivers every other result.
 */
const REREAD_FIRST_MS = 1000;
const REREAD_MAX_MS = 15_000;

/** Options of {@link AsyncResult.get}. */
export interface GetOptions {
  /** Give up after this long with TimeoutError. @defaultValue no timeout */
  timeout?: Duration;
  /** Stop waiting when this aborts. */
  signal?: AbortSignal;
}

/** Options of {@link AsyncResult.watch}. */
export interface WatchOptions {
  /** End the iteration (and release the watch) when this aborts. */
  signal?: AbortSignal;
}

/**
 * What every result handle offers: the task's {@link AsyncResult}, a group's or chord header's
 * {@link GroupResult}, a whole workflow's {@link WorkflowResult}.
 */
export interface ResultHandle<R = unknown> {
  /** Task id (group id for a group). */
  readonly id: string;
  /** The handle of the step before this one in a workflow, or null. */
  readonly parent: ResultHandle | null;
  /** Wait for the final value. */
  get(options?: GetOptions): Promise<R>;
  /** True once it reached a final state. */
  ready(): Promise<boolean>;
}

/** A handle on a task's outcome: state, progress and the final value. */
export class AsyncResult<R = unknown> implements ResultHandle<R> {
  /** The task id. */
  readonly id: string;
  /**
   * The step before this one when this handle came from applying a workflow (`chain(a, b)`: b's
   * parent is a; a chord body's parent is the header's GroupResult), else null.
   */
  parent: ResultHandle | null = null;
  readonly #backend: () => Promise<ResultBackend>;
  readonly #router: ResultRouter | undefined;
  readonly #revoke: Revoker | undefined;
  readonly #closed: AbortSignal | undefined;

  /**
   * @internal use `app.asyncResult(id)` or the value of `delay()`/`applyAsync()`. `closed` aborts
   * when the app closes: a `get()` or `watch()` still waiting then throws {@link ClosedError}.
   */
  constructor(id: string, backend: () => Promise<ResultBackend>, router?: ResultRouter, revoke?: Revoker, closed?: AbortSignal) {
    this.id = id;
    this.#backend = backend;
    this.#router = router;
    this.#revoke = revoke;
    this.#closed = closed;
  }

  /** @internal aborts when the app that made this handle closes (undefined for a handle made without an app). */
  get closedSignal(): AbortSignal | undefined {
    return this.#closed;
  }

  #closedError(): ClosedError {
    return new ClosedError(
      `the app was closed while waiting for the result of task ${this.id}; the task itself is not affected: read its result with app.asyncResult('${this.id}') from an open app, or wait before app.close()`,
    );
  }

  /**
   * Handles on the tasks this task started when it finished (the next step of its chain, its
   * `link` callbacks, a chord body it completed), from its stored record; empty until it finished.
   */
  async children(): Promise<AsyncResult[]> {
    // Made here, not per handle: every `delay()` makes a handle, few ask for children.
    return (await this.info()).children.map((c) => new AsyncResult(c, this.#backend, this.#router, this.#revoke, this.#closed));
  }

  /**
   * Call `listener` with every stored update of this task (state, progress) until the returned
   * function is called. Use {@link watch} to iterate instead.
   */
  async onUpdate(listener: (record: ResultRecord<R>) => void): Promise<() => void> {
    const backend = await this.#backend();
    return backend.watch(this.id, (r) => {
      if (!r) return;
      if (!r.resultRef) listener(r as ResultRecord<R>);
      else backend.resolve(r).then((full) => listener(full as ResultRecord<R>), () => listener(r as ResultRecord<R>));
    });
  }

  /**
   * Revoke the task (same as `app.control.revoke([id])`): a queued task is skipped by every worker
   * (state `REVOKED`), a running one sees `ctx.signal` abort with `TaskRevokedError`; with
   * `terminate`, a running CPU task's thread is terminated and an I/O task abandoned. A task that
   * already finished keeps its result.
   */
  async revoke(options: { terminate?: boolean } = {}): Promise<void> {
    if (!this.#revoke) throw new InvalidArgumentError('this AsyncResult was not created by an app; use app.control.revoke()');
    await this.#revoke([this.id], options);
  }

  /** The stored record, or a `PENDING` record when nothing is stored (unknown, queued or expired). */
  async info(): Promise<ResultRecord<R>> {
    const r = await (await this.#backend()).get(this.id);
    return r ? ((await this.#resolve(r)) as ResultRecord<R>) : pendingRecord<R>(this.id);
  }

  /**
   * Current state; `PENDING` when nothing is stored. A custom state the task set with
   * `ctx.updateState` (e.g. `'UPLOADING'`) is returned as it is.
   */
  async state(): Promise<AnyTaskState> {
    return (await this.info()).status;
  }

  /** True once the task is `SUCCESS`, `FAILURE` or `REVOKED`. */
  async ready(): Promise<boolean> {
    return isTerminalState(await this.state());
  }

  /**
   * Wait for the final value. Resolves through a watch on the result key; a re-read at growing
   * intervals (1 s, doubling up to 15 s) bounds a notification a cluster failed to deliver.
   * @throws TaskError when the task failed or was revoked (carrying the remote name, message, stack).
   * @throws TimeoutError after `timeout` (its message gives the timeout passed).
   * @throws ClosedError when the app is closed while it waits (or was closed before).
   */
  async get(options: GetOptions = {}): Promise<R> {
    let timeoutMs = options.timeout === undefined ? undefined : parseDuration(options.timeout, 'get({ timeout })');
    // Errors name the timeout as passed, not the time left of it.
    const given = typeof options.timeout === 'string' ? options.timeout.trim() : `${timeoutMs} ms`;
    const closed = this.#closed;
    if (closed?.aborted) throw this.#closedError();
    const router = this.#router;
    if (router) {
      // A task this client published with reply_to: its result is sent here once stored.
      const cached = router.take(this.id);
      if (cached) return unwrap<R>(await this.#resolve(cached));
      if (router.expects(this.id)) {
        const started = Date.now();
        const stop = closed && options.signal ? AbortSignal.any([closed, options.signal]) : (closed ?? options.signal);
        const routed = await router.wait(this.id, Math.min(ROUTED_WAIT_MS, timeoutMs ?? ROUTED_WAIT_MS), stop);
        if (routed) return unwrap<R>(await this.#resolve(routed));
        options.signal?.throwIfAborted();
        if (closed?.aborted) throw this.#closedError();
        if (timeoutMs !== undefined) timeoutMs = Math.max(0, timeoutMs - (Date.now() - started));
      }
    }
    const opening = Date.now();
    const backend = await (timeoutMs === undefined ? this.#backend() : this.#backendWithin(timeoutMs, given)).catch((err: unknown) => {
      // The app closed while the result store was opening: say so, not how the open failed.
      throw closed?.aborted ? this.#closedError() : err;
    });
    if (timeoutMs !== undefined) timeoutMs = Math.max(0, timeoutMs - (Date.now() - opening));
    const record = await new Promise<ResultRecord>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      let reread: NodeJS.Timeout | undefined;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        unwatch();
        if (timer) clearTimeout(timer);
        if (reread) clearTimeout(reread);
        options.signal?.removeEventListener('abort', onAbort);
        closed?.removeEventListener('abort', onClose);
        fn();
      };
      const onAbort = () => finish(() => reject(options.signal?.reason));
      const onClose = () => finish(() => reject(this.#closedError()));
      const unwatch = backend.watch(this.id, (r) => {
        if (r && isTerminalState(r.status)) finish(() => resolve(r));
      });
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => finish(() => reject(new TimeoutError(`task ${this.id} did not finish within the ${given} timeout given to get() (state still not final)`))),
          timeoutMs,
        );
      }
      if (options.signal) {
        if (options.signal.aborted) return onAbort();
        options.signal.addEventListener('abort', onAbort, { once: true });
      }
      if (closed) {
        if (closed.aborted) return onClose();
        closed.addEventListener('abort', onClose, { once: true });
      }
      const settled = (r: ResultRecord | null): boolean => {
        if (r && isTerminalState(r.status)) finish(() => resolve(r));
        return done;
      };
      let every = REREAD_FIRST_MS;
      const again = (): void => {
        reread = setTimeout(() => {
          // A failed re-read is asked again later; the first read's failure is the caller's.
          backend.get(this.id).then(
            (r) => settled(r) || again(),
            () => done || again(),
          );
        }, every);
        reread.unref();
        every = Math.min(every * 2, REREAD_MAX_MS);
      };
      // The watch is registered before this read, so a result stored in between is not missed.
      backend.get(this.id).then(
        (r) => settled(r) || again(),
        (err) => finish(() => reject(err)),
      );
    });
    return unwrap<R>(await backend.resolve(record));
  }

  /**
   * The result backend, or TimeoutError when opening it outlasts `ms` (the first use opens the
   * results bucket, which in a cluster waits for the bucket's leader).
   */
  async #backendWithin(ms: number, given: string): Promise<ResultBackend> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`task ${this.id}: the result store did not open within the ${given} timeout given to get()`)), ms);
    });
    try {
      return await Promise.race([this.#backend(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The record with a large value read back from the blob bucket (ADR 0012). */
  async #resolve(r: ResultRecord): Promise<ResultRecord> {
    return r.resultRef ? (await this.#backend()).resolve(r) : r;
  }

  /**
   * Every stored update (state and progress) until a final state, starting with the current one.
   * Ends after yielding the final record, or as soon as `signal` aborts (an HTTP client that went
   * away): a `break` out of `for await` only takes effect at the next update, while the abort
   * releases the watch at once, even for a task that never updates again.
   * @throws ClosedError when the app is closed before the final record came (the iteration would
   * otherwise never end).
   */
  async *watch(options: WatchOptions = {}): AsyncGenerator<ResultRecord<R>, void, undefined> {
    const { signal } = options;
    const closed = this.#closed;
    if (signal?.aborted) return;
    if (closed?.aborted) throw this.#closedError();
    const backend = await this.#backend().catch((err: unknown) => {
      throw closed?.aborted ? this.#closedError() : err;
    });
    const queue: ResultRecord[] = [];
    let wake: (() => void) | undefined;
    const unwatch = backend.watch(this.id, (r) => {
      if (!r) return;
      queue.push(r);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    closed?.addEventListener('abort', onAbort, { once: true });
    try {
      const first = await backend.get(this.id);
      if (signal?.aborted) return;
      let last = first ?? pendingRecord(this.id);
      yield (await this.#resolve(last)) as ResultRecord<R>;
      if (isTerminalState(last.status)) return;
      for (;;) {
        while (queue.length === 0) {
          if (signal?.aborted) return;
          if (closed?.aborted) throw this.#closedError();
          await new Promise<void>((r) => (wake = r));
        }
        if (signal?.aborted) return;
        const r = queue.shift() as ResultRecord;
        if (r.status === last.status && JSON.stringify(r.meta) === JSON.stringify(last.meta) && r.status !== 'PROGRESS') continue;
        last = r;
        yield (await this.#resolve(r)) as ResultRecord<R>;
        if (isTerminalState(r.status)) return;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      closed?.removeEventListener('abort', onAbort);
      unwatch();
    }
  }

  /** Delete the stored result (the state becomes `PENDING`). */
  async forget(): Promise<void> {
    await (await this.#backend()).forget(this.id);
  }

  /** JSON form: the id. */
  toJSON(): { id: string } {
    return { id: this.id };
  }
}

function pendingRecord<R>(id: string): ResultRecord<R> {
  return {
    status: 'PENDING',
    taskId: id,
    name: null,
    result: null,
    error: null,
    traceback: null,
    dateDone: null,
    meta: null,
    children: [],
    worker: null,
    attempts: 0,
  };
}

function unwrap<R>(r: ResultRecord): R {
  if (r.status === 'SUCCESS') return r.result as R;
  throw new TaskError(r.taskId, r.error ?? { name: r.status, message: `task ended in state ${r.status}` });
}
