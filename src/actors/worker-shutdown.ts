/**
 * The warm drain of a worker node's shutdown: once intake has stopped, the tasks in flight may
 * finish within the grace period; then what still runs is aborted and handed back to the broker.
 * @module
 */
import { ClosedError } from '../errors.ts';
import type { Executor } from '../execution/executor.ts';
import type { Logger } from '../util/logger.ts';

/**
 * Wait up to `graceMs` for the executor's tasks in flight to finish; when the grace period is over,
 * abort their signals and hand the unfinished ones back (redelivered at once).
 */
export async function drainInFlight(executor: Executor, graceMs: number, logger: Logger): Promise<void> {
  logger.info('warm shutdown: waiting for tasks in flight', { active: executor.active, graceMs });
  const idle = await waitIdle(executor, graceMs);
  if (!idle) {
    logger.warn('grace period over: aborting and returning unfinished tasks to the queue', { active: executor.active });
    executor.abortAll(new ClosedError('worker shutting down'));
    await executor.returnAll();
  }
}

/** Resolves true once no task runs, false when `ms` passed first. */
async function waitIdle(executor: Executor, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (executor.active > 0) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
