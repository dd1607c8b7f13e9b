/**
 * Small measurement helpers shared by the bench roles: a cross-process clock, percentiles, a cheap
 * bounded window of outstanding promises, and the one-JSON-line reporting protocol.
 * @module
 */

/** Milliseconds since the epoch with sub-millisecond resolution; comparable across processes on one host. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The `p`-th percentile (0–100) of `values` (nearest rank on a sorted copy); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

/** Median of `values`; NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = Float64Array.from(values).sort();
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** A rate in events per second, rounded to an integer. */
export function perSecond(count: number, ms: number): number {
  return ms > 0 ? Math.round((count / ms) * 1000) : 0;
}

/** Round to `digits` decimals (for latencies in the JSON report). */
export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * A bounded window of outstanding promises: `await room()` before adding, `await drain()` at the
 * end. O(1) per call (a `Promise.race` over a big set is O(window) and skews the numbers). The
 * first rejection is rethrown by the next `room()` or by `drain()`.
 */
export interface Window {
  add(p: Promise<unknown>): void;
  room(): Promise<void>;
  drain(): Promise<void>;
}

export function createWindow(max: number): Window {
  let inflight = 0;
  let waiter: (() => void) | undefined;
  let firstError: unknown;
  let failed = false;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  return {
    add(p) {
      inflight++;
      p.then(
        () => {
          inflight--;
          if (inflight < max) wake();
        },
        (err: unknown) => {
          if (!failed) {
            failed = true;
            firstError = err;
          }
          inflight--;
          wake();
        },
      );
    },
    async room() {
      if (failed) throw firstError;
      while (inflight >= max && !failed) await new Promise<void>((r) => (waiter = r));
      if (failed) throw firstError;
    },
    async drain() {
      while (inflight > 0) await new Promise<void>((r) => (waiter = r));
      if (failed) throw firstError;
    },
  };
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Child-process reporting: every role prints JSON lines on stdout. `{"event":"ready"}` when a
 * long-lived role (a worker) can take work, and exactly one `{"event":"result", ...}` or
 * `{"event":"error", ...}` before it exits.
 */
export function emit(event: 'ready' | 'result' | 'error', fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

/**
 * Run a role's main function with a hard deadline: print the result (or the error) and exit, so a
 * child never outlives its probe even when a connection keeps the event loop alive.
 */
export function runRole(name: string, deadlineMs: number, main: () => Promise<Record<string, unknown>>): void {
  const timer = setTimeout(() => {
    emit('error', { role: name, message: `deadline of ${deadlineMs} ms exceeded` });
    process.exit(3);
  }, deadlineMs);
  main().then(
    (fields) => {
      clearTimeout(timer);
      emit('result', { role: name, ...fields });
      process.exit(0);
    },
    (err: unknown) => {
      clearTimeout(timer);
      const e = err as Error;
      emit('error', { role: name, message: e?.message ?? String(err), name: e?.name, stack: e?.stack });
      process.exit(1);
    },
  );
}

/** Integer argv/env helper: `num(process.argv[3], 1000)`. */
export function num(v: string | undefined, fallback: number): number {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`expected a number, got ${JSON.stringify(v)}`);
  return n;
}

/** Which ids in 0..n-1 arrived, and how often: the exact-delivery check. */
export class DeliveryLedger {
  readonly #seen: Uint8Array;
  unique = 0;
  duplicates = 0;
  outOfRange = 0;
  constructor(readonly n: number) {
    this.#seen = new Uint8Array(n);
  }
  /** Record id `i`; returns true the first time it is seen. */
  mark(i: number): boolean {
    if (!Number.isInteger(i) || i < 0 || i >= this.n) {
      this.outOfRange++;
      return false;
    }
    if (this.#seen[i] === 1) {
      this.duplicates++;
      return false;
    }
    this.#seen[i] = 1;
    this.unique++;
    return true;
  }
  get missing(): number {
    return this.n - this.unique;
  }
}

/**
 * Closed-loop round trips: `lanes` loops each running `call(i)` until `n` calls are done (after an
 * untimed warm-up of `warmup` calls with negative i). `call` resolves with the value returned;
 * a value other than `i + 1` counts as wrong. Returns the report every round-trip probe prints.
 */
export async function roundTrip(
  probe: string,
  n: number,
  lanes: number,
  warmup: number,
  call: (i: number) => Promise<unknown>,
): Promise<Record<string, unknown>> {
  let wrong = 0;
  const runLanes = async (from: number, count: number, lat: number[] | null) => {
    let next = from;
    const end = from + count;
    const lane = async () => {
      while (next < end) {
        const i = next++;
        const s = epochMs();
        if ((await call(i)) !== i + 1) wrong++;
        lat?.push(epochMs() - s);
      }
    };
    await Promise.all(Array.from({ length: lanes }, lane));
  };
  await runLanes(-warmup, warmup, null);
  const lat: number[] = [];
  const t0 = epochMs();
  await runLanes(0, n, lat);
  const ms = epochMs() - t0;
  return {
    probe,
    n,
    in_flight: lanes,
    tasks_s: perSecond(n, ms),
    secs: ms / 1000,
    p50_ms: round(percentile(lat, 50)),
    p99_ms: round(percentile(lat, 99)),
    max_ms: round(percentile(lat, 100)),
    wrong_results: wrong,
  };
}

/** mulberry32: a small deterministic PRNG, uniform on [0, 1) (seeded workloads print their seed). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
