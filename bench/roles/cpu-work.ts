/**
 * The real work of the W3 CPU bench and its raw baseline.
 *
 * `spin(iters, seed)` is a deterministic integer loop (FNV-1a-style xor and multiply): one dependent
 * chain, no allocation and no memory traffic, so its cost per iteration is the same in every thread
 * and V8 cannot skip it (the hash is returned). `calibrate()` finds the iteration count for a target
 * duration; `rawThreads()` runs the same function in plain `worker_threads` (no Celeriac, no Piscina,
 * no broker): the ideal a Celeriac worker is compared with.
 * @module
 */
import { Worker } from 'node:worker_threads';

/** The work: `iters` rounds of xor + 32-bit multiply, starting from `seed`. */
export function spin(iters: number, seed: number): number {
  let h = (seed ^ 0x811c9dc5) | 0;
  for (let k = 0; k < iters; k++) h = Math.imul(h ^ k, 0x01000193);
  return h >>> 0;
}

/** Iteration counts that take about `targetsMs` each on this thread (median of timed batches). */
export function calibrate(targetsMs: readonly number[]): Record<string, number> {
  const probe = 1_000_000;
  let sink = 0;
  // Warm the JIT first (well past tier-up), then time.
  for (let i = 0; i < 200; i++) sink ^= spin(probe, i);
  const nsPerIter: number[] = [];
  for (let b = 0; b < 15; b++) {
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) sink ^= spin(probe, i);
    nsPerIter.push(((performance.now() - t0) * 1e6) / (10 * probe));
  }
  nsPerIter.sort((a, b) => a - b);
  const ns = nsPerIter[nsPerIter.length >> 1] ?? 1;
  if (sink === 0.5) console.error(sink); // keeps `sink` observable
  return Object.fromEntries(targetsMs.map((ms) => [String(ms), Math.max(1, Math.round((ms * 1e6) / ns))]));
}

/** What one run of {@link rawThreads} measured. */
export interface RawThreadsResult {
  threads: number;
  iters: number;
  /** Tasks per second, summed over the threads (each over its own timed window). */
  tasksPerSec: number;
  /** Mean milliseconds per task, over all threads. */
  msPerTask: number;
  perThread: Array<{ tasks: number; ms: number }>;
}

/**
 * Run `spin(iters)` back to back in `threads` plain worker threads for about `durationMs`, all
 * starting together (a shared-memory barrier after a warm-up), and report the summed rate.
 */
export async function rawThreads(threads: number, iters: number, durationMs: number): Promise<RawThreadsResult> {
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const spin = ${spin.toString()};
    const { iters, durationMs, barrier, parties } = workerData;
    let acc = 0;
    const warmUntil = performance.now() + 150;
    for (let i = 0; performance.now() < warmUntil || i < 3; i++) acc ^= spin(iters, -1 - i);
    Atomics.add(barrier, 0, 1);
    Atomics.notify(barrier, 0);
    for (let s = Atomics.load(barrier, 0); s < parties; s = Atomics.load(barrier, 0)) Atomics.wait(barrier, 0, s, 50);
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < durationMs) { acc ^= spin(iters, n); n++; }
    parentPort.postMessage({ tasks: n, ms: performance.now() - t0, acc });
  `;
  const runs = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<{ tasks: number; ms: number }>((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: { iters, durationMs, barrier, parties: threads } });
          w.once('message', (m: { tasks: number; ms: number }) => {
            resolve({ tasks: m.tasks, ms: m.ms });
            void w.terminate();
          });
          w.once('error', reject);
        }),
    ),
  );
  const tasksPerSec = runs.reduce((s, r) => s + (r.tasks / r.ms) * 1000, 0);
  const tasks = runs.reduce((s, r) => s + r.tasks, 0);
  const ms = runs.reduce((s, r) => s + r.ms, 0);
  return { threads, iters, tasksPerSec, msPerTask: ms / tasks, perThread: runs.map((r) => ({ tasks: r.tasks, ms: Math.round(r.ms) })) };
}
