/** Shared helpers for the actor kernel tests (not a test file itself). */
import type { SupervisorEvent } from '../../../src/actors/kernel/index.ts';

/** Let every pending microtask and I/O callback run once. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Track whether a promise has settled, without awaiting it. */
export function track<T>(p: Promise<T>): { readonly settled: boolean; readonly promise: Promise<T> } {
  let settled = false;
  const promise = p.then(
    (v) => {
      settled = true;
      return v;
    },
    (e: unknown) => {
      settled = true;
      throw e;
    },
  );
  promise.catch(() => {});
  return {
    get settled() {
      return settled;
    },
    promise,
  };
}

/** Records supervisor events and lets a test await the n-th event matching a predicate. */
export class EventLog {
  readonly events: SupervisorEvent[] = [];
  /** `performance.now()` at which each event of {@link EventLog.events} arrived. */
  readonly times: number[] = [];
  readonly #waiters: { pred: (e: SupervisorEvent) => boolean; n: number; resolve: (e: SupervisorEvent) => void }[] = [];

  /** Pass as `options.onEvent`. */
  readonly onEvent = (e: SupervisorEvent): void => {
    this.events.push(e);
    this.times.push(performance.now());
    for (const w of [...this.#waiters]) {
      const hit = this.#nth(w.pred, w.n);
      if (hit) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(hit);
      }
    }
  };

  /** Events of one type. */
  of<T extends SupervisorEvent['type']>(type: T, child?: string): Extract<SupervisorEvent, { type: T }>[] {
    return this.events.filter(
      (e): e is Extract<SupervisorEvent, { type: T }> => e.type === type && (child === undefined || e.child === child),
    );
  }

  /** Resolve with the n-th (1-based) event of `type` for `child`, past or future. */
  until<T extends SupervisorEvent['type']>(type: T, child: string, n = 1): Promise<Extract<SupervisorEvent, { type: T }>> {
    const pred = (e: SupervisorEvent): boolean => e.type === type && e.child === child;
    const hit = this.#nth(pred, n);
    if (hit) return Promise.resolve(hit as Extract<SupervisorEvent, { type: T }>);
    return new Promise((resolve) => {
      this.#waiters.push({ pred, n, resolve: resolve as (e: SupervisorEvent) => void });
    });
  }

  /** Arrival time of an event recorded by this log. */
  timeOf(e: SupervisorEvent): number {
    const t = this.times[this.events.indexOf(e)];
    if (t === undefined) throw new Error('event not recorded');
    return t;
  }

  #nth(pred: (e: SupervisorEvent) => boolean, n: number): SupervisorEvent | undefined {
    let seen = 0;
    for (const e of this.events) if (pred(e) && ++seen === n) return e;
    return undefined;
  }
}
