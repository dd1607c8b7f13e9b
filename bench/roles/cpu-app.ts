/**
 * The tasks module of the W3 CPU bench: one `kind: 'cpu'` task, `cpu.work(i, iters)`, that runs
 * `spin(iters)` in a thread of the worker's CPU pool (`ignoreResult: true`: the bench measures
 * execution, not result writes).
 *
 * The worker's pool threads import this module by file URL (`tasksModule`), so the app must be
 * created at import time under the same name in every thread: the name and broker come from the
 * environment the bench gives the role process (`BENCH_CPU_APP`, `BENCH_CPU_BROKER`), which worker
 * threads inherit. Threads never connect (the app is lazy).
 *
 * Each finished task posts `[i, threadId, epochMs]` on a `BroadcastChannel`, which reaches the
 * worker's main thread: the exact-delivery ledger, the completion clock and the proof that the task
 * ran in a pool thread (threadId > 0) without touching Celeriac's own path.
 * @module
 */
import { BroadcastChannel, threadId } from 'node:worker_threads';
import { createApp } from '../../src/index.ts';
import { epochMs } from '../lib/measure.ts';
import { spin } from './cpu-work.ts';

/** Name of the channel the threads report finished tasks on. */
export const DONE_CHANNEL = 'celeriac-bench-cpu-done';

/** `[i, threadId, epochMs]` of a finished task. */
export type DoneMessage = [number, number, number];

export const app = createApp({ name: process.env.BENCH_CPU_APP ?? 'bench-cpu', broker: process.env.BENCH_CPU_BROKER ?? '' });

let done: BroadcastChannel | undefined;

export const work = app.task(
  'cpu.work',
  (_ctx, i: number, iters: number) => {
    const h = spin(iters, i);
    if (!done) {
      done = new BroadcastChannel(DONE_CHANNEL);
      // Node's BroadcastChannel has unref() (not in @types/node 20): it must not keep a thread alive.
      (done as unknown as { unref?: () => void }).unref?.();
    }
    done.postMessage([i, threadId, epochMs()] satisfies DoneMessage);
    return h;
  },
  { kind: 'cpu', ignoreResult: true },
);

/** File URL of this module, for `app.worker({ tasksModule })`. */
export const TASKS_MODULE = new URL(import.meta.url).href;
