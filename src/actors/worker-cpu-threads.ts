/**
 * A worker node's CPU threads: the supervised `cpu-pool` actor that runs `kind: 'cpu'` tasks (the
 * executor reaches it through {@link WorkerCpuThreads.require}, so a restarted pool is picked up), and
 * the quarantine threads where a task that crashed workers runs alone.
 * @module
 */
import { ClosedError } from '../errors.ts';
import { CpuPool } from '../execution/cpu-pool.ts';
import type { Logger } from '../util/logger.ts';
import type { ActorBehavior } from './kernel/index.ts';
import type { ResolvedWorkerOptions } from './worker-options.ts';

/** The node's CPU pool (while its actor runs) and its quarantine threads (once used). */
export class WorkerCpuThreads {
  readonly #options: ResolvedWorkerOptions;
  readonly #appName: string;
  readonly #logger: Logger;
  #cpuPool: CpuPool | undefined;
  #quarantine: Promise<CpuPool> | undefined;

  constructor(options: ResolvedWorkerOptions, appName: string, logger: Logger) {
    this.#options = options;
    this.#appName = appName;
    this.#logger = logger;
  }

  /** The CPU pool started last by the `cpu-pool` actor; undefined before. */
  get pool(): CpuPool | undefined {
    return this.#cpuPool;
  }

  /**
   * The `cpu-pool` actor: starts a pool of `options.cpuThreads` threads importing `options.tasksModule`
   * (again after a crash) and closes it when stopped.
   */
  actor(): () => ActorBehavior<never> {
    const { maxTasksPerThread, maxMemoryPerThreadMb } = this.#options;
    const poolOptions = {
      threads: this.#options.cpuThreads,
      lazy: this.#options.cpuStart === 'lazy',
      moduleUrl: this.#options.tasksModule,
      appName: this.#appName,
      logger: this.#logger,
      ...(maxTasksPerThread > 0 ? { maxTasksPerThread } : {}),
      ...(maxMemoryPerThreadMb > 0 ? { maxMemoryPerThreadMb } : {}),
    };
    return () => {
      let pool: CpuPool | undefined;
      return {
        start: async () => {
          pool = new CpuPool(poolOptions);
          await pool.start();
          this.#cpuPool = pool;
        },
        receive() {},
        stop: async () => {
          await pool?.close();
        },
      };
    };
  }

  /** The running CPU pool. @throws ClosedError while it is restarting. */
  require(): CpuPool {
    if (!this.#cpuPool) throw new ClosedError('the CPU pool is restarting');
    return this.#cpuPool;
  }

  /**
   * Two threads, started on first use, where a task that reached `maxCrashes` runs alone: if it
   * kills its thread (process.exit, out of memory within the thread's limit) the worker survives
   * and the task is dead-lettered; a bystander of other crashes simply completes.
   */
  quarantine(): Promise<CpuPool> {
    const moduleUrl = this.#options.tasksModule;
    if (!moduleUrl) return Promise.reject(new ClosedError('no tasksModule: no quarantine threads'));
    this.#quarantine ??= (async () => {
      const pool = new CpuPool({
        threads: 2,
        moduleUrl,
        appName: this.#appName,
        logger: this.#logger,
        resourceLimits: { maxOldGenerationSizeMb: 1024 },
      });
      this.#logger.warn('starting quarantine threads for tasks that were in flight on crashed workers', { threads: 2 });
      await pool.start();
      return pool;
    })().catch((err) => {
      this.#quarantine = undefined;
      throw err;
    });
    return this.#quarantine;
  }

  /** Close the quarantine threads, if they were started (errors are ignored). */
  async closeQuarantine(): Promise<void> {
    const q = this.#quarantine;
    this.#quarantine = undefined;
    if (q) await q.then((p) => p.close()).catch(() => undefined);
  }
}
